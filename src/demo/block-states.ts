import { CACHE_POLICY, type CacheMode } from '../index';

/**
 * What the page knows about each region of the disk, without peeking into
 * the worker: derived from the cache mode of each acknowledged write and
 * from completed flushes, and after a power loss from the oracle's verdicts.
 */
export const STATES = ['never', 'durable', 'store', 'dirty', 'survived', 'lost', 'violation'] as const;
export type BlockState = (typeof STATES)[number];

export const NEVER = 0;
export const DURABLE = 1;
export const STORE = 2;
export const DIRTY = 3;
export const SURVIVED = 4;
export const LOST = 5;
export const VIOLATION = 6;

/** Bytes per tracked unit: the oracle's reporting block. */
export const UNIT = 4096;

export class BlockTracker {
  readonly size: number;
  readonly units: number;
  /** One state code per UNIT bytes. */
  readonly state: Uint8Array;
  /** Logical clock (RequestLog's) of each unit's latest acknowledged write. */
  private readonly ackedAt: Uint32Array;
  private volatile = 0;

  constructor(size: number) {
    this.size = size;
    this.units = Math.ceil(size / UNIT);
    this.state = new Uint8Array(this.units);
    this.ackedAt = new Uint32Array(this.units);
  }

  /** A new session: units holding data (non-zero in `content`) are durable, the rest never written. */
  reset(content?: Uint8Array): void {
    this.ackedAt.fill(0);
    this.volatile = 0;
    for (let u = 0; u < this.units; u++) {
      this.state[u] = content && hasData(content, u * UNIT, Math.min(this.size, (u + 1) * UNIT)) ? DURABLE : NEVER;
    }
  }

  /** A write was acknowledged in `mode`: where it now is. */
  writeAcked(offset: number, length: number, mode: CacheMode, fua: boolean, ackedAt: number): void {
    const p = CACHE_POLICY[mode];
    const next = p.syncEachWrite || (fua && p.syncOnFlush) ? DURABLE : p.writeCache ? DIRTY : STORE;
    const first = Math.floor(offset / UNIT);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / UNIT);
    for (let u = first; u <= last && u < this.units; u++) {
      if (this.state[u] === DIRTY || this.state[u] === STORE) this.volatile--;
      this.state[u] = next;
      this.ackedAt[u] = ackedAt;
      if (next !== DURABLE) this.volatile++;
    }
  }

  /**
   * A flush issued at `issuedAt` completed in `mode`: what was acknowledged
   * before it is durable, or (unsafe) written back to the store but not synced.
   */
  flushDone(issuedAt: number, mode: CacheMode): void {
    this.settle(issuedAt, CACHE_POLICY[mode].syncOnFlush);
  }

  /** A switch to `mode` completed: a mode without a write cache starts from a written-back, synced disk. */
  modeSwitched(issuedAt: number, mode: CacheMode): void {
    if (!CACHE_POLICY[mode].writeCache) this.settle(issuedAt, true);
  }

  /** A clean close: everything is durable. */
  closed(): void {
    this.settle(Number.MAX_SAFE_INTEGER, true);
  }

  /** After a power loss, the oracle's verdict per unit (see verify.ts). */
  applyVerdicts(verdicts: Uint8Array): void {
    this.volatile = 0;
    this.ackedAt.fill(0);
    for (let u = 0; u < this.units; u++) {
      const v = verdicts[u];
      if (v === VIOLATION || v === LOST || v === SURVIVED) this.state[u] = v;
      else if (this.state[u] !== NEVER) this.state[u] = DURABLE; // untouched this session: earlier data
    }
  }

  /** Units per state, indexed by state code. */
  counts(): number[] {
    const c = new Array<number>(STATES.length).fill(0);
    for (let u = 0; u < this.units; u++) c[this.state[u]]++;
    return c;
  }

  /**
   * For each of `cells` equal regions, in disk order, how many of its units
   * are in each state: out[cell * STATES.length + state].
   */
  cells(cells: number): Uint16Array {
    const n = STATES.length;
    const out = new Uint16Array(cells * n);
    for (let c = 0; c < cells; c++) {
      const from = Math.floor((c * this.units) / cells);
      const to = Math.max(from + 1, Math.floor(((c + 1) * this.units) / cells));
      for (let u = from; u < to && u < this.units; u++) out[c * n + this.state[u]]++;
    }
    return out;
  }

  private settle(before: number, durable: boolean): void {
    if (this.volatile === 0) return;
    for (let u = 0; u < this.units; u++) {
      const s = this.state[u];
      if ((s !== DIRTY && s !== STORE) || this.ackedAt[u] >= before) continue;
      if (durable) {
        this.state[u] = DURABLE;
        this.volatile--;
      } else if (s === DIRTY) {
        this.state[u] = STORE;
      }
    }
  }
}

function hasData(bytes: Uint8Array, from: number, to: number): boolean {
  if ((bytes.byteOffset + from) % 4 === 0 && (to - from) % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + from, (to - from) / 4);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return true;
    return false;
  }
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return true;
  return false;
}
