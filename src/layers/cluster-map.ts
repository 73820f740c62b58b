import { crc32 } from '../core/crc32';
import { type Deferred, deferred } from '../core/deferred';
import { DiskError } from '../core/errors';
import { pushRun } from '../core/extents';
import { LastSettled } from '../core/last-settled';
import { nextTask } from '../core/next-task';
import { eachPiece } from '../core/pieces';
import { allDone, type BlockStore, type Extent, type MaybePromise } from '../core/store';
import type { BaseIdentity } from '../stores/base-image';

/**
 * A thin disk over two plain files, the way qcow2's L1/L2 tables make
 * one: a dense data file of physical clusters, and a map saying where each
 * virtual cluster is — unallocated, zero, or physical cluster n. Space used
 * follows what was written, not the disk's size or its highest offset (a
 * browser counts a file's length against the quota, holes or not).
 *
 * Crash safety is the order of durable updates:
 * - A newly allocated cluster's data is written and synced before the map
 *   entry that points at it is written: a map entry never reaches the
 *   disk before its data. Overwrites of allocated clusters go in place and
 *   cost what they cost on a raw file.
 * - A freed cluster is reused only once the map change that freed it is
 *   durable: a crash can never show one region's bytes in another.
 * - Map entries change independently (unallocated/zero → cluster n, or
 *   cluster n → zero) and L2 tables are appended, never moved: a map page
 *   torn by a crash mixes old and new entries, each valid on its own.
 * A write that allocates completes once its map entry is written (not yet
 * synced): a crash of the worker cannot lose it. Allocations issued in one
 * burst share one data sync and one map write (group commit).
 *
 * An overlay's map (format 2) also records its base image's identity, and
 * there "unallocated" means "the base's bytes" (the overlay layer reads
 * them) while "zero" means zeros: a discard shows zeros, not the base.
 *
 * Map file: page 0 is a header (CRC-checked, written once); then the L1
 * table (one u32 per L2 table: the page holding it, 0 for none); then L2
 * tables, one 4 KiB page each (one u32 per cluster: 0 unallocated, 1 zero,
 * n ≥ 2 physical cluster n − 2).
 */

const PAGE = 4096;
/** Entries per L2 table. */
const PER_L2 = PAGE / 4;
const MAGIC = 0x504d4457; // "WDMP"
/** Format 1: a thin disk. Format 2: an overlay (the header records its base). */
const FORMAT = 1;
const FORMAT_OVERLAY = 2;
const UNALLOCATED = 0;
const ZERO = 1;
/** A physical cluster's entry value. */
const FIRST_PHYSICAL = 2;

export interface ClusterMapGeometry {
  clusterSize: number;
  diskSize: number;
  /** An overlay's base: its unallocated clusters are the base's bytes, not zeros. */
  base?: BaseIdentity;
}

