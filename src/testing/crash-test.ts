import { CACHE_POLICY } from '../core/cache-modes';
import { CACHE_MODES, type CacheMode } from '../core/types';
import { checkDurability, type LogEntry, type OracleReport, RequestLog } from './oracle';
import { patternBytes, prng } from './pattern';

/**
 * The randomized crash test: many requests in flight against a disk,
 * each recorded in a RequestLog as it is issued and acknowledged, and a
 * power loss pulled at a chosen moment. After reopening, verifyDisk() reads
 * the disk back and asks the oracle whether what survived keeps the
 * contract. Pure: it needs only a disk-like object and timers, so it runs
 * in a page, a worker, the demo, or under Node on a BlockDevice.
 *
 * The sequence of requests is a function of the seed alone (pacing and
 * the crash moment draw from their own generators), so a failing seed
 * replays the same requests; only their timing differs between runs.
 */

/** What the crash test needs of a disk (a Disk or a BlockDevice). */
export interface CrashTestDisk {
  write(offset: number, data: Uint8Array, opts?: { fua?: boolean }): Promise<void>;
  flush(): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  setCacheMode(mode: CacheMode): Promise<void>;
}

/** When to pull the plug. */
export type CrashPoint =
  /** `ms` milliseconds after the crash test starts. */
  | { at: 'time'; ms: number }
  /** Right after the `count`-th acknowledgement, in its callback. */
  | { at: 'ack'; count: number }
  /** `delayMs` (a busy wait) after issuing the `count`-th flush: usually while that flush runs. */
  | { at: 'flush'; count: number; delayMs: number }
  /** `delayMs` (a busy wait) after issuing the `count`-th mode switch (needs modeSwitchRate > 0). */
  | { at: 'mode'; count: number; delayMs: number }
  /** After everything was issued and acknowledged. */
  | { at: 'end' };

export interface CrashTestOptions {
  /** Decides the requests (and, through randomCrashPoint, the crash moment). */
  seed: number;
  /** The crash test touches bytes [0, size) of the disk. */
  size: number;
  /** The disk's cache mode when the crash test starts. */
  initialMode: CacheMode;
  /** Requests to issue. Default 200. */
  requests?: number;
  /** At most this many unsettled requests at once. Default 32. */
  inFlight?: number;
  /** Largest write, bytes. Default 1 MiB (at most `size`). */
  maxWrite?: number;
  /** Share of requests that are flushes. Default 0.04. */
  flushRate?: number;
  /** Share of writes that are FUA. Default 0.1. */
  fuaRate?: number;
  /** Share of requests that are discards. Default 0.04. */
  discardRate?: number;
  /** Share of requests that switch the cache mode at random. Default 0. */
  modeSwitchRate?: number;
  /** When to crash; without it the crash test runs to the end and waits for every answer. */
  crash?: CrashPoint;
  /** Called once at the crash point: must cut the power (`disk.powerLoss()`). */
  onCrash?: () => void;
  /** Called after every issue and acknowledgement (to persist the log across a page reload, say). */
  onLog?: (log: RequestLog) => void;
  /**
   * Memory lent by disk.allocBuffer(): writes that find a free stretch of
   * it are written from there (not copied by the disk: held until they
   * settle), the others as usual. Changes nothing in the requests.
   */
  lent?: Uint8Array;
}

