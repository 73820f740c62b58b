/**
 * What the benchmark writes and how it checks what comes back, shared by
 * the page (library targets), the raw worker (platform baselines) and the
 * SyncDisk worker.
 *
 * Every 512-byte sector carries a stamp (its sector number and the
 * generation of the write that put it there) over a body of random bytes
 * from a 1 MiB pool, so data is incompressible, a misplaced, stale, lost or
 * torn sector is caught by a two-word check on every read, and the full
 * expected content of the region can be regenerated for a checksum.
 *
 * Memory: every buffer here is allocated once and reused (first-touch page
 * faults make fresh memory ~80× slower than reused memory on this VM).
 */
import { MiB } from './config';

export const SECTOR = 512;
/** Granularity of the expected-generation table: every workload writes whole 4 KiB blocks. */
export const BLOCK = 4096;
const WORDS_PER_SECTOR = SECTOR / 4;
/** The body pattern repeats every POOL bytes of the disk. */
const POOL = MiB;
/** Largest request the engine issues. */
export const MAX_BS = MiB;

// ------------------------------------------------------------------ random

/** xorshift32: fast, deterministic, seeded. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** Uniform integer in [0, n) for n up to 2^32. */
  below(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }
}

/** The same seed for the same (workload, depth, repeat) on every target: same offsets, same order. */
export function runSeed(workloadIndex: number, depth: number, repeat: number): number {
  return (
    (Math.imul(workloadIndex + 1, 0x9e3779b1) ^ Math.imul(depth, 0x85ebca6b) ^ Math.imul(repeat + 7, 0xc2b2ae35)) >>> 0
  );
}

// ----------------------------------------------------------------- content

/** 2 MiB: the 1 MiB random pool twice, so the body of any request up to 1 MiB is one contiguous slice. */
let pool: Uint8Array | undefined;
export function bodyPool(): Uint8Array {
  if (!pool) {
    pool = new Uint8Array(2 * POOL);
    const words = new Uint32Array(pool.buffer, 0, POOL / 4);
    const rng = new Rng(0x5eed);
    for (let i = 0; i < words.length; i++) words[i] = rng.next();
    pool.copyWithin(POOL, 0, POOL);
  }
  return pool;
}

/** A reusable write buffer that remembers which body slice it holds, so a rewrite only restamps. */
export class WriteBuffer {
  readonly bytes: Uint8Array;
  private readonly words: Uint32Array;
  private phase = -1;
  private length = -1;
  /** `bytes`: memory of the caller's (a lent buffer) instead of a new buffer. */
  constructor(capacity = MAX_BS, bytes?: Uint8Array) {
    this.bytes = bytes ?? new Uint8Array(capacity);
    this.bytes.fill(0); // touch it now, not in the timed loop
    this.words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >>> 2);
  }
  /** The content of generation `gen` for [offset, offset+length), in this buffer. */
  fill(offset: number, length: number, gen: number): Uint8Array {
    const phase = offset % POOL;
    if (phase !== this.phase || length !== this.length) {
      this.bytes.set(bodyPool().subarray(phase, phase + length));
      this.phase = phase;
      this.length = length;
    }
    const s0 = offset / SECTOR;
    const n = length / SECTOR;
    const w = this.words;
    for (let k = 0; k < n; k++) {
      w[k * WORDS_PER_SECTOR] = (s0 + k) >>> 0;
      w[k * WORDS_PER_SECTOR + 1] = gen;
    }
    return this.bytes.subarray(0, length);
  }
  /** Forgets the cached body (after someone else wrote into `bytes`). */
  invalidate(): void {
    this.phase = -1;
  }
}

export interface ExpectationState {
  gens: Uint32Array;
  nextGen: number;
}

/**
 * What the region should hold: the generation of the last write issued to
 * each 4 KiB block (0 = never written: zeros). Requests take effect in
 * issue order on every target, so "last issued" is the truth.
 */
