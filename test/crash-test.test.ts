import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { CACHE_MODES } from '../src/core/types';
import { MemoryStore } from '../src/stores/memory-store';
import { stackStores } from '../src/stores/stack';
import {
  type CrashTestDisk,
  expectedImage,
  randomCrashPoint,
  runCrashTest,
  verifyDisk,
  withSwitchFlushes,
} from '../src/testing/crash-test';
import { RequestLog } from '../src/testing/oracle';
import { newBackingOf, STORE_KINDS, sameBytes, stacked, unplugged } from './helpers';

const SIZE = 2 * 1024 * 1024;

describe('crash workload', () => {
  it('the requests are a function of the seed alone', async () => {
    const shape = async (inFlight: number) => {
      const d = await BlockDevice.open({ data: new MemoryStore(), meta: new MemoryStore(), size: SIZE });
      const r = await runCrashTest(d, { seed: 42, size: SIZE, initialMode: 'writeback', requests: 80, inFlight });
      return r.log.entries.map((e) => ({ ...e, issuedAt: 0, ackedAt: 0 }));
    };
    const a = await shape(1);
    expect(a.length).toBe(80);
    expect(await shape(32)).toEqual(a);
    const kinds = new Set(a.map((e) => e.kind));
    expect(kinds.has('write')).toBe(true);
  });

  it('lent memory: writes that fit go from stretches of it, never two in flight over one byte; the image is the same', async () => {
    const lent = new Uint8Array(new SharedArrayBuffer(3 << 20), 1000, 2 << 20); // a view, not at its buffer's start
    const held: [number, number][] = [];
    let fromLent = 0;
    const d = await BlockDevice.open({ data: new MemoryStore(), meta: new MemoryStore(), size: SIZE });
    const disk: CrashTestDisk = {
      write: (o, data, opts) => {
        if (data.buffer !== lent.buffer) return d.write(o, data, opts);
        fromLent++;
        const stretch: [number, number] = [data.byteOffset, data.byteOffset + data.length];
        expect(stretch[0]).toBeGreaterThanOrEqual(lent.byteOffset);
        expect(stretch[1]).toBeLessThanOrEqual(lent.byteOffset + lent.length);
        for (const [s, e] of held) expect(stretch[0] >= e || stretch[1] <= s, 'overlaps a write in flight').toBe(true);
        held.push(stretch);
        const copy = data.slice(); // what the caller must not change until the write settles
        return d.write(o, data, opts).then(() => {
          sameBytes(data, copy, 'lent bytes changed while their write was in flight');
          held.splice(held.indexOf(stretch), 1);
        });
      },
      flush: () => d.flush(),
      discard: (o, n) => d.discard(o, n),
      setCacheMode: (m) => d.setCacheMode(m),
    };
    const r = await runCrashTest(disk, { seed: 11, size: SIZE, initialMode: 'writeback', requests: 300, lent });
    expect(r.acked).toBe(300);
    expect(fromLent, 'most writes fit the lent memory').toBeGreaterThan(100);
    sameBytes(await d.read(0, SIZE), expectedImage(r.log.entries, SIZE), 'image');
  });

  it('without a crash every request is acknowledged and a clean close keeps exactly the expected image', async () => {
    const data = new MemoryStore();
    const meta = new MemoryStore();
    const d = await BlockDevice.open({ data, meta, size: SIZE, cacheSize: 64 * 1024 });
    const r = await runCrashTest(d, {
      seed: 7,
      size: SIZE,
      initialMode: 'writeback',
      requests: 150,
      modeSwitchRate: 0.05,
    });
    expect([r.crashed, r.acked, r.failed]).toEqual([false, 150, 0]);
    await d.close();
    data.closed = false;
    meta.closed = false;
    const again = await BlockDevice.open({ data, meta });
    sameBytes(await again.read(0, SIZE), expectedImage(r.log.entries, SIZE), 'image');
    const report = await verifyDisk(again, r.log, SIZE);
    expect(report.violations).toBe(0);
    expect(report.lost).toBe(0);
  });

  it.each(STORE_KINDS)('crashes under the power model on the %s store: 0 violations in every mode', async (kind) => {
    for (const mode of CACHE_MODES) {
      for (let seed = 1; seed <= 6; seed++) {
        const hardware = await newBackingOf(kind).open();
        const power = { off: false };
        const d = await BlockDevice.open({
          ...(await stackStores(hardware, { crashModel: 'power', deviceCacheSize: 64 * 1024, power, size: SIZE })),
          size: SIZE,
          cache: mode,
          cacheSize: 128 * 1024,
        });
        const r = await runCrashTest(unplugged(d, power), {
          seed,
          size: SIZE,
          initialMode: mode,
          requests: 100,
          crash: randomCrashPoint(seed, 100),
          onCrash: () => {
            power.off = true;
          },
        });
        const frozen = new Uint8Array(SIZE);
        await (await stacked(hardware)).data.read(0, frozen);
        expect(r.crashed).toBe(true);
        const report = await verifyDisk({ read: async () => frozen }, r.log, SIZE);
        expect(report.violations, `${mode} seed ${seed}: ${JSON.stringify(report.details.slice(0, 3))}`).toBe(0);
      }
    }
  });

  it('an acknowledged switch to a mode without a write cache counts as a flush', () => {
    const log = new RequestLog('writeback');
    const w = log.write(0, 4096, 1);
    log.ack(w);
    const m = log.setMode('writethrough');
    log.ack(m);
    log.setMode('none'); // never acknowledged: no flush
    const e = withSwitchFlushes(log.entries);
    expect(e.map((x) => x.kind)).toEqual(['write', 'mode', 'flush', 'mode']);
    const lost = verifyDisk(
      { read: async (_o, n) => new Uint8Array(n) },
      { entries: log.entries, initialMode: 'writeback' },
      4096,
    );
    return expect(lost.then((r) => r.violations)).resolves.toBe(1);
  });
});