export interface CrashTestResult {
  log: RequestLog;
  /** onCrash was called. */
  crashed: boolean;
  /** Which trigger fired: the planned one, or 'end' when the crash test finished first. */
  crashedAt: CrashPoint['at'] | 'none';
  issued: number;
  acked: number;
  /** Requests that rejected (after a crash: every one in flight). */
  failed: number;
  /** Requests issued and not yet answered when the plug was pulled. */
  inFlightAtCrash: number;
  /** A flush or a mode switch was issued and not yet answered when the plug was pulled. */
  flushInFlightAtCrash: boolean;
  /** Bytes of acknowledged writes. */
  bytesAcked: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Derives the seed of round `index` from a base seed (stable, well mixed). */
export function roundSeed(base: number, index: number): number {
  let h = (Math.imul(base >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  return h >>> 0;
}

/**
 * A crash moment drawn from the seed: a random time, after a random
 * acknowledgement, mid-flush, or after the end, in proportions that make
 * every kind common. `requests` is the crash test's request count.
 */
export function randomCrashPoint(seed: number, requests = 200): CrashPoint {
  const rnd = prng(roundSeed(seed, 0x63726173));
  const r = rnd();
  if (r < 0.3) return { at: 'time', ms: Math.floor(rnd() * rnd() * 400) };
  if (r < 0.6) return { at: 'ack', count: 1 + Math.floor(rnd() * requests) };
  if (r < 0.95) return { at: 'flush', count: 1 + Math.floor(rnd() * Math.max(1, requests * 0.04)), delayMs: rnd() * 4 };
  return { at: 'end' };
}

/** Issues random requests on `disk`, crashing it where `crash` says. Never rejects. */
export async function runCrashTest(disk: CrashTestDisk, o: CrashTestOptions): Promise<CrashTestResult> {
  const size = o.size;
  const total = o.requests ?? 200;
  const window = Math.max(1, o.inFlight ?? 32);
  const maxWrite = Math.max(1, Math.min(o.maxWrite ?? MiB, size));
  const flushRate = o.flushRate ?? 0.04;
  const fuaRate = o.fuaRate ?? 0.1;
  const discardRate = o.discardRate ?? 0.04;
  const modeRate = o.modeSwitchRate ?? 0;
  // What to issue comes from the seed alone; when to issue from another stream.
  const rnd = prng(o.seed);
  const pace = prng(roundSeed(o.seed, 0x70616365));
  const pick = (n: number) => Math.floor(rnd() * n);
  const log = new RequestLog(o.initialMode);
  const res: CrashTestResult = {
    log,
    crashed: false,
    crashedAt: 'none',
    issued: 0,
    acked: 0,
    failed: 0,
    inFlightAtCrash: 0,
    flushInFlightAtCrash: false,
    bytesAcked: 0,
  };
  const unanswered = new Set<LogEntry>();
  const settled: Promise<void>[] = [];
  let wake: () => void = () => {};
  let flushes = 0;
  let switches = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const crash = (at: CrashTestResult['crashedAt']) => {
    if (res.crashed || !o.crash) return;
    res.crashed = true;
    res.crashedAt = at;
    res.inFlightAtCrash = unanswered.size;
    res.flushInFlightAtCrash = [...unanswered].some((e) => e.kind === 'flush' || e.kind === 'mode');
    if (timer !== undefined) clearTimeout(timer);
    o.onCrash?.();
    wake();
  };

  /**
   * Crashes `ms` after the request just issued has been sent (transports
   * send in a microtask at the latest). A busy wait, not a timer: a busy
   * event loop would postpone a timer by tens of ms, past the moment.
   */
  const crashSoon = (at: 'flush' | 'mode', ms: number) => {
    void Promise.resolve().then(() => {
      const t = performance.now();
      while (performance.now() - t < ms) {
        // spin
      }
      crash(at);
    });
  };

  const track = (e: LogEntry, p: Promise<unknown>) => {
    res.issued++;
    unanswered.add(e);
    o.onLog?.(log);
    settled.push(
      p.then(
        () => {
          // A promise that resolved before the plug was pulled was acknowledged,
          // even if its callback runs after: the disk rejects everything else.
          log.ack(e);
          unanswered.delete(e);
          res.acked++;
          if (e.kind === 'write') res.bytesAcked += e.length;
          o.onLog?.(log);
          if (o.crash?.at === 'ack' && res.acked >= o.crash.count) crash('ack');
          wake();
        },
        () => {
          unanswered.delete(e);
          res.failed++;
          wake();
        },
      ),
    );
  };

  const stretches = o.lent ? new LentStretches(o.lent) : undefined;

  const issueOne = () => {
    const r = rnd();
    if (r < flushRate) {
      const e = log.flush();
      track(e, disk.flush());
      flushes++;
      if (o.crash?.at === 'flush' && flushes === o.crash.count) {
        crashSoon('flush', o.crash.delayMs);
      }
    } else if (r < flushRate + discardRate) {
      const length = 1 + pick(rnd() < 0.7 ? 64 * KiB : 2 * MiB);
      const len = Math.min(length, size);
      const offset = pick(size - len + 1);
      track(log.discard(offset, len), disk.discard(offset, len));
    } else if (r < flushRate + discardRate + modeRate) {
      const m = CACHE_MODES[pick(CACHE_MODES.length)];
      track(log.setMode(m), disk.setCacheMode(m));
      switches++;
      if (o.crash?.at === 'mode' && switches === o.crash.count) {
        crashSoon('mode', o.crash.delayMs);
      }
    } else {
      const length = Math.min(maxWrite, writeLength(rnd));
      const aligned = rnd() < 0.5;
      // A hot region makes overlapping ranges common.
      const span = rnd() < 0.4 ? Math.min(size, 512 * KiB) : size;
      let offset = pick(Math.max(1, span - length + 1));
      if (aligned) offset -= offset % (length % 4096 === 0 ? 4096 : 512);
      offset = Math.max(0, Math.min(offset, size - length));
      const seed = pick(2 ** 31);
      const fua = rnd() < fuaRate;
      const e = log.write(offset, length, seed, fua);
      const lent = stretches?.take(length);
      if (lent) {
        const done = disk.write(offset, patternBytes(length, seed, lent), { fua });
        track(e, done);
        const free = () => stretches?.give(lent);
        done.then(free, free);
      } else {
        track(e, disk.write(offset, patternBytes(length, seed), { fua }));
      }
    }
  };

  if (o.crash?.at === 'time') timer = setTimeout(() => crash('time'), o.crash.ms);
  while (!res.crashed && res.issued < total) {
    // A burst issued together travels together; then wait for an answer or a moment.
    const burst = 1 + Math.floor(pace() * 12);
    for (let k = 0; k < burst && unanswered.size < window && res.issued < total && !res.crashed; k++) issueOne();
    if (res.crashed || res.issued >= total) break;
    const how = pace();
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (how < 0.3) setTimeout(resolve, 0);
      else if (how < 0.5) queueMicrotask(resolve);
    });
  }
  await Promise.all(settled);
  if (o.crash && !res.crashed) crash('end');
  if (timer !== undefined) clearTimeout(timer);
  return res;
}

/**
 * Stretches of a lent buffer for writes in flight: first fit, each held
 * until its write settles (answers come out of order).
 */
class LentStretches {
  /** [start, end) of the stretches held, by start. */
  private held: [number, number][] = [];
  constructor(private readonly memory: Uint8Array) {}