export class Expectation {
  readonly gens: Uint32Array;
  private nextGen = 1;
  constructor(region: number) {
    this.gens = new Uint32Array(Math.ceil(region / BLOCK));
  }
  /** Its state, for another thread that writes the same disk (the SyncDisk target's worker). */
  snapshot(): ExpectationState {
    return { gens: this.gens.slice(), nextGen: this.nextGen };
  }
  /** Takes back the state that thread moved on. */
  restore(state: ExpectationState): void {
    this.gens.set(state.gens);
    this.nextGen = state.nextGen;
  }
  /** A new generation for a write of [offset, offset+length), recorded at issue. */
  issue(offset: number, length: number): number {
    const gen = this.nextGen++;
    this.gens.fill(gen, offset / BLOCK, (offset + length) / BLOCK);
    return gen;
  }
}

/**
 * Checks the stamp of every sector of `data` (read at `offset`): with
 * `gen` >= 0 every block must hold that generation (the value at issue,
 * for single-block reads that may race writes); with gen < 0 the table is
 * consulted now. Returns the number of bad sectors.
 */
export function checkStamps(data: Uint8Array, offset: number, gen: number, expect: Expectation): number {
  const words =
    data.byteOffset % 4 === 0
      ? new Uint32Array(data.buffer, data.byteOffset, data.length >>> 2)
      : new Uint32Array(data.slice().buffer);
  const s0 = offset / SECTOR;
  const n = data.length / SECTOR;
  let bad = 0;
  for (let k = 0; k < n; k++) {
    const s = s0 + k;
    const g = gen >= 0 ? gen : expect.gens[Math.floor((s * SECTOR) / BLOCK)];
    const i = k * WORDS_PER_SECTOR;
    if (g === 0) {
      if (words[i] !== 0 || words[i + 1] !== 0 || words[i + 2] !== 0) bad++;
    } else if (words[i] !== s >>> 0 || words[i + 1] !== g) {
      bad++;
    }
  }
  return bad;
}

/** 4-lane multiplicative hash of 32-bit words (~5 GiB/s here): a checksum, not a MAC. */
export function hashWords(words: Uint32Array, seed: number): number {
  let a = seed ^ 0x811c9dc5;
  let b = seed ^ 0x9e3779b9;
  let c = seed ^ 0x85ebca6b;
  let d = seed ^ 0xc2b2ae35;
  const n = words.length & ~3;
  for (let i = 0; i < n; i += 4) {
    a = Math.imul(a ^ words[i], 0x01000193);
    b = Math.imul(b ^ words[i + 1], 0x01000193);
    c = Math.imul(c ^ words[i + 2], 0x01000193);
    d = Math.imul(d ^ words[i + 3], 0x01000193);
  }
  for (let i = n; i < words.length; i++) a = Math.imul(a ^ words[i], 0x01000193);
  return (Math.imul(a, 31) ^ Math.imul(b, 17) ^ Math.imul(c, 7) ^ d) >>> 0;
}

/** Writes into `dst` what the region holds at [offset, offset+dst.length) according to `expect`. */
export function expectedContent(dst: Uint8Array, offset: number, expect: Expectation): void {
  const p = bodyPool();
  const words = new Uint32Array(dst.buffer, dst.byteOffset, dst.length >>> 2);
  for (let at = 0; at < dst.length; at += BLOCK) {
    const pos = offset + at;
    const gen = expect.gens[pos / BLOCK];
    if (gen === 0) {
      dst.fill(0, at, at + BLOCK);
      continue;
    }
    const phase = pos % POOL;
    dst.set(p.subarray(phase, phase + BLOCK), at);
    for (let k = 0; k < BLOCK / SECTOR; k++) {
      const i = (at / SECTOR + k) * WORDS_PER_SECTOR;
      words[i] = (pos / SECTOR + k) >>> 0;
      words[i + 1] = gen;
    }
  }
}
