import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { discardByZeroing, ForwardingStore } from '../src/core/store';
import { CACHE_MODES, type CacheMode } from '../src/core/types';
import { MemoryStore } from '../src/stores/memory-store';
import { stackStores } from '../src/stores/stack';
import { checkDurability, type LogEntry, RequestLog } from '../src/testing/oracle';
import { patternBytes, prng } from '../src/testing/pattern';
import { newBackingOf, OVERLAY_KINDS, STORE_KINDS, type StoreKind, stacked } from './helpers';

const DISK = 256 * 1024;

interface Outcome {
  intact: number;
  lost: number;
  violations: number;
  details: string[];
}

/** One random workload on a power-loss store, a crash after `crashAfter` turns, reopen, check. */
async function crashRound(
  kind: StoreKind,
  mode: CacheMode,
  seed: number,
  deviceCache: number,
  crashAfter: number,
  bypassBytes = 16 * 1024,
  batched = false,
): Promise<Outcome> {
  const backing = newBackingOf(kind, DISK);
  const hardware = await backing.open();
  // Switched off both above the simulator (the device stops) and below it
  // (an in-progress destage stops): as terminating the worker does.
  const power = { off: false };
  const { data, meta } = await stackStores(hardware, {
    crashModel: 'power',
    deviceCacheSize: deviceCache,
    power,
    size: DISK,
    base: backing.base,
  });
  const d = await BlockDevice.open({ data, meta, size: DISK, cache: mode, cacheSize: 32 * 1024, bypassBytes });
  const log = new RequestLog(mode);
  const rnd = prng(seed);
  const pick = (n: number) => Math.floor(rnd() * n);
  const inflight: Promise<unknown>[] = [];
  // `batched`: answers come as the batched-messages transport gives them,
  // a batch of requests issued together at once, when all of it has
  // settled — so a later batch's answers may come first; one not sent
  // before the plug was pulled never comes.
  let batch: { e: LogEntry; p: Promise<unknown> }[] = [];
  const answerBatch = () => {
    const b = batch;
    batch = [];
    inflight.push(
      Promise.allSettled(b.map((x) => x.p)).then((settled) => {
        if (power.off) return;
        for (const [k, r] of settled.entries()) if (r.status === 'fulfilled') log.ack(b[k].e);
      }),
    );
  };
  for (let i = 0; i < 120; i++) {
    const r = rnd();
    let e: ReturnType<RequestLog['flush']>;
    let p: Promise<unknown>;
    if (r < 0.7) {
      const length = [512, 4096, 1 + pick(20_000), 65536][pick(4)];
      const offset = Math.min(DISK - length, rnd() < 0.5 ? pick(DISK / 512) * 512 : pick(DISK));
      const s = pick(2 ** 31);
      const fua = rnd() < 0.1;
      e = log.write(offset, length, s, fua);
      p = d.write(offset, patternBytes(length, s), { fua });
    } else if (r < 0.75) {
      const offset = pick(DISK - 8192);
      e = log.discard(offset, 1 + pick(8192));
      p = d.discard(offset, e.kind === 'discard' ? e.length : 0);
    } else if (r < 0.95) {
      e = log.flush();
      p = d.flush();
    } else {
      const m = CACHE_MODES[pick(5)];
      e = log.setMode(m);
      p = d.setCacheMode(m);
    }
    if (batched) batch.push({ e, p });
    else inflight.push(p.then(() => log.ack(e)).catch(() => undefined));
    if (rnd() < 0.2) {
      if (batched) answerBatch();
      await Promise.resolve();
    }
  }
  if (batched) answerBatch();
  // Mostly microtask turns; now and then a task, so stores that commit later (IndexedDB) get to.
  for (let t = 0; t < crashAfter; t++) {
    if (t % 50 === 49) await new Promise((r) => setTimeout(r, 0));
    else await Promise.resolve();
  }
  power.off = true;
  await Promise.allSettled(inflight);
  const after = await BlockDevice.open({
    ...(await stacked(hardware, undefined, backing.base)),
    cache: 'writethrough',
  });
  expect(after.uncleanShutdown).toBe(true);
  const actual = await after.read(0, DISK);
  const report = checkDurability({ entries: log.entries, initialMode: log.initialMode, actual, base: backing.initial });
  return { ...report, details: report.details.map((v) => `${v.offset}+${v.length}: ${v.reason}`) };
}

