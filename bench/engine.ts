/**
 * The fio-like engine, shared by the page (library targets) and the raw
 * worker (platform baselines): what to write, where, how to check what
 * comes back, and the two ways of running a workload — `runAsync` keeps
 * `depth` requests outstanding on a promise API, `runSync` runs a
 * synchronous API (OPFS sync handle, memcpy) as the serial server it is.
 *
 * Content: every 512-byte sector carries a stamp (its sector number and the
 * generation of the write that put it there) over a body of random bytes
 * from a 1 MiB pool, so data is incompressible, a misplaced, stale, lost or
 * torn sector is caught by a two-word check on every read, and the full
 * expected content of the region can be regenerated for a checksum.
 *
 * Memory: every buffer here is allocated once and reused (first-touch page
 * faults make fresh memory ~80× slower than reused memory on this VM).
 */
import {
  type BenchConfig,
  type ContentCheck,
  hasWrites,
  type LatencySummary,
  MiB,
  type RunResult,
  type Workload,
} from './config';

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
function bodyPool(): Uint8Array {
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

// ----------------------------------------------------------------- latency

const LAT_CAP = 1 << 18;

/** Per-request latencies: all of them up to LAT_CAP, then a uniform reservoir sample. */
export class Latencies {
  private readonly samples = new Float64Array(LAT_CAP);
  private readonly sorted = new Float64Array(LAT_CAP);
  private readonly rng = new Rng(12345);
  private n = 0;
  private sum = 0;
  private max = 0;

  reset(): void {
    this.n = 0;
    this.sum = 0;
    this.max = 0;
  }

  add(ms: number): void {
    const us = ms * 1000;
    this.sum += us;
    if (us > this.max) this.max = us;
    if (this.n < LAT_CAP) this.samples[this.n] = us;
    else {
      const j = this.rng.below(this.n + 1);
      if (j < LAT_CAP) this.samples[j] = us;
    }
    this.n++;
  }

  summary(): LatencySummary {
    const m = Math.min(this.n, LAT_CAP);
    if (m === 0) return { p50: 0, p99: 0, mean: 0, max: 0 };
    const s = this.sorted.subarray(0, m);
    s.set(this.samples.subarray(0, m));
    s.sort();
    const at = (q: number) => s[Math.min(m - 1, Math.floor(q * m))];
    return { p50: round1(at(0.5)), p99: round1(at(0.99)), mean: round1(this.sum / this.n), max: round1(this.max) };
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

// ------------------------------------------------------------ request flow

/** The offsets and read/write choices of one run: the same sequence on every target. */
export class OpStream {
  offset = 0;
  private cursor = 0;
  private readonly span: number;
  private readonly blocks: number;
  private readonly where: Rng;
  private readonly which: Rng;
  constructor(
    private readonly w: Workload,
    region: number,
    seed: number,
  ) {
    this.span = Math.min(region, w.hotBytes ?? region);
    this.blocks = Math.floor(this.span / w.bs);
    this.where = new Rng(seed);
    this.which = new Rng(seed ^ 0xa5a5a5a5);
  }
  /** Advances to the next request; returns true for a read (its offset is in `offset`). */
  next(): boolean {
    if (this.w.seq) {
      if (this.cursor + this.w.bs > this.span) this.cursor = 0;
      this.offset = this.cursor;
      this.cursor += this.w.bs;
    } else {
      this.offset = this.where.below(this.blocks) * this.w.bs;
    }
    if (this.w.readPct >= 100) return true;
    if (this.w.readPct <= 0) return false;
    return this.which.below(100) < this.w.readPct;
  }
}

/** A target with a promise API (the library, IndexedDB): `depth` requests stay outstanding. */
export interface AsyncIo {
  /** Resolves with the bytes read (it may be `lane`'s own buffer, valid until the lane's next request). */
  read(offset: number, length: number, lane: number): Promise<Uint8Array>;
  /** `data` belongs to the lane until the promise settles. */
  write(offset: number, data: Uint8Array, lane: number): Promise<void>;
  flush(): Promise<void>;
  /** The lane's own write buffer, if the target has one (memory it lent, written in place); else the engine's. */
  laneWriteBuffer?(lane: number): WriteBuffer | undefined;
}

/** A target with a synchronous API (OPFS sync handle, memcpy). */
export interface SyncIo {
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
  flush(): void;
}

/** The reusable state of an engine instance (one per thread). */
export class Engine {
  readonly lat = new Latencies();
  private readonly writeBufs: WriteBuffer[] = [];
  private readBuf: Uint8Array | undefined;
  constructor(readonly cfg: BenchConfig) {}

  /** Lane `i`'s write buffer, allocated and touched on first use. */
  writeBuffer(i: number): WriteBuffer {
    while (this.writeBufs.length <= i) this.writeBufs.push(new WriteBuffer());
    return this.writeBufs[i];
  }

  /** One reusable read buffer of MAX_BS bytes (sync targets read into it). */
  readBuffer(): Uint8Array {
    if (!this.readBuf) {
      this.readBuf = new Uint8Array(MAX_BS);
      this.readBuf.fill(0);
    }
    return this.readBuf;
  }

  /** Allocates and touches what a run at `depth` needs, before timing starts. */
  warm(depth: number): void {
    this.writeBuffer(depth - 1);
    this.readBuffer();
    bodyPool();
  }

  async runAsync(
    io: AsyncIo,
    w: Workload,
    depth: number,
    expect: Expectation,
    seed: number,
    region = this.cfg.region,
    /** Issue `depth` requests, await them all, repeat (what many callers write) instead of keeping `depth` in flight. */
    batch = false,
  ): Promise<RunResult> {
    this.warm(depth);
    const stream = new OpStream(w, region, seed);
    const lat = this.lat;
    lat.reset();
    const budget = this.cfg.timeMs;
    let reads = 0;
    let writes = 0;
    let bad = 0;
    const t0 = performance.now();
    const lane = async (i: number): Promise<void> => {
      const wb = io.laneWriteBuffer?.(i) ?? this.writeBuffer(i);
      for (;;) {
        const t = performance.now();
        if (t - t0 >= budget) return;
        if (stream.next()) {
          const off = stream.offset;
          const gen = w.bs === BLOCK ? expect.gens[off / BLOCK] : -1;
          const data = await io.read(off, w.bs, i);
          bad += checkStamps(data, off, gen, expect);
          reads++;
        } else {
          const off = stream.offset;
          const data = wb.fill(off, w.bs, expect.issue(off, w.bs));
          await io.write(off, data, i);
          writes++;
          if (w.flushEvery > 0 && writes % w.flushEvery === 0) await io.flush();
        }
        lat.add(performance.now() - t);
      }
    };
    /** Issued-then-awaited: `depth` requests together, then all of them awaited, again and again. */
    const batches = async (): Promise<void> => {
      const round: Promise<void>[] = [];
      let flushDue = false;
      while (performance.now() - t0 < budget) {
        const t = performance.now();
        round.length = 0;
        for (let i = 0; i < depth; i++) {
          const isRead = stream.next();
          const off = stream.offset;
          if (isRead) {
            const gen = w.bs === BLOCK ? expect.gens[off / BLOCK] : -1;
            round.push(
              io.read(off, w.bs, i).then((data) => {
                bad += checkStamps(data, off, gen, expect);
              }),
            );
            reads++;
          } else {
            const wb = io.laneWriteBuffer?.(i) ?? this.writeBuffer(i);
            round.push(io.write(off, wb.fill(off, w.bs, expect.issue(off, w.bs)), i));
            writes++;
            if (w.flushEvery > 0 && writes % w.flushEvery === 0) flushDue = true;
          }
        }
        await Promise.all(round);
        if (flushDue) await io.flush();
        flushDue = false;
        const ms = performance.now() - t;
        for (let i = 0; i < depth; i++) lat.add(ms);
      }
    };
    if (batch) {
      await batches();
    } else {
      const lanes: Promise<void>[] = [];
      for (let i = 0; i < depth; i++) lanes.push(lane(i));
      await Promise.all(lanes);
    }
    const tf = performance.now();
    if (hasWrites(w)) await io.flush();
    const t1 = performance.now();
    return result(w, reads, writes, t1 - t0, t1 - tf, lat.summary(), bad);
  }

  /**
   * A synchronous API has no queue: it serves one request at a time. With
   * `depth` > 1 it is modelled as a FIFO server with `depth` requests
   * outstanding (a new one issued as each completes), so latency includes
   * the wait behind the others, as it would for a real queue; throughput
   * does not depend on depth.
   */
  runSync(io: SyncIo, w: Workload, depth: number, expect: Expectation, seed: number): RunResult {
    this.warm(depth);
    const stream = new OpStream(w, this.cfg.region, seed);
    const lat = this.lat;
    lat.reset();
    const budget = this.cfg.timeMs;
    const wb = this.writeBuffer(0);
    const rb = this.readBuffer().subarray(0, w.bs);
    const issued = new Float64Array(depth);
    let head = 0;
    let reads = 0;
    let writes = 0;
    let bad = 0;
    const t0 = performance.now();
    issued.fill(t0);
    for (;;) {
      if (stream.next()) {
        io.read(stream.offset, rb);
        bad += checkStamps(rb, stream.offset, -1, expect);
        reads++;
      } else {
        const off = stream.offset;
        io.write(off, wb.fill(off, w.bs, expect.issue(off, w.bs)));
        writes++;
        if (w.flushEvery > 0 && writes % w.flushEvery === 0) io.flush();
      }
      const t = performance.now();
      lat.add(t - issued[head]);
      issued[head] = t;
      head = head + 1 === depth ? 0 : head + 1;
      if (t - t0 >= budget) break;
    }
    const tf = performance.now();
    if (hasWrites(w)) io.flush();
    const t1 = performance.now();
    return result(w, reads, writes, t1 - t0, t1 - tf, lat.summary(), bad);
  }

  /** Writes the whole region once, sequentially in 1 MiB requests, then flushes. */
  async prepare(io: AsyncIo | SyncIo, expect: Expectation, depth = 4, region = this.cfg.region): Promise<number> {
    this.warm(depth);
    const t0 = performance.now();
    if (isSync(io)) {
      const wb = this.writeBuffer(0);
      for (let off = 0; off < region; off += MAX_BS) {
        const len = Math.min(MAX_BS, region - off);
        io.write(off, wb.fill(off, len, expect.issue(off, len)));
      }
      io.flush();
    } else {
      let next = 0;
      const lane = async (i: number) => {
        const wb = this.writeBuffer(i);
        while (next < region) {
          const off = next;
          const len = Math.min(MAX_BS, region - off);
          next += len;
          await io.write(off, wb.fill(off, len, expect.issue(off, len)), i);
        }
      };
      await Promise.all(Array.from({ length: depth }, (_, i) => lane(i)));
      await io.flush();
    }
    return performance.now() - t0;
  }

  /** Reads [0, bytes) once, sequentially, untimed (warms a cache). */
  async readThrough(io: AsyncIo | SyncIo, bytes: number): Promise<void> {
    for (let off = 0; off < bytes; off += MAX_BS) {
      const len = Math.min(MAX_BS, bytes - off);
      if (isSync(io)) io.read(off, this.readBuffer().subarray(0, len));
      else await io.read(off, len, 0);
    }
  }

  /**
   * Reads the whole region back and compares a checksum of it with the
   * checksum of what the writes issued so far put there.
   */
  async checkContent(io: AsyncIo | SyncIo, expect: Expectation, region = this.cfg.region): Promise<ContentCheck> {
    const t0 = performance.now();
    const scratch = this.writeBuffer(0);
    scratch.invalidate();
    const chunks = Math.ceil(region / MAX_BS);
    const readHashes = new Uint32Array(chunks);
    const expectedHashes = new Uint32Array(chunks);
    let badChunks = 0;
    let firstBad: string | undefined;
    const one = (index: number, data: Uint8Array) => {
      const off = index * MAX_BS;
      const exp = scratch.bytes.subarray(0, data.length);
      expectedContent(exp, off, expect);
      const aligned = data.byteOffset % 4 === 0 ? data : data.slice();
      readHashes[index] = hashWords(new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2), index);
      expectedHashes[index] = hashWords(new Uint32Array(exp.buffer, exp.byteOffset, exp.length >>> 2), index);
      if (readHashes[index] !== expectedHashes[index]) {
        badChunks++;
        if (firstBad === undefined) {
          let at = 0;
          while (at < data.length && data[at] === exp[at]) at++;
          const s = new DataView(aligned.buffer, aligned.byteOffset + (at - (at % SECTOR)), 8);
          firstBad =
            `byte ${off + at}: sector stamp ${s.getUint32(0, true)}/gen ${s.getUint32(4, true)}, ` +
            `expected ${Math.floor((off + at) / SECTOR)}/gen ${expect.gens[Math.floor((off + at) / BLOCK)]}`;
        }
      }
    };
    for (let i = 0; i < chunks; i++) {
      const len = Math.min(MAX_BS, region - i * MAX_BS);
      if (isSync(io)) {
        const rb = this.readBuffer().subarray(0, len);
        io.read(i * MAX_BS, rb);
        one(i, rb);
      } else {
        one(i, await io.read(i * MAX_BS, len, 0));
      }
    }
    scratch.invalidate();
    const combine = (hs: Uint32Array) => hashWords(hs, 0).toString(16).padStart(8, '0');
    return {
      ok: badChunks === 0,
      bytes: region,
      ms: Math.round(performance.now() - t0),
      readHash: combine(readHashes),
      expectedHash: combine(expectedHashes),
      badChunks,
      firstBad,
    };
  }
}

function isSync(io: AsyncIo | SyncIo): io is SyncIo {
  return (io as { sync?: boolean }).sync === true;
}

/** Marks a SyncIo so the engine's generic helpers can tell it apart. */
export function syncIo(io: SyncIo): SyncIo {
  return Object.assign(io, { sync: true });
}

function result(
  w: Workload,
  reads: number,
  writes: number,
  elapsedMs: number,
  finalFlushMs: number,
  lat: LatencySummary,
  badSectors: number,
): RunResult {
  const ops = reads + writes;
  const bytes = ops * w.bs;
  const s = elapsedMs / 1000;
  return {
    ops,
    reads,
    writes,
    bytes,
    elapsedMs: Math.round(elapsedMs * 10) / 10,
    finalFlushMs: Math.round(finalFlushMs * 10) / 10,
    mibps: Math.round((bytes / MiB / s) * 10) / 10,
    iops: Math.round(ops / s),
    lat,
    badSectors,
  };
}