export class ClusterMapStore implements BlockStore {
  readonly clusterSize: number;
  readonly diskSize: number;
  /** The overlay's base, as recorded at creation (undefined: a plain thin disk). */
  readonly base: BaseIdentity | undefined;
  private readonly data: BlockStore;
  private readonly map: BlockStore;
  private readonly l1: Uint32Array;
  private readonly l1Pages: number;
  private readonly l2 = new Map<number, Uint32Array>();
  /** L2 tables (by L1 index) and L1 pages changed since the map was last written. */
  private readonly dirtyL2 = new Set<number>();
  private readonly dirtyL1 = new Set<number>();
  /** L2 tables created since the map was last written: their pages must be durable before L1 points at them. */
  private newTables = false;
  /** The next map page an L2 table can take. */
  private nextPage: number;
  /** Physical clusters in the data file (allocated or free). */
  private clusters: number;
  private readonly free: number[] = [];
  /** Freed clusters waiting for their map change to become durable. */
  private pendingFree: number[] = [];
  /** Freed clusters whose map change has been written, awaiting the next map sync. */
  private writtenFree: number[] = [];
  private used: number;
  /** Data written (anywhere) since the last data sync. */
  private dataDirty = false;
  /** Clusters that held other data, reused since the last data sync: the map must not point at them before one. */
  private newClusters = false;
  /**
   * Physical clusters from here on were never written by anyone (past the
   * end of the data file at open and of everything handed out since): until
   * their data is durable they read as zeros, which is what their virtual
   * cluster held before, so their map entries need not wait for a sync.
   */
  private pristineFrom = Number.POSITIVE_INFINITY;
  /**
   * Virtual clusters allocated (by write() or install()) whose map entries
   * no commit has taken yet, and those the running commit is writing. A
   * later write or discard into one is acknowledged only once a commit has
   * written its entry: the cluster's own allocating write may still be
   * waiting for it, and without the entry a crash of the worker shows the
   * cluster's old content, losing an acknowledged write (in `none`, which
   * acknowledges without a sync).
   */
  private unmapped = new Set<number>();
  private mapping = new Set<number>();
  /** Map pages written since the last map sync. */
  private mapDirty = false;
  private epoch: Deferred | undefined;
  /** A commit whose data sync or map writes are still completing (asynchronous stores). */
  private readonly commits = new LastSettled();
  private scheduled = false;
  private readonly scratch: Uint8Array;
  /**
   * Map changes are committed in the call that made them, not gathered
   * with the next task: for a disk driven by the core's synchronous calls
   * (wa-sqlite's sync build), whose caller cannot wait for a task. A commit
   * per allocating call instead of per burst.
   */
  commitAtOnce = false;

  /** Use `open()`: it reads or creates the map. */
  constructor(data: BlockStore, map: BlockStore, g: ClusterMapGeometry) {
    this.data = data;
    this.map = map;
    this.clusterSize = g.clusterSize;
    this.diskSize = g.diskSize;
    this.base = g.base;
    const l1Entries = Math.ceil(Math.ceil(g.diskSize / g.clusterSize) / PER_L2);
    this.l1Pages = Math.max(1, Math.ceil((l1Entries * 4) / PAGE));
    this.l1 = new Uint32Array(this.l1Pages * PER_L2);
    this.nextPage = 1 + this.l1Pages;
    this.clusters = 0;
    this.used = 0;
    this.scratch = new Uint8Array(g.clusterSize);
  }

  /**
   * Opens the map in `map` over the clusters in `data`. A map file never
   * written is created with `create`'s geometry (header written and synced
   * first); without `create` a missing map is ECORRUPT.
   */
  static async open<T extends ClusterMapStore>(
    this: new (
      data: BlockStore,
      map: BlockStore,
      g: ClusterMapGeometry,
    ) => T,
    data: BlockStore,
    map: BlockStore,
    create?: ClusterMapGeometry,
  ): Promise<T> {
    const head = new Uint8Array(PAGE);
    await map.read(0, head);
    let g = decodeHeader(head);
    if (!g) {
      if (head.some((b) => b !== 0)) {
        throw new DiskError('ECORRUPT', 'The disk’s cluster map is unreadable: its header is damaged.');
      }
      // Never written: a disk whose creation did not get this far.
      if (!create) throw new DiskError('EINVAL', 'The disk does not exist: give its size to create it.');
      checkGeometry(create);
      g = create;
      await map.write(0, encodeHeader(g));
      await map.sync();
    }
    const store = new this(data, map, g);
    await store.load();
    return store;
  }

  /** The geometry (and an overlay's base) recorded in `map`; undefined for a map never written. */
  static async recorded(map: BlockStore): Promise<ClusterMapGeometry | undefined> {
    const head = new Uint8Array(PAGE);
    await map.read(0, head);
    return decodeHeader(head);
  }