  take(length: number): Uint8Array | undefined {
    let at = 0;
    let i = 0;
    for (; i < this.held.length; i++) {
      if (this.held[i][0] - at >= length) break;
      at = this.held[i][1];
    }
    if (at + length > this.memory.length) return undefined;
    this.held.splice(i, 0, [at, at + length]);
    return this.memory.subarray(at, at + length);
  }

  give(stretch: Uint8Array): void {
    const start = stretch.byteOffset - this.memory.byteOffset;
    this.held = this.held.filter(([s]) => s !== start);
  }
}

/** Lengths from 512 B to 1 MiB: sector and block multiples, odd sizes, a few large ones. */
function writeLength(rnd: () => number): number {
  const r = rnd();
  if (r < 0.3) return 512 * (1 + Math.floor(rnd() * 8));
  if (r < 0.55) return 4096 * (1 + Math.floor(rnd() * 4));
  if (r < 0.85) return 512 + Math.floor(rnd() * 64 * KiB);
  if (r < 0.95) return 64 * KiB + Math.floor(rnd() * (MiB - 64 * KiB));
  return MiB;
}

/**
 * The log as the oracle should judge it: an acknowledged switch to a mode
 * without a write cache wrote everything back and synced before it was
 * acknowledged ("switching to a mode without a write cache flushes
 * first"), so it counts as a completed flush issued with the switch.
 */
export function withSwitchFlushes(entries: readonly LogEntry[]): LogEntry[] {
  const out: LogEntry[] = [];
  for (const e of entries) {
    out.push(e);
    if (e.kind === 'mode' && e.ackedAt !== undefined && !CACHE_POLICY[e.mode].writeCache) {
      out.push({ kind: 'flush', mode: e.mode, issuedAt: e.issuedAt, ackedAt: e.ackedAt });
    }
  }
  return out;
}

/**
 * Reads [0, size) back (in chunks) and checks it against the log with the
 * oracle (counting acknowledged switches to cache-less modes as flushes).
 * `base`: what the disk held before the log (an overlay's base; zeros if omitted).
 */
export async function verifyDisk(
  disk: { read(offset: number, length: number): Promise<Uint8Array> },
  log: { entries: readonly LogEntry[]; initialMode: CacheMode },
  size: number,
  base?: Uint8Array,
): Promise<OracleReport> {
  const actual = new Uint8Array(size);
  const chunk = 4 * MiB;
  for (let pos = 0; pos < size; pos += chunk) actual.set(await disk.read(pos, Math.min(chunk, size - pos)), pos);
  return checkDurability({ entries: withSwitchFlushes(log.entries), initialMode: log.initialMode, actual, base });
}

/**
 * What the disk holds if every logged write and discard took effect, in
 * issue order: the expected image after a clean close.
 */
export function expectedImage(entries: readonly LogEntry[], size: number): Uint8Array {
  const img = new Uint8Array(size);
  for (const e of entries) {
    if (e.kind === 'write') img.set(patternBytes(e.length, e.seed).subarray(0, Math.max(0, size - e.offset)), e.offset);
    else if (e.kind === 'discard') img.fill(0, e.offset, Math.min(size, e.offset + e.length));
  }
  return img;
}
