import { DiskError } from '../core/errors';
import { pushRun } from '../core/extents';
import { LastSettled } from '../core/last-settled';
import { type Extent, ForwardingStore, type MaybePromise } from '../core/store';
import type { BaseImage } from '../stores/base-image';
import type { ClusterMapStore } from './cluster-map';
import { ReadAhead } from './read-ahead';

/**
 * A sequential reader's read-ahead: one Range request for the rest of the
 * unallocated stretch it reads into, up to STREAM_BYTES, read as it arrives
 * (see ReadAhead). One long response costs far less per byte than many
 * short ones (here 16 Range requests of 4 MiB take 2.4× one of 64 MiB).
 */
const STREAM_BYTES = 256 * 1024 * 1024;
/** How far the stream runs ahead of its reader before it pauses. */
const LEAD_BYTES = 32 * 1024 * 1024;
/** A stream paused this long (its reader stopped or went away) is cancelled. */
const IDLE_MS = 2000;
/** The largest single Range request of a plain fetch (a longer run goes as several at once). */
const PIECE = 32 * 1024 * 1024;

export interface OverlayOptions {
  streamBytes?: number;
  leadBytes?: number;
  idleMs?: number;
}

/**
 * A copy-on-write overlay: a cluster map whose unallocated clusters are a
 * read-only base image's bytes (QEMU's backing file). Writes stay local;
 * a discard makes clusters zero, not the base.
 *
 * - Reads of unallocated clusters fetch them from the base — adjacent ones
 *   in one request — and install them as local clusters (copy-on-read), so
 *   no byte is fetched twice, not even after a reboot.
 * - A write or discard that covers part of an unallocated cluster fetches
 *   that cluster first: the rest of it must keep the base's bytes.
 * - Installed clusters are ordinary allocations: their map entries become
 *   durable only after their data (the map never skips that sync in an
 *   overlay), so a crash shows the base or the installed copy, both the same.
 *
 * Requests take effect in call order: while one waits on the base, later
 * ones wait behind it (so none is fetched twice concurrently, and a read
 * sees the writes called before it). Without a fetch pending, calls pass
 * straight through at the cluster map's own cost.
 */
export class OverlayStore extends ForwardingStore {
  private fetched = 0;
  private readonly map: ClusterMapStore;
  private readonly base: BaseImage;
  /** Where a read continuing the last one would start (read-ahead follows it). */
  private sequentialFrom = -1;
  /** The last request that had to wait for the base (or for one that did). */
  private readonly waiting = new LastSettled();
  /** The sequential reader's stream, while it runs. */
  private stream: ReadAhead | undefined;
  private readonly streamBytes: number;
  private readonly leadBytes: number;
  private readonly idleMs: number;

  constructor(map: ClusterMapStore, base: BaseImage, o: OverlayOptions = {}) {
    super(map);
    this.map = map;
    this.base = base;
    this.streamBytes = o.streamBytes ?? STREAM_BYTES;
    this.leadBytes = o.leadBytes ?? LEAD_BYTES;
    this.idleMs = o.idleMs ?? IDLE_MS;
  }

  override read(offset: number, dst: Uint8Array): MaybePromise {
    const sequential = offset === this.sequentialFrom;
    this.sequentialFrom = offset + dst.length;
    // The stream's reader moved on (even through clusters already here): the stream follows.
    if (this.stream?.near(offset, dst.length)) this.stream.reachTo(offset + dst.length);
    return this.inOrder(
      () => this.fromBase(offset, dst.length, 'all').length > 0,
      () => this.readSlow(offset, dst, sequential),
      () => this.map.read(offset, dst),
    );
  }

