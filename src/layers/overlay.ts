import { DiskError } from '../core/errors';
import { LastSettled } from '../core/last-settled';
import { ForwardingStore, type MaybePromise } from '../core/store';
import type { BaseImage } from '../stores/base-image';
import type { ClusterMapStore, Extent } from './cluster-map';

/**
 * Read-ahead for a sequential reader: past what it asked for, its request
 * reaches this far, doubling with every further sequential fetch (as Linux
 * read-ahead grows) up to MAX_AHEAD. Bigger requests are cheaper per byte:
 * here 16 Range requests of 4 MiB take 2.4× one of 64 MiB.
 */
const MIN_AHEAD = 4 * 1024 * 1024;
const MAX_AHEAD = 32 * 1024 * 1024;
/** The largest single Range request (a longer run goes as several at once). */
const PIECE = MAX_AHEAD;

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
  /** The current read-ahead (MIN_AHEAD..MAX_AHEAD). */
  private ahead = MIN_AHEAD;
  /** The last request that had to wait for the base (or for one that did). */
  private readonly waiting = new LastSettled();

  constructor(map: ClusterMapStore, base: BaseImage) {
    super(map);
    this.map = map;
    this.base = base;
  }

  override read(offset: number, dst: Uint8Array): MaybePromise {
    const sequential = offset === this.sequentialFrom;
    this.sequentialFrom = offset + dst.length;
    if (!sequential) this.ahead = MIN_AHEAD;
    return this.inOrder(
      () => this.fromBase(offset, dst.length, 'all').length > 0,
      async () => {
        let runs = this.fromBase(offset, dst.length, 'all');
        // Queued behind a request that fetched, it may find everything local now.
        if (runs.length === 0) return this.map.read(offset, dst);
        // Reading front to back (a boot, a copy): fetch ahead in the same
        // requests, and start fetching the next stretch while this one is used.
        const last = runs[runs.length - 1];
        if (sequential) {
          this.readAhead(last);
          this.ahead = Math.min(2 * this.ahead, MAX_AHEAD);
        }
        runs = runs.flatMap(pieces);
        const fetched = await Promise.all(runs.map((r) => this.fetch(r)));
        // The local part, then the base's over the unallocated part.
        await this.map.read(offset, dst);
        for (const [i, r] of runs.entries()) {
          const from = Math.max(offset, r.offset);
          const to = Math.min(offset + dst.length, r.offset + r.length);
          // Pieces read ahead lie past dst: installed only.
          if (to > from) dst.set(fetched[i].subarray(from - r.offset, to - r.offset), from - offset);
        }
        this.install(runs, fetched);
      },
      () => this.map.read(offset, dst),
    );
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
    return this.inOrder(
      () => false,
      () => Promise.resolve(this.map.close()),
      () => this.map.close(),
    );
  }

  /** The base, as DiskInfo shows it: its URL, or "blob". */
  get baseLabel(): string {
    const id = this.base.identity;
    return id.kind === 'url' ? this.base.label : 'blob';
  }

  /** Base bytes fetched so far (this session). */
  baseBytesFetched(): number {
    return this.fetched;
  }

  /** Every local change is dropped: the disk is its base again. */
  reset(): Promise<void> {
    return this.inOrder(
      () => true,
      () => this.map.clear(),
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
    if (length === 0 || offset >= baseEnd) return [];
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

  /** Extends a run over the unallocated clusters after it, up to the read-ahead more. */
  private readAhead(run: Extent): void {
    const cs = this.map.clusterSize;
    const limit = Math.min(this.base.identity.length, run.offset + run.length + this.ahead);
    let at = run.offset + run.length;
    while (at < limit && this.map.blockStatus(at, 1)[0]?.state === 'unallocated') at = Math.min(at + cs, limit);
    run.length = at - run.offset;
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
    const fetched = await Promise.all(runs.map((r) => this.fetch(r)));
    await Promise.all(runs.map((r, i) => this.map.write(r.offset, fetched[i])));
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

/** A run as runs of at most PIECE bytes (cluster-aligned: PIECE is a multiple of every cluster size). */
function pieces(run: Extent): Extent[] {
  const out: Extent[] = [];
  for (let at = run.offset; at < run.offset + run.length; at += PIECE) {
    out.push({ offset: at, length: Math.min(PIECE, run.offset + run.length - at), state: run.state });
  }
  return out;
}