  /** Reads L1 and every L2 table; finds the used and the free physical clusters. */
  private async load(): Promise<void> {
    await this.map.read(PAGE, new Uint8Array(this.l1.buffer));
    const totalClusters = Math.ceil(this.diskSize / this.clusterSize);
    let maxPhysical = -1;
    for (let i = 0; i < this.l1.length; i++) {
      const page = this.l1[i];
      if (page === 0) continue;
      if (page <= this.l1Pages || i * PER_L2 >= totalClusters) {
        throw new DiskError('ECORRUPT', `The disk’s cluster map is damaged: L1 entry ${i} points at page ${page}.`);
      }
      const table = new Uint32Array(PER_L2);
      await this.map.read(page * PAGE, new Uint8Array(table.buffer));
      for (const e of table)
        if (e >= FIRST_PHYSICAL && e - FIRST_PHYSICAL > maxPhysical) maxPhysical = e - FIRST_PHYSICAL;
      this.l2.set(i, table);
      if (page >= this.nextPage) this.nextPage = page + 1;
    }
    // Which physical clusters are in use: each by exactly one virtual cluster.
    const inUse = new Uint8Array(maxPhysical + 1);
    for (const [i, table] of this.l2) {
      for (let j = 0; j < PER_L2; j++) {
        if (table[j] < FIRST_PHYSICAL) continue;
        const p = table[j] - FIRST_PHYSICAL;
        if (inUse[p]) {
          throw new DiskError(
            'ECORRUPT',
            `The disk’s cluster map is damaged: physical cluster ${p} is mapped twice (again at cluster ${i * PER_L2 + j}).`,
          );
        }
        inUse[p] = 1;
        this.used++;
      }
    }
    this.clusters = maxPhysical + 1;
    const end = this.data.byteLength?.() ?? Number.NaN;
    // In an overlay an unallocated cluster shows the base, not zeros: no cluster is pristine there.
    if (Number.isFinite(end) && !this.base)
      this.pristineFrom = Math.max(this.clusters, Math.ceil(end / this.clusterSize));
    // Free: the unused ones below the highest used. (Clusters past it —
    // written by a session that crashed before mapping them — are reused too.)
    for (let p = this.clusters - 1; p >= 0; p--) if (!inUse[p]) this.free.push(p);
  }

  // ------------------------------------------------------------------- BlockStore

  /** The data file's: blockStatus() says 'data' only where a cluster is mapped, so only such gaps are filled. */
  get mergeGap(): number | undefined {
    return this.data.mergeGap;
  }

  read(offset: number, dst: Uint8Array): MaybePromise {
    const waits: MaybePromise[] = [];
    this.eachRun(offset, dst.length, (phys, at, n) => {
      if (phys < 0) dst.fill(0, at, at + n);
      else waits.push(this.data.read(phys, dst.subarray(at, at + n)));
    });
    return allDone(waits);
  }

  write(offset: number, src: Uint8Array): MaybePromise {
    return this.place(offset, src, true);
  }

  /**
   * Writes like write(), but the map entries of clusters it allocates wait
   * for the next commit (a sync, or another allocating write) instead of
   * making one: for bytes that need not be durable because, until they are
   * mapped, the same bytes are still where they came from (an overlay's
   * copy-on-read). Saves a data sync per install.
   */
  install(offset: number, src: Uint8Array): MaybePromise {
    return this.place(offset, src, false);
  }

  private place(offset: number, src: Uint8Array, commit: boolean): MaybePromise {
    if (src.length === 0) return;
    const waits: MaybePromise[] = [];
    const cs = this.clusterSize;
    // New clusters first: allocated (their map entries wait for the next
    // commit), and the partly covered ones — only the first and the last
    // can be — written whole, the rest zeros, so no stale bytes of a
    // reused cluster show.
    let from = offset;
    let to = offset + src.length;
    /** Clusters this write allocated: virtual, its entry before, physical. */
    const fresh: [number, number, number][] = [];
    /** It writes into a cluster whose map entry is not written yet: it must wait for a commit. */
    let intoUnmapped = false;
    try {
      this.eachCluster(offset, src.length, (v, within, at, n) => {
        const old = this.entry(v);
        if (old >= FIRST_PHYSICAL) {
          if (commit && this.isUnmapped(v)) intoUnmapped = true;
          return;
        }
        const p = this.allocate();
        this.setEntry(v, p + FIRST_PHYSICAL);
        this.unmapped.add(v);
        fresh.push([v, old, p]);
        if (n === cs) return;
        this.scratch.fill(0);
        this.scratch.set(src.subarray(at, at + n), within);
        waits.push(this.data.write(p * cs, this.scratch));
        if (at === 0) from = offset + n;
        else to = offset + at;
      });
      // Then every byte of the range in place, physically contiguous runs as one write.
      if (to > from) {
        this.eachRun(from, to - from, (phys, at, n) => {
          const start = from - offset + at;
          waits.push(this.data.write(phys, src.subarray(start, start + n)));
        });
      }
    } catch (err) {
      // The data file refused (no space, power cut): the new clusters go
      // back, unmapped, and the range reads as before.
      this.rollBack(fresh, err);
    }
    this.dataDirty = true;
    if (fresh.length > 0) {
      const written = allDone(waits);
      // An asynchronous store (IndexedDB) fails later: the new clusters go
      // back then, before a commit could map them over data never written.
      if (written instanceof Promise) {
        waits.length = 0;
        waits.push(written.catch((err: unknown) => this.rollBack(fresh, err)));
      }
      if (commit) waits.push(this.commitLater());
    } else if (intoUnmapped) waits.push(this.commitLater());
    return allDone(waits);
  }