describe('power-loss simulator and the oracle', () => {
  it('the oracle flags missing guaranteed writes and bytes never written', () => {
    const log = new RequestLog('writethrough');
    const w = log.write(4096, 4096, 7);
    log.ack(w);
    const good = new Uint8Array(16384);
    good.set(patternBytes(4096, 7), 4096);
    expect(checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: good }).violations).toBe(0);
    expect(checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: good }).intact).toBe(1);
    // The guaranteed write is missing (old zeros): violation.
    expect(
      checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: new Uint8Array(16384) }).violations,
    ).toBe(1);
    // Garbage in an untouched block: violation.
    const garbage = good.slice();
    garbage[10] = 1;
    expect(checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: garbage }).violations).toBe(1);
    // One torn byte inside the write: violation.
    const torn = good.slice();
    torn[5000] ^= 0xff;
    expect(checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: torn }).violations).toBe(1);
  });

  it('the oracle allows losing unflushed writeback writes, not flushed or FUA ones', () => {
    const log = new RequestLog('writeback');
    const a = log.write(0, 4096, 1);
    log.ack(a);
    const f = log.flush();
    log.ack(f);
    const b = log.write(4096, 4096, 2);
    log.ack(b);
    const c = log.write(8192, 4096, 3, true);
    log.ack(c);
    const actual = new Uint8Array(12288);
    actual.set(patternBytes(4096, 1), 0);
    actual.set(patternBytes(4096, 3), 8192);
    const r = checkDurability({ entries: log.entries, initialMode: log.initialMode, actual });
    expect([r.intact, r.lost, r.violations]).toEqual([2, 1, 0]);
    // Losing the flushed one is a violation; so is losing the FUA one.
    expect(
      checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: actual.slice().fill(0, 0, 4096) })
        .violations,
    ).toBe(1);
    expect(
      checkDurability({ entries: log.entries, initialMode: log.initialMode, actual: actual.slice().fill(0, 8192) })
        .violations,
    ).toBe(1);
    // In unsafe, nothing is guaranteed: losing everything is allowed.
    const u = new RequestLog('unsafe');
    const x = u.write(0, 4096, 1);
    u.ack(x);
    u.ack(u.flush());
    const ru = checkDurability({ entries: u.entries, initialMode: 'unsafe', actual: new Uint8Array(4096) });
    expect([ru.lost, ru.violations]).toEqual([1, 0]);
  });

  it('a switch unanswered at the crash may have taken effect: a later acknowledged write is judged in every mode it may have met', () => {
    // Answers come out of issue order (group commit, batched answers): the
    // write after the switch was answered, the switch was not.
    const judge = (from: CacheMode, to: CacheMode, fua = false) => {
      const log = new RequestLog(from);
      log.setMode(to);
      log.ack(log.write(0, 4096, 1, fua));
      return checkDurability({ entries: log.entries, initialMode: from, actual: new Uint8Array(4096) });
    };
    // Lost: the switch to unsafe (or writeback) may have happened.
    expect([judge('directsync', 'unsafe').lost, judge('directsync', 'unsafe').violations]).toEqual([1, 0]);
    expect(judge('writethrough', 'writeback').violations).toBe(0);
    // Durable whichever mode it met: a violation.
    expect(judge('directsync', 'writethrough').violations).toBe(1);
    expect(judge('writeback', 'none', true).violations).toBe(1);
    const report = judge('directsync', 'writethrough');
    expect(report.details[0].reason).toContain('in directsync or writethrough');
    // Answered, the switch took effect: only its mode counts.
    const log = new RequestLog('unsafe');
    log.ack(log.setMode('directsync'));
    log.ack(log.write(0, 4096, 1));
    expect(
      checkDurability({ entries: log.entries, initialMode: 'unsafe', actual: new Uint8Array(4096) }).violations,
    ).toBe(1);
    // A flush that may have met unsafe guarantees nothing; one that met none or writeback does.
    const flushed = (to: CacheMode) => {
      const f = new RequestLog('writeback');
      f.ack(f.write(0, 4096, 1));
      f.setMode(to);
      f.ack(f.flush());
      return checkDurability({ entries: f.entries, initialMode: 'writeback', actual: new Uint8Array(4096) });
    };
    expect(flushed('unsafe').violations).toBe(0);
    expect(flushed('none').violations).toBe(1);
  });

  it.each([...STORE_KINDS, ...OVERLAY_KINDS])(
    'random workloads on the %s store, crashes anywhere: 0 violations in every mode, and the modes differ',
    async (kind) => {
      const lostBy: Record<string, number> = {};
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...CACHE_MODES),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          fc.constantFrom(16 * 1024, 64 * 1024, 1024 * 1024),
          fc.integer({ min: 0, max: 400 }),
          fc.constantFrom(8 * 1024, 1 << 20),
          fc.boolean(),
          async (mode, seed, deviceCache, crashAfter, bypass, batched) => {
            const o = await crashRound(kind, mode, seed, deviceCache, crashAfter, bypass, batched);
            if (o.violations > 0) {
              throw new Error(
                `${o.violations} violations in ${mode} (seed ${seed}): ${o.details.slice(0, 3).join('; ')}`,
              );
            }
            lostBy[mode] = (lostBy[mode] ?? 0) + o.lost;
          },
        ),
        { numRuns: Number(process.env.FC_RUNS ?? 150) },
      );
      // Unsafe and writeback really lose unflushed data under the power model.
      expect(lostBy.unsafe ?? 0).toBeGreaterThan(0);
      expect(lostBy.writeback ?? 0).toBeGreaterThan(0);
    },
  );

  it.each([...STORE_KINDS, ...OVERLAY_KINDS])(
    'writethrough and directsync never lose an acknowledged write (%s store)',
    async (kind) => {
      for (const mode of ['writethrough', 'directsync'] as const) {
        for (let seed = 1; seed <= 10; seed++) {
          const o = await crashRound(kind, mode, seed, 16 * 1024, seed * 37);
          expect(o.violations).toBe(0);
        }
      }
    },
  );
});