  /**
   * A read that needs the base (or waited behind one that did): the local
   * part from the map, the rest from the running stream where it lies ahead
   * in it, else fetched — a sequential reader starts a stream.
   */
  private async readSlow(offset: number, dst: Uint8Array, sequential: boolean): Promise<void> {
    const runs = this.fromBase(offset, dst.length, 'all');
    // Queued behind a request that fetched, it may find everything local now.
    if (runs.length === 0) return this.map.read(offset, dst);
    let s = this.stream;
    let streamed: Extent[] = [];
    let fetch: Extent[] = runs;
    if (s?.near(offset, dst.length)) {
      [streamed, fetch] = split(runs, s.frontier, s.end);
    } else {
      // Its reader went elsewhere: stop pulling bytes nobody will read.
      s?.cancel();
      s = undefined;
      if (sequential) {
        // Reading front to back (a boot, a copy): stream from the last run on.
        s = this.startStream(runs[runs.length - 1], offset + dst.length);
        streamed = [runs[runs.length - 1]];
        fetch = runs.slice(0, -1);
      }
    }
    const pieces = fetch.flatMap(toPieces);
    const settled = await Promise.allSettled([
      this.readLocal(offset, dst, runs),
      s && streamed.length > 0 ? s.wait(streamed, offset, dst) : undefined,
      ...pieces.map((r) => this.fetch(r)),
    ]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const fetched = settled.slice(2).map((r) => (r as PromiseFulfilledResult<Uint8Array>).value);
    for (const [i, r] of pieces.entries()) {
      const from = Math.max(offset, r.offset);
      const to = Math.min(offset + dst.length, r.offset + r.length);
      if (to > from) dst.set(fetched[i].subarray(from - r.offset, to - r.offset), from - offset);
    }
    this.install(pieces, fetched);
  }

  /** The parts of [offset, offset + dst.length) outside `runs` (those come from the base), from the map. */
  private async readLocal(offset: number, dst: Uint8Array, runs: Extent[]): Promise<void> {
    const waits: MaybePromise[] = [];
    let at = offset;
    const end = offset + dst.length;
    for (const r of [...runs, { offset: end, length: 0 }]) {
      const to = Math.min(Math.max(r.offset, at), end);
      if (to > at) waits.push(this.map.read(at, dst.subarray(at - offset, to - offset)));
      at = Math.max(at, r.offset + r.length);
    }
    await Promise.all(waits);
  }

  /**
   * A stream from `run` on, over the unallocated clusters after it, up to
   * streamBytes (at least the run) or the base's end; it replaces any other.
   */
  private startStream(run: Extent, reach: number): ReadAhead {
    const cs = this.map.clusterSize;
    const baseEnd = this.base.identity.length;
    const limit = Math.min(baseEnd, run.offset + Math.max(run.length, this.streamBytes));
    let end = run.offset + run.length;
    if (end < limit) {
      const next = this.map.blockStatus(end, Math.min(limit, Math.ceil(limit / cs) * cs) - end)[0];
      if (next?.state === 'unallocated') end = Math.min(next.offset + next.length, limit);
    }
    this.stream?.cancel();
    const s = new ReadAhead(this.map, this.base.stream(run.offset, end - run.offset), run.offset, end, reach, {
      leadBytes: this.leadBytes,
      idleMs: this.idleMs,
      received: (n) => {
        this.fetched += n;
      },
      ended: (done) => {
        if (this.stream === done) this.stream = undefined;
      },
    });
    this.stream = s;
    return s;
  }

  override write(offset: number, src: Uint8Array): MaybePromise {
    // A write that waits must keep its own copy: a store is done with `src`
    // when the call returns (the core reuses its staging buffer at once).
    let copy: Uint8Array | undefined;
    return this.inOrder(
      () => this.fromBase(offset, src.length, 'partial').length > 0,
      async () => {
        const bytes = copy ?? src;
        await this.fillPartial(offset, bytes.length);
        await this.map.write(offset, bytes);
      },
      () => this.map.write(offset, src),
      () => {
        copy = src.slice();
      },
    );
  }

  override discard(offset: number, length: number): MaybePromise {
    return this.inOrder(
      () => this.fromBase(offset, length, 'partial').length > 0,
      async () => {
        await this.fillPartial(offset, length);
        await this.map.discard(offset, length);
      },
      () => this.map.discard(offset, length),
    );
  }

  override sync(): MaybePromise {
    return this.inOrder(
      () => false,
      () => Promise.resolve(this.map.sync()),
      () => this.map.sync(),
    );
  }

  override close(): MaybePromise {
    const closed = () => new DiskError('ECLOSED', 'The disk was closed.');
    return this.inOrder(
      () => false,
      () => {
        this.stream?.cancel(closed());
        return Promise.resolve(this.map.close());
      },
      () => {
        this.stream?.cancel(closed());
        return this.map.close();
      },
    );
  }

  /** The power is cut: a stream stops at once (its waiting requests fail ECLOSED), then the stores below. */
  override abandon(): void | Promise<void> {
    this.stream?.cancel(new DiskError('ECLOSED', 'The power was cut.'));
    return super.abandon();
  }

  /** The base, as DiskInfo shows it: its URL, or "blob". */
  get baseLabel(): string {
    const id = this.base.identity;
    return id.kind === 'url' ? this.base.label : 'blob';
  }

  /** What is not local yet reads the base, which may hold data: 'unallocated' is 'data' here. */
  override blockStatus(offset: number, length: number): Extent[] {
    const out: Extent[] = [];
    for (const e of this.map.blockStatus(offset, length)) {
      pushRun(out, e.offset, e.length, e.state === 'unallocated' ? 'data' : e.state);
    }
    return out;
  }

  /** Base bytes fetched so far (this session). */
  baseBytesFetched(): number {
    return this.fetched;
  }

  /** Every local change is dropped: the disk is its base again. */
  reset(): Promise<void> {
    return this.inOrder(
      () => true,
      () => {
        this.stream?.cancel();
        return this.map.clear();
      },
    ) as Promise<void>;
  }

  /**
   * Runs `slow` after every request still waiting, or at once if none is
   * and `needsBase()` says it must fetch; otherwise `fast` (default: `slow`)
   * passes straight through. `waits` runs first when `slow` will (a write
   * copies its bytes there).
   */
  private inOrder(
    needsBase: () => boolean,
    slow: () => Promise<void>,
    fast?: () => MaybePromise,
    waits?: () => void,
  ): MaybePromise {
    let r: Promise<void>;
    const tail = this.waiting.current;
    if (tail) {
      waits?.();
      r = tail.then(slow);
    } else if (needsBase() || !fast) {
      waits?.();
      r = slow();
    } else return fast();
    this.waiting.track(r);
    return r;
  }

  /**
   * The clusters of [offset, offset + length) that must come from the base,
   * as cluster-aligned runs within the base's length: every unallocated one
   * ('all', for a read) or only those the range covers in part ('partial',
   * for a write or discard: the rest of the cluster keeps the base's bytes).
   */
  private fromBase(offset: number, length: number, which: 'all' | 'partial'): Extent[] {
    const cs = this.map.clusterSize;
    const baseEnd = this.base.identity.length;
    // A range past the base's end may still start in its last cluster (partly the base's).
    if (length === 0 || Math.floor(offset / cs) * cs >= baseEnd) return [];
    const out: Extent[] = [];
    const add = (from: number, to: number) => {
      const start = Math.floor(from / cs) * cs;
      const end = Math.min(Math.ceil(to / cs) * cs, baseEnd);
      if (end <= start) return;
      const last = out.at(-1);
      if (last && last.offset + last.length >= start) last.length = Math.max(last.length, end - last.offset);
      else out.push({ offset: start, length: end - start, state: 'unallocated' });
    };
    const unallocated = (e: Extent) => e.state === 'unallocated';
    if (which === 'all') {
      for (const e of this.map.blockStatus(offset, length)) if (unallocated(e)) add(e.offset, e.offset + e.length);
      return out;
    }
    const end = offset + length;
    const firstCluster = Math.floor(offset / cs);
    const lastCluster = Math.floor((end - 1) / cs);
    if (offset % cs !== 0 && this.map.blockStatus(offset, 1).every(unallocated)) add(offset, offset + 1);
    if (end % cs !== 0 && (lastCluster !== firstCluster || offset % cs === 0)) {
      if (this.map.blockStatus(end - 1, 1).every(unallocated)) add(end - 1, end);
    }
    return out;
  }

  /**
   * Copies in the base's bytes of the clusters [offset, offset + length)
   * covers in part, committed as any allocating write is: the write that
   * follows goes in place and, once acknowledged, survives a crash of the
   * worker (`none` promises that).
   */
  private async fillPartial(offset: number, length: number): Promise<void> {
    const runs = this.fromBase(offset, length, 'partial');
    if (runs.length === 0) return;
    const s = this.stream;
    const bytesOf = async (r: Extent): Promise<Uint8Array> => {
      if (s?.live && r.offset >= s.frontier && r.offset + r.length <= s.end) {
        if (s.near(r.offset, r.length)) {
          // The stream brings it soon: it hands the bytes over without installing them.
          const bytes = new Uint8Array(r.length);
          await s.wait([r], r.offset, bytes, true);
          return bytes;
        }
        // Far ahead in the stream: fetched now, so the stream must not fetch it again.
        s.cancel();
      }
      return this.fetch(r);
    };
    const fetched = await Promise.allSettled(runs.map(bytesOf));
    const failed = fetched.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(
      runs.map((r, i) => this.map.write(r.offset, (fetched[i] as PromiseFulfilledResult<Uint8Array>).value)),
    );
  }

  /** The base's bytes of a cluster-aligned run, zeros past the base's end (a disk larger than its base). */
  private async fetch(run: Extent): Promise<Uint8Array> {
    const bytes = await this.base.read(run.offset, run.length);
    if (bytes.length !== run.length) {
      throw new DiskError('EIO', `${this.base.label} gave ${bytes.length} bytes for ${run.length}.`);
    }
    this.fetched += bytes.length;
    return bytes;
  }

  /**
   * Copy-on-read: fetched clusters become local ones. A failure (no space)
   * costs nothing but a fetch next time: they stay unallocated, still the base.
   */
  private install(runs: Extent[], fetched: Uint8Array[]): void {
    for (const [i, r] of runs.entries()) {
      try {
        const done = this.map.install(r.offset, fetched[i]);
        if (done instanceof Promise) done.catch(() => undefined);
      } catch {
        // Not installed: read from the base again next time.
      }
    }
  }
}

/** Cluster-aligned runs cut at [from, to): those inside, and the rest. */
function split(runs: Extent[], from: number, to: number): [Extent[], Extent[]] {
  const inside: Extent[] = [];
  const outside: Extent[] = [];
  for (const r of runs) {
    const end = r.offset + r.length;
    const a = Math.max(r.offset, from);
    const b = Math.min(end, to);
    if (b <= a) {
      outside.push(r);
      continue;
    }
    inside.push({ offset: a, length: b - a, state: r.state });
    if (a > r.offset) outside.push({ offset: r.offset, length: a - r.offset, state: r.state });
    if (end > b) outside.push({ offset: b, length: end - b, state: r.state });
  }
  return [inside, outside];
}

/** A run as runs of at most PIECE bytes (cluster-aligned: PIECE is a multiple of every cluster size). */
function toPieces(run: Extent): Extent[] {
  const out: Extent[] = [];
  for (let at = run.offset; at < run.offset + run.length; at += PIECE) {
    out.push({ offset: at, length: Math.min(PIECE, run.offset + run.length - at), state: run.state });
  }
  return out;
}