  /** Whole clusters become zero (their space freed for reuse); partial ones are zeroed in place. */
  discard(offset: number, length: number): MaybePromise {
    const waits: MaybePromise[] = [];
    let changed = false;
    this.eachCluster(offset, length, (v, within, _at, n) => {
      const e = this.entry(v);
      if (n === this.clusterSize) {
        if (e === ZERO) return;
        if (e >= FIRST_PHYSICAL) {
          this.pendingFree.push(e - FIRST_PHYSICAL);
          this.used--;
        }
        this.setEntry(v, ZERO);
        changed = true;
      } else if (e >= FIRST_PHYSICAL) {
        this.scratch.fill(0, 0, n);
        waits.push(this.data.write((e - FIRST_PHYSICAL) * this.clusterSize + within, this.scratch.subarray(0, n)));
        this.dataDirty = true;
        if (this.isUnmapped(v)) changed = true;
      }
    });
    if (changed) waits.push(this.commitLater());
    return allDone(waits);
  }

  /** A commit of the changes made so far: with the next task, or now (commitAtOnce). */
  private commitLater(): MaybePromise {
    return this.commitAtOnce ? this.commitInTurn() : this.commitSoon();
  }

  /** Data durable, then the map written and durable; freed clusters become reusable. */
  sync(): MaybePromise {
    // After every commit on its way (their map writes must come before this sync), then this one.
    return then(this.settleCommits(), () => {
      // What a sync covers counts as clean only once it has succeeded: a
      // failed one (no space, power cut) leaves it for the next.
      const dataSync = this.dataDirty ? this.syncData() : undefined;
      const freed = this.writtenFree;
      this.writtenFree = [];
      const mapSync = this.mapDirty
        ? orElse(
            () => {
              this.mapDirty = false;
              return this.map.sync();
            },
            () => {
              this.mapDirty = true;
              this.writtenFree.push(...freed);
            },
          )
        : undefined;
      return then(allDone([dataSync, mapSync]), () => this.release(freed));
    });
  }

  /**
   * Forgets every cluster: all unallocated again (an overlay shows its base
   * again, a thin disk zeros). What was pending is synced first; then the
   * emptied L1 is made durable before the data file is cut, so no map
   * entry can point at data that is gone.
   */
  async clear(): Promise<void> {
    await this.sync();
    const before = this.clusters;
    this.l1.fill(0);
    this.l2.clear();
    this.dirtyL2.clear();
    this.dirtyL1.clear();
    this.newTables = false;
    this.nextPage = 1 + this.l1Pages;
    this.clusters = 0;
    this.used = 0;
    this.free.length = 0;
    this.pendingFree = [];
    this.writtenFree = [];
    this.dataDirty = false;
    this.newClusters = false;
    this.unmapped.clear();
    this.mapping.clear();
    this.pristineFrom = Number.POSITIVE_INFINITY;
    for (let page = 0; page < this.l1Pages; page++) {
      await this.map.write((1 + page) * PAGE, new Uint8Array(PAGE));
    }
    await this.map.sync();
    if (before > 0) await this.data.discard?.(0, before * this.clusterSize);
  }

