/**
 * The fio-like engine, shared by the page (library targets) and the raw
 * worker (platform baselines): where each request goes, and the two ways of
 * running a workload — `runAsync` keeps `depth` requests outstanding on a
 * promise API, `runSync` runs a synchronous API (OPFS sync handle, memcpy)
 * as the serial server it is. What the requests write and how reads are
 * checked is in content.ts.
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
import {
  BLOCK,
  bodyPool,
  checkStamps,
  type Expectation,
  expectedContent,
  hashWords,
  MAX_BS,
  Rng,
  SECTOR,
  WriteBuffer,
} from './content';
import { Latencies } from './latencies';

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