describe('a crash inside one request', () => {
  it('a discard cut between its zero-fill chunks leaves whole blocks old or zeroed, never a torn block', async () => {
    const SIZE = 4 * 1024 * 1024;
    for (const offset of [1000, 4096, 777_777]) {
      for (let survive = 1; survive <= 2; survive++) {
        const hardware = new MemoryStore();
        // The power fails after `survive` more store writes.
        let writesLeft = Number.POSITIVE_INFINITY;
        // A raw store that can only write zeros for a discard (as a raw file inside its end).
        const data = new (class extends ForwardingStore {
          override write(o: number, s: Uint8Array) {
            if (writesLeft-- <= 0) throw new Error('power is off');
            return super.write(o, s);
          }
          override discard(o: number, n: number) {
            return discardByZeroing(this, o, n);
          }
        })(hardware);
        const d = await BlockDevice.open({ data, meta: new MemoryStore(), size: SIZE, cache: 'directsync' });
        const log = new RequestLog('directsync');
        const w = log.write(0, SIZE, 5);
        await d.write(0, patternBytes(SIZE, 5));
        log.ack(w);
        log.discard(offset, 2.5 * 1024 * 1024);
        writesLeft = survive;
        await d.discard(offset, 2.5 * 1024 * 1024).catch(() => undefined);
        const actual = new Uint8Array(SIZE);
        hardware.read(0, actual);
        const r = checkDurability({ entries: log.entries, initialMode: 'directsync', actual });
        expect(r.details, `discard at ${offset}, ${survive} chunk(s) written`).toEqual([]);
      }
    }
  });
});