  close(): MaybePromise {
    const done = this.sync();
    const closeBoth = () => allDone([this.data.close(), this.map.close()]);
    if (done instanceof Promise) return done.then(closeBoth);
    return closeBoth();
  }

  // ---------------------------------------------------------- allocation state

  /** Bytes of data clusters in use. */
  allocatedBytes(): number {
    return this.used * this.clusterSize;
  }

  /** The allocation state of [offset, offset + length), as runs. */
  blockStatus(offset: number, length: number): Extent[] {
    const out: Extent[] = [];
    this.eachCluster(offset, length, (v, _within, at, n) => {
      const e = this.entry(v);
      pushRun(out, offset + at, n, e >= FIRST_PHYSICAL ? 'data' : e === ZERO ? 'zero' : 'unallocated');
    });
    return out;
  }

  // ------------------------------------------------------------------ internals

  private entry(v: number): number {
    const table = this.l2.get(Math.floor(v / PER_L2));
    return table ? table[v % PER_L2] : UNALLOCATED;
  }

  private setEntry(v: number, value: number): void {
    const i = Math.floor(v / PER_L2);
    let table = this.l2.get(i);
    if (!table) {
      table = new Uint32Array(PER_L2);
      this.l2.set(i, table);
      // A new table takes a fresh page, never one in use: until its L1 entry
      // is durable the page is not referenced, and reads of it give zeros.
      this.l1[i] = this.nextPage++;
      this.dirtyL1.add(Math.floor(i / PER_L2));
      this.newTables = true;
    }
    table[v % PER_L2] = value;
    this.dirtyL2.add(i);
  }

  private allocate(): number {
    this.used++;
    const p = this.free.pop() ?? this.clusters++;
    if (p < this.pristineFrom) this.newClusters = true;
    else this.pristineFrom = p + 1;
    return p;
  }

  /** Unmaps clusters a failed write allocated (those still mapped as it left them) and fails with its error. */
  private rollBack(fresh: [number, number, number][], err: unknown): never {
    for (const [v, old, p] of fresh.reverse()) {
      if (this.entry(v) !== p + FIRST_PHYSICAL) continue;
      this.setEntry(v, old);
      this.free.push(p);
      this.used--;
    }
    throw err;
  }

  /** Its map entry is not in the map file yet (a commit that covers it is scheduled or running). */
  private isUnmapped(v: number): boolean {
    return this.unmapped.has(v) || this.mapping.has(v);
  }

  /** Freed clusters become reusable; a free tail of the data file is cut off. */
  private release(freed: number[]): MaybePromise {
    for (const p of freed) this.free.push(p);
    const before = this.clusters;
    if (freed.length === 0) return;
    const free = new Set(this.free);
    while (this.clusters > 0 && free.has(this.clusters - 1)) {
      free.delete(this.clusters - 1);
      this.clusters--;
    }
    if (this.clusters === before) return;
    this.free.length = 0;
    for (const p of free) this.free.push(p);
    this.free.sort((a, b) => b - a);
    const end = this.clusters * this.clusterSize;
    return this.data.discard?.(end, (before - this.clusters) * this.clusterSize);
  }

  /**
   * Commits what is pending, once every commit already running has ended.
   * Waiting only for the one running when the sync was called is not
   * enough: the next task's commit may start meanwhile and take this
   * sync's changes — a sync that did not wait for it would then make the
   * map durable without them (found by the IndexedDB overlay's crash test).
   */
  private settleCommits(): MaybePromise {
    const running = this.commits.current;
    if (running) return running.then(() => this.settleCommits());
    return then(this.commit(), () => (this.commits.current ? this.settleCommits() : undefined));
  }

  /**
   * A commit once the running one (if any) has ended. Commits never
   * overlap: one still waiting to write its new table's L1 entry would
   * otherwise be overtaken by the next, and a sync that waited for the
   * next could make the map durable without that L1 entry.
   */
  private commitInTurn(): MaybePromise {
    const running = this.commits.current;
    if (running) return running.then(() => this.commitInTurn());
    return this.commit();
  }

  /** Writes the map changes with the next task (or the next sync, if sooner). */
  private commitSoon(): Promise<void> {
    this.epoch ??= deferred();
    if (!this.scheduled) {
      this.scheduled = true;
      nextTask(() => {
        this.scheduled = false;
        try {
          const r = this.commitInTurn();
          if (r instanceof Promise) r.catch(() => undefined);
        } catch {
          // The writes waiting on this commit have its error.
        }
      });
    }
    return this.epoch.done;
  }

  /**
   * Makes the pending map changes reach the map file: data synced first
   * when new clusters were written, then the dirty L2 tables and L1 pages
   * as they were when the sync was issued (changes made meanwhile wait for
   * the next commit: their data is not covered by this sync).
   */
  private commit(): MaybePromise {
    // Changes left by a commit that failed go with the next one, awaited or not.
    const leftOver = this.dirtyL2.size > 0 || this.dirtyL1.size > 0 || this.pendingFree.length > 0;
    if (!this.epoch && !leftOver) return;
    const epoch = this.epoch ?? deferred();
    this.epoch = undefined;
    const l2Pages: [number, Uint8Array][] = [];
    for (const i of this.dirtyL2) {
      l2Pages.push([this.l1[i] * PAGE, new Uint8Array((this.l2.get(i) as Uint32Array).slice().buffer)]);
    }
    const l1Pages: [number, Uint8Array][] = [];
    for (const page of this.dirtyL1) {
      l1Pages.push([(1 + page) * PAGE, new Uint8Array(this.l1.slice(page * PER_L2, (page + 1) * PER_L2).buffer)]);
    }
    // A new table's page may hold a crashed session's stale table: it is
    // written and made durable before an L1 entry points at it.
    const newTables = this.newTables;
    this.newTables = false;
    this.dirtyL2.clear();
    this.dirtyL1.clear();
    const freed = this.pendingFree;
    this.pendingFree = [];
    const mapping = this.unmapped;
    this.unmapped = new Set();
    this.mapping = mapping;
    const hadNewClusters = this.newClusters;
    const fail = (err: unknown): never => {
      // Not written: the changes wait for the next commit (the writes that waited on this one fail).
      for (const [at] of l2Pages) {
        for (const [i, page] of this.l1.entries()) if (page * PAGE === at) this.dirtyL2.add(i);
      }
      for (const [at] of l1Pages) this.dirtyL1.add(at / PAGE - 1);
      this.newTables ||= newTables;
      this.newClusters ||= hadNewClusters;
      this.pendingFree.push(...freed);
      for (const v of mapping) this.unmapped.add(v);
      if (this.mapping === mapping) this.mapping = new Set();
      epoch.reject(err);
      throw err;
    };
    try {
      const synced = this.newClusters ? this.syncDataBeforeMap() : undefined;
      const writeAll = (pages: [number, Uint8Array][]) =>
        allDone(pages.map(([at, bytes]) => this.map.write(at, bytes)));
      const r = then(synced, () => {
        const tables = writeAll(l2Pages);
        const written = newTables
          ? then(tables, () => then(this.map.sync(), () => writeAll(l1Pages)))
          : allDone([tables, writeAll(l1Pages)]);
        this.mapDirty = true;
        this.writtenFree.push(...freed);
        return then(written, () => {
          if (this.mapping === mapping) this.mapping = new Set();
          epoch.resolve();
        });
      });
      if (!(r instanceof Promise)) return r;
      const running = r.catch(fail);
      this.commits.track(running);
      return running;
    } catch (err) {
      fail(err);
    }
  }

  /**
   * The rule the map's crash safety rests on: new clusters' data is durable
   * before any map entry points at it. (A test overrides this to show the
   * power-loss checks catch a map written first.)
   */
  protected syncDataBeforeMap(): MaybePromise {
    this.newClusters = false;
    return this.syncData();
  }

  /** Syncs the data file; the data stays dirty if that fails. */
  private syncData(): MaybePromise {
    return orElse(
      () => {
        this.dataDirty = false;
        return this.data.sync();
      },
      () => {
        this.dataDirty = true;
      },
    );
  }

  /** Calls fn per cluster piece of [offset, offset + length): virtual cluster, offset in it, offset in the range, bytes. */
  private eachCluster(
    offset: number,
    length: number,
    fn: (v: number, within: number, at: number, n: number) => void,
  ): void {
    eachPiece(offset, length, this.clusterSize, fn);
  }

  /** Like eachCluster, with physically contiguous pieces merged: phys −1 for zeros. */
  private eachRun(offset: number, length: number, fn: (phys: number, at: number, n: number) => void): void {
    let runPhys = -1;
    let runAt = 0;
    let runLen = 0;
    const flush = () => {
      if (runLen > 0) fn(runPhys, runAt, runLen);
    };
    this.eachCluster(offset, length, (v, within, at, n) => {
      const e = this.entry(v);
      const phys = e >= FIRST_PHYSICAL ? (e - FIRST_PHYSICAL) * this.clusterSize + within : -1;
      const follows = runLen > 0 && (phys < 0 ? runPhys < 0 : runPhys >= 0 && runPhys + runLen === phys);
      if (follows) {
        runLen += n;
        return;
      }
      flush();
      runPhys = phys;
      runAt = at;
      runLen = n;
    });
    flush();
  }
}

/** Runs `op`; if it fails (at once or later), runs `undo` and fails the same way. */
function orElse(op: () => MaybePromise, undo: () => void): MaybePromise {
  let r: MaybePromise;
  try {
    r = op();
  } catch (err) {
    undo();
    throw err;
  }
  if (r instanceof Promise) {
    return r.catch((err: unknown) => {
      undo();
      throw err;
    });
  }
  return r;
}

/** Runs `next` after `r`: at once when `r` completed synchronously. */
function then(r: MaybePromise, next: () => MaybePromise): MaybePromise {
  return r instanceof Promise ? r.then(next) : next();
}

function checkGeometry(g: ClusterMapGeometry): void {
  const cs = g.clusterSize;
  if (!Number.isSafeInteger(cs) || cs < 4096 || cs > 2 * 1024 * 1024 || (cs & (cs - 1)) !== 0) {
    throw new DiskError('EINVAL', `clusterSize ${cs} is invalid: use a power of two from 4096 to 2097152.`);
  }
}

function encodeHeader(g: ClusterMapGeometry): Uint8Array {
  const page = new Uint8Array(PAGE);
  const view = new DataView(page.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, g.base ? FORMAT_OVERLAY : FORMAT, true);
  view.setUint32(8, g.clusterSize, true);
  view.setFloat64(12, g.diskSize, true);
  view.setUint32(20, crc32(page.subarray(0, 20)), true);
  if (g.base) {
    // The base's identity: its length, then JSON, then a CRC of both.
    const json = new TextEncoder().encode(JSON.stringify(g.base));
    if (28 + json.length + 4 > PAGE)
      throw new DiskError('EINVAL', 'The base URL is too long to record (over 3.5 KiB).');
    view.setUint32(24, json.length, true);
    page.set(json, 28);
    view.setUint32(28 + json.length, crc32(page.subarray(24, 28 + json.length)), true);
  }
  return page;
}

function decodeHeader(page: Uint8Array): ClusterMapGeometry | undefined {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  if (view.getUint32(20, true) !== crc32(page.subarray(0, 20))) return undefined;
  const format = view.getUint32(4, true);
  if (format > FORMAT_OVERLAY) {
    throw new DiskError('ENOTSUP', 'The disk’s cluster map was made by a newer webdisk: update webdisk to open it.');
  }
  const g: ClusterMapGeometry = { clusterSize: view.getUint32(8, true), diskSize: view.getFloat64(12, true) };
  if (format === FORMAT_OVERLAY) {
    const n = view.getUint32(24, true);
    const ok = 28 + n + 4 <= PAGE && view.getUint32(28 + n, true) === crc32(page.subarray(24, 28 + n));
    if (!ok) throw new DiskError('ECORRUPT', 'The overlay’s record of its base is damaged.');
    g.base = JSON.parse(new TextDecoder().decode(page.subarray(28, 28 + n))) as BaseIdentity;
  }
  return g;
}
