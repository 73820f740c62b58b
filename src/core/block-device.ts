import { SHARED_CTRL, sharedCacheViews } from '../protocol/shared-cache';
import { BlockCache } from './block-cache';
import { CACHE_POLICY, type CachePolicy } from './cache-modes';
import { deferred } from './deferred';
import { DiskError, toDiskError } from './errors';
import { withData } from './extents';
import { type DiskMeta, META_VERSION, readMeta, writeMeta } from './metadata';
import { drive, driveNow, type Steps, wait } from './steps';
import { type BlockStore, discardRange, type Extent, type MaybePromise, statusOf } from './store';
import { type CacheMode, type DiskStats, emptyStats } from './types';
import {
  checkBlockSize,
  checkCacheMode,
  checkCacheSize,
  checkData,
  checkDiskSize,
  checkRange,
  MAX_IO_BYTES,
} from './validate';

export const DEFAULT_BLOCK_SIZE = 4096;
export const DEFAULT_CACHE_SIZE = 64 * 1024 * 1024;
/** Largest single store write when writing back a contiguous dirty run. */
const MAX_RUN_BYTES = 1024 * 1024;
/**
 * Reads and writes at least this large go around the worker cache: a
 * write straight to the store (never less durable than a cached one), a
 * read straight from it with newer cached blocks laid on top. Streaming
 * I/O then costs one copy instead of three and does not flush the cache
 * of everything useful.
 */
export const BYPASS_BYTES = 256 * 1024;
/** Runs one blockStatus answer carries at most: it fits a ring slot's reply text. */
export const MAX_STATUS_RUNS = 12;
/**
 * Bytes of store writes issued and not yet complete before a request waits
 * for the oldest: requests that do not wait for their store writes (a
 * store that commits later, as IndexedDB does) still use bounded memory.
 */
const MAX_OUTSTANDING_BYTES = 64 * 1024 * 1024;

export interface DeviceOptions {
  /** The raw image. */
  data: BlockStore;
  /** The small metadata store (two slots). */
  meta: BlockStore;
  /** Bytes; required to create, must match if given for an existing disk. */
  size?: number;
  blockSize?: number;
  cacheSize?: number;
  cache?: CacheMode;
  /** Requests at least this large go around the cache (default BYPASS_BYTES; tests lower it). */
  bypassBytes?: number;
  /** Keep the block cache in shared memory the page reads under a sequence lock (protocol/shared-cache.ts). */
  sharedCache?: boolean;
}

/**
 * The block core: validation, the cache-mode policy, the bounded block
 * cache and write-back, flush ordering and statistics. Pure TypeScript over
 * two BlockStores, so the same code runs in the disk worker and under Node.
 *
 * Requests run one at a time in issue order (a read issued after a write
 * sees it), whether or not callers await between them.
 */
export class BlockDevice {
  readonly size: number;
  readonly blockSize: number;
  /** The previous session did not close cleanly. */
  readonly uncleanShutdown: boolean;

  private mode: CacheMode;
  private policy: CachePolicy;
  private readonly cache: BlockCache;
  private readonly data: BlockStore;
  private readonly metaStore: BlockStore;
  private meta: DiskMeta;
  private readonly counters: DiskStats = emptyStats();
  private readonly bypassBytes: number;
  /** Store writes and discards issued so far, and how many of them a completed sync covers. */
  private writeSeq = 0;
  private syncedSeq = 0;
  /** The group commit's sync, queued and not started yet: a request that wants a sync joins it. */
  private groupSync: Promise<void> | undefined;
  /** The last sync the store handed out: a store that groups returns the same one to joiners. */
  private lastSync: Promise<void> | undefined;
  private closed = false;
  /**
   * The "not cleanly closed" flag could not be made durable at open (no
   * space): nothing may reach the store until it is. Reads work.
   */
  private flagPending = false;
  private queue: Promise<void> = Promise.resolve();
  /** Requests (and group syncs) queued whose work has not ended: a synchronous call may run only when none is. */
  private queued = 0;
  /** A synchronous call (readIntoSync…) is running: a sync it wants happens in the call, not in a group. */
  private syncCall = false;
  /** Completions the running request's answer waits for, but later requests need not. */
  private deferred: Promise<unknown>[] | undefined;
  /** Store writes issued and not yet complete, oldest first (bounds their memory). */
  private readonly outstanding: { done: Promise<unknown>; bytes: number }[] = [];
  private outstandingBytes = 0;
  /** The shared cache's sequence lock (odd while requests run), if the cache is shared. */
  private readonly seq: Int32Array | undefined;
  /** Requests not settled yet: the shared cache may change while there are any. */
  private running = 0;
  /** Reused staging buffer for coalesced store I/O. */
  private staging = new Uint8Array(0);
  private readStaging = new Uint8Array(0);

  private constructor(opts: {
    data: BlockStore;
    meta: BlockStore;
    diskMeta: DiskMeta;
    cacheSize: number;
    mode: CacheMode;
    unclean: boolean;
    bypassBytes: number;
    sharedCache: boolean;
  }) {
    this.bypassBytes = opts.bypassBytes;
    this.data = opts.data;
    this.metaStore = opts.meta;
    this.meta = opts.diskMeta;
    this.size = opts.diskMeta.size;
    this.blockSize = opts.diskMeta.blockSize;
    this.uncleanShutdown = opts.unclean;
    this.mode = opts.mode;
    this.policy = CACHE_POLICY[opts.mode];
    this.cache = new BlockCache(this.blockSize, opts.cacheSize, { shared: opts.sharedCache });
    if (this.cache.sharedBuffer) this.seq = sharedCacheViews(this.cache.sharedBuffer).ctrl;
    this.counters.cacheCapacityBytes = this.cache.capacity * this.blockSize;
  }

  /**
   * Opens (or creates, when `size` is given and there is no metadata) a
   * disk. Before returning it makes the "not cleanly closed" flag durable,
   * so any write of this session is covered by it.
   */
  static async open(opts: DeviceOptions): Promise<BlockDevice> {
    const mode = checkCacheMode(opts.cache ?? 'writeback');
    if (opts.size !== undefined) checkDiskSize(opts.size);
    if (opts.blockSize !== undefined) checkBlockSize(opts.blockSize);
    const existing = await readMeta(opts.meta);
    if (existing && opts.size !== undefined && opts.size !== existing.size) {
      throw new DiskError(
        'EINVAL',
        `The disk already exists with size ${existing.size} bytes, not ${opts.size}: omit size, or delete the disk to recreate it.`,
      );
    }
    if (!existing && opts.size === undefined) {
      throw new DiskError('EINVAL', 'The disk does not exist yet: give its size to create it.');
    }
    const blockSize = opts.blockSize ?? existing?.blockSize ?? DEFAULT_BLOCK_SIZE;
    const cacheSize = checkCacheSize(opts.cacheSize ?? Math.max(DEFAULT_CACHE_SIZE, blockSize), blockSize);
    const diskMeta: DiskMeta = {
      version: META_VERSION,
      size: existing?.size ?? (opts.size as number),
      blockSize,
      clean: false,
      generation: (existing?.generation ?? 0) + 1,
    };
    let flagDurable = true;
    try {
      await writeMeta(opts.meta, diskMeta);
    } catch (err) {
      const e = toDiskError(err);
      // A full quota must not lock the data away: an existing disk opens
      // for reading, and every write waits for the flag (and the space).
      if (e.code !== 'ENOSPC' || !existing) throw e;
      flagDurable = false;
    }
    const device = new BlockDevice({
      data: opts.data,
      meta: opts.meta,
      diskMeta,
      cacheSize,
      mode,
      unclean: existing ? !existing.clean : false,
      bypassBytes: opts.bypassBytes ?? BYPASS_BYTES,
      sharedCache: opts.sharedCache === true,
    });
    device.flagPending = !flagDurable;
    return device;
  }

  get cacheMode(): CacheMode {
    return this.mode;
  }

  // ---------------------------------------------------------------- public API

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.run(
      () => checkRange(offset, length, this.size, 'read', MAX_IO_BYTES),
      () => drive(this.readNew(offset, length)),
    );
  }

  /** Reads into a caller-provided buffer (no allocation). */
  readInto(offset: number, dst: Uint8Array): Promise<void> {
    return this.run(
      () => checkRange(offset, dst.length, this.size, 'read', MAX_IO_BYTES),
      () => drive(this.doRead(offset, dst)),
    );
  }

  write(offset: number, data: Uint8Array, opts?: { fua?: boolean }): Promise<void> {
    return this.run(
      () => {
        checkData(data);
        checkRange(offset, data.length, this.size, 'write', MAX_IO_BYTES);
      },
      () => drive(this.writable(() => this.doWrite(offset, data, opts?.fua === true))),
    );
  }

  flush(): Promise<void> {
    return this.run(undefined, () => drive(this.writable(() => this.doFlush())));
  }

  discard(offset: number, length: number): Promise<void> {
    return this.run(
      () => checkRange(offset, length, this.size, 'discard'),
      () => drive(this.writable(() => this.doDiscard(offset, length))),
    );
  }

  // ------------------------------------------------ the same, for a caller that cannot wait

  /**
   * readInto(), done before it returns: for a caller that cannot wait for
   * a promise (wa-sqlite's sync build calling the core on its own thread).
   * The same steps as the async API, so the same cache, policy and
   * durability; they need stores that are all synchronous (OPFS, memory)
   * and a thin disk's map committing each allocation in the call, and no
   * async request of this device running (EBUSY). Errors are thrown.
   */
  readIntoSync(offset: number, dst: Uint8Array): void {
    this.now(
      () => checkRange(offset, dst.length, this.size, 'read', MAX_IO_BYTES),
      () => this.doRead(offset, dst),
    );
  }

  /** write(), done before it returns (see readIntoSync): acknowledged as the mode says, durable too with `fua` or a write-through mode. */
  writeSync(offset: number, data: Uint8Array, opts?: { fua?: boolean }): void {
    this.now(
      () => {
        checkData(data);
        checkRange(offset, data.length, this.size, 'write', MAX_IO_BYTES);
      },
      () => this.writable(() => this.doWrite(offset, data, opts?.fua === true)),
    );
  }

  /** flush(), done before it returns (see readIntoSync). */
  flushSync(): void {
    this.now(undefined, () => this.writable(() => this.doFlush()));
  }

  /** discard(), done before it returns (see readIntoSync). */
  discardSync(offset: number, length: number): void {
    this.now(
      () => checkRange(offset, length, this.size, 'discard'),
      () => this.writable(() => this.doDiscard(offset, length)),
    );
  }

  /**
   * QEMU's block_status: the allocation state of the first runs of
   * [offset, offset + length) — at most MAX_STATUS_RUNS of them, covering
   * a prefix of the range (ask again from where they end). Blocks dirty in
   * the cache are 'data': the answer is the disk as a read would see it.
   */
  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.run(
      () => checkRange(offset, length, this.size, 'blockStatus'),
      async () => {
        const runs = await statusOf(this.data, offset, length);
        const bs = this.blockSize;
        const end = offset + length;
        const dirty: [number, number][] = [];
        if (this.cache.dirtyCount > 0) {
          // Only the range's dirty blocks are sorted: an export asks window by window.
          const first = Math.floor(offset / bs);
          const last = Math.floor((end - 1) / bs);
          const inRange = this.cache.allDirty().filter((b) => b >= first && b <= last);
          for (const b of inRange.sort((x, y) => x - y)) {
            dirty.push([Math.max(offset, b * bs), Math.min(end, (b + 1) * bs)]);
          }
        }
        return withData(runs, dirty).slice(0, MAX_STATUS_RUNS);
      },
    );
  }

  setCacheMode(mode: CacheMode): Promise<void> {
    return this.run(
      () => checkCacheMode(mode),
      () => drive(this.writable(() => this.doSetCacheMode(mode))),
    );
  }

  stats(): Promise<DiskStats> {
    return this.run(undefined, async () => ({
      ...this.snapshot(),
      allocatedBytes: (await this.data.allocatedBytes?.()) ?? Number.NaN,
      baseBytesFetched: this.data.baseBytesFetched?.() ?? 0,
    }));
  }

  /**
   * Drops every change: an overlay is its base again. Cached blocks go too,
   * dirty ones included (they are changes). Durable once it completes.
   */
  reset(): Promise<void> {
    return this.run(undefined, () => drive(this.writable(() => this.doReset())));
  }

  private *doReset(): Steps {
    const reset = this.data.reset?.bind(this.data);
    if (!reset) {
      throw new DiskError(
        'ENOTSUP',
        'reset() returns an overlay to its base, and this disk has none: discard(0, size) empties it instead.',
      );
    }
    this.cache.clear();
    yield* this.settleOutstanding();
    yield reset();
    this.syncedSeq = this.writeSeq;
  }

  /** Writes everything back, syncs, marks the disk clean and closes the stores. */
  close(): Promise<void> {
    return this.run(undefined, async () => {
      // Opened without space for its flag, nothing of this session reached
      // the store: the disk stays as the last session left it.
      if (!this.flagPending) {
        await drive(this.writeBackAll());
        await drive(this.syncIfNeeded());
        await drive(this.settleOutstanding());
        this.meta = { ...this.meta, clean: true, generation: this.meta.generation + 1 };
        await writeMeta(this.metaStore, this.meta);
      }
      this.closed = true;
      this.cache.clear();
      await this.data.close();
      await this.metaStore.close();
    });
  }

  private snapshot(): DiskStats {
    const s = { ...this.counters };
    s.dirtyBytes = this.cache.dirtyCount * this.blockSize;
    s.cachedBytes = this.cache.size * this.blockSize;
    s.peakCachedBytes = this.cache.peakBlocks * this.blockSize;
    return s;
  }

  // ------------------------------------------------------------ serialization

  /**
   * Validates at once (a bad call rejects without waiting for the queue and
   * never reaches the store), then runs `op` after every earlier request.
   * The next request starts when `op` returns; this one's answer also waits
   * for what `op` deferred (store writes and syncs still completing), so
   * requests take effect in issue order while their acknowledgements may
   * wait on a commit that later requests share. Errors come out as
   * DiskError; the queue keeps going after a failure.
   */
  private run<T>(check: (() => void) | undefined, op: () => MaybePromise<T>): Promise<T> {
    try {
      this.validate(check);
    } catch (err) {
      return Promise.reject(err);
    }
    const seq = this.seq;
    if (seq && this.running++ === 0) Atomics.add(seq, SHARED_CTRL.seq, 1); // odd: the cache may change
    this.queued++;
    const answer = new Promise<T>((resolve, reject) => {
      this.queue = this.queue.then(async () => {
        this.deferred = undefined;
        try {
          let value: T;
          try {
            if (this.closed) throw new DiskError('ECLOSED', 'The disk is closed: open it again.');
            value = await op();
          } finally {
            this.queued--;
          }
          const waits = this.takeDeferred();
          if (!waits) resolve(value);
          else
            Promise.all(waits).then(
              () => resolve(value),
              (err: unknown) => reject(toDiskError(err)),
            );
        } catch (err) {
          for (const w of this.takeDeferred() ?? []) w.catch(() => undefined);
          reject(toDiskError(err));
        }
      });
    });
    if (!seq) return answer;
    const settled = () => {
      if (--this.running === 0) Atomics.add(seq, SHARED_CTRL.seq, 1); // even: the cache holds still
    };
    answer.then(settled, settled);
    return answer;
  }

  /**
   * Runs `steps` to the end in the call (the synchronous API): validated
   * first, then only if no async request is queued (order would be lost),
   * with a sync it wants done at once rather than grouped.
   */
  private now<T>(check: (() => void) | undefined, steps: () => Steps<T>): T {
    this.validate(() => {
      check?.();
      if (this.seq) throw new DiskError('ENOTSUP', 'Synchronous calls need a disk without a shared cache.');
      if (this.queued > 0 || this.syncCall) {
        throw new DiskError(
          'EBUSY',
          'A synchronous call while other requests of this disk are running: use one kind of call at a time.',
        );
      }
    });
    this.syncCall = true;
    this.deferred = undefined;
    try {
      const value = driveNow(steps());
      if (this.deferred) {
        throw new DiskError('EIO', 'A synchronous call met a store that completes later: it cannot wait for it here.');
      }
      return value;
    } catch (err) {
      throw toDiskError(err);
    } finally {
      // Nobody waits for what was deferred here: its failures must not go unhandled.
      for (const w of this.takeDeferred() ?? []) w.catch(() => undefined);
      this.syncCall = false;
    }
  }

  /** A request's checks, before it is queued or run: closed, then `check`; throws a DiskError. */
  private validate(check: (() => void) | undefined): void {
    try {
      if (this.closed) throw new DiskError('ECLOSED', 'The disk is closed: open it again.');
      check?.();
    } catch (err) {
      throw toDiskError(err);
    }
  }

  /** The shared cache's memory (sharedCache: true), for the page. */
  get sharedCache(): SharedArrayBuffer | undefined {
    return this.cache.sharedBuffer;
  }

  /** Runs `op` once the session's unclean flag is durable (retried here when the quota was full at open). */
  private *writable<T>(op: () => Steps<T>): Steps<T> {
    if (this.flagPending) {
      try {
        yield writeMeta(this.metaStore, this.meta);
      } catch (err) {
        const e = toDiskError(err);
        if (e.code !== 'ENOSPC') throw e;
        throw new DiskError(
          'ENOSPC',
          "The browser's storage quota is exhausted: the disk opened for reading only, and takes writes again once space is freed (delete other disks, or ask for persistent storage).",
        );
      }
      this.flagPending = false;
    }
    return yield* op();
  }

  private takeDeferred(): Promise<unknown>[] | undefined {
    const waits = this.deferred;
    this.deferred = undefined;
    return waits;
  }

  /** The running request's answer waits for `done`; later requests do not. */
  private defer(done: Promise<unknown>): void {
    if (this.deferred) this.deferred.push(done);
    else this.deferred = [done];
  }

  /** Tracks an issued store write until it completes (bounded: see MAX_OUTSTANDING_BYTES). */
  private track(done: Promise<unknown>, bytes: number): void {
    const entry = { done, bytes };
    this.outstanding.push(entry);
    this.outstandingBytes += bytes;
    const untrack = () => {
      const i = this.outstanding.indexOf(entry);
      if (i >= 0) this.outstanding.splice(i, 1);
      this.outstandingBytes -= bytes;
    };
    done.then(untrack, untrack);
  }

  /** Waits until at most `limit` bytes of store writes are outstanding. */
  private *settleOutstanding(limit = 0): Steps {
    while (this.outstandingBytes > limit && this.outstanding.length > 0) {
      yield this.outstanding[0].done.catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- internals

  /** A read into a new buffer. */
  private *readNew(offset: number, length: number): Steps<Uint8Array> {
    const dst = new Uint8Array(length);
    yield* this.doRead(offset, dst);
    return dst;
  }

  private *doRead(offset: number, dst: Uint8Array): Steps {
    this.counters.reads++;
    this.counters.bytesRead += dst.length;
    if (dst.length === 0) return;
    if (!this.policy.readCache) {
      yield* this.storeRead(offset, dst);
      return;
    }
    const bs = this.blockSize;
    const last = Math.floor((offset + dst.length - 1) / bs);
    if (dst.length >= this.bypassBytes) {
      yield* this.storeRead(offset, dst);
      const cached = this.cache.cachedIn(Math.floor(offset / bs), last);
      // Only dirty blocks differ from the store: a clean one is what was just read.
      for (const b of cached)
        if (this.cache.isDirty(b)) copyBlockPart(this.cache.peek(b) as Uint8Array, b * bs, offset, dst);
      this.counters.cacheHits += cached.length;
      this.counters.cacheMisses += last - Math.floor(offset / bs) + 1 - cached.length;
      return;
    }
    const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / bs));
    let b = Math.floor(offset / bs);
    while (b <= last) {
      // Copy a hit at once: a later eviction may hand its slot to another block.
      const hit = this.cache.get(b);
      if (hit) {
        this.counters.cacheHits++;
        copyBlockPart(hit, b * bs, offset, dst);
        b++;
        continue;
      }
      let end = b;
      while (end < last && end - b + 1 < maxRun && !this.cache.has(end + 1)) end++;
      this.counters.cacheMisses += end - b + 1;
      yield* this.fillMisses(b, end, offset, dst);
      b = end + 1;
    }
  }

  /** Reads blocks [first, last] from the store, caches them and copies the wanted part to dst. */
  private *fillMisses(first: number, last: number, offset: number, dst: Uint8Array): Steps {
    const bs = this.blockSize;
    const maxBlocks = Math.max(1, Math.floor(MAX_RUN_BYTES / bs));
    for (let start = first; start <= last; start += maxBlocks) {
      const count = Math.min(maxBlocks, last - start + 1);
      // Its own buffer: making room below may write back through `staging`.
      if (this.readStaging.length < count * bs) this.readStaging = new Uint8Array(Math.max(count * bs, MAX_RUN_BYTES));
      const buf = this.readStaging.subarray(0, count * bs);
      yield* this.storeRead(start * bs, buf);
      for (let i = 0; i < count; i++) {
        const b = start + i;
        const bytes = buf.subarray(i * bs, (i + 1) * bs);
        copyBlockPart(bytes, b * bs, offset, dst);
        if (this.cache.full) yield* this.makeRoom();
        this.cache.insert(b).set(bytes);
      }
    }
  }

  private *doWrite(offset: number, data: Uint8Array, fua: boolean): Steps {
    this.counters.writes++;
    this.counters.bytesWritten += data.length;
    if (fua) this.counters.fuaWrites++;
    if (data.length === 0) return;
    const p = this.policy;
    if (p.writeCache) {
      if (data.length >= this.bypassBytes) yield* this.writeAround(offset, data);
      else yield* this.writeToCache(offset, data);
      if (fua) {
        if (p.syncOnFlush) {
          // Its dirty blocks go down with a sync behind them (a group commit
          // on a synchronous store); whole blocks that went around the cache
          // are covered by that sync too.
          const synced = yield* this.writeBackBlocks(this.dirtyIn(offset, data.length), true, true);
          if (synced) this.defer(synced);
          else this.deferSync();
        } else {
          this.counters.ignoredFlushes++;
        }
      }
      return;
    }
    const busy = this.throttle();
    if (busy) yield* busy;
    const done = this.storeWrite(offset, data);
    if (done) this.defer(done.catch((err: unknown) => this.forgetCached(offset, data.length, err)));
    if (p.readCache) this.updateCached(offset, data);
    if (p.syncEachWrite || fua) this.deferSync();
  }

  /**
   * A large write in a write-cache mode: the whole blocks go straight to
   * the store, their cached copies (now stale) are dropped; partial edge
   * blocks go through the cache. When some of those cached copies are
   * dirty — acknowledged data the store does not have — the store write
   * must complete before they go, so a failure (quota) keeps them;
   * otherwise the answer alone waits for it.
   */
  private *writeAround(offset: number, data: Uint8Array): Steps {
    const bs = this.blockSize;
    const end = offset + data.length;
    const first = Math.ceil(offset / bs);
    const stop = Math.floor(end / bs); // whole blocks: [first, stop)
    if (stop <= first) return yield* this.writeToCache(offset, data);
    const headEnd = first * bs;
    const tailStart = stop * bs;
    const stale = this.cache.cachedIn(first, stop - 1);
    const busy = this.throttle();
    if (busy) yield* busy;
    const done = this.storeWrite(headEnd, data.subarray(headEnd - offset, tailStart - offset));
    if (done) {
      if (stale.some((b) => this.cache.isDirty(b))) yield done;
      else this.defer(done);
    }
    for (const b of stale) this.cache.remove(b);
    if (headEnd > offset) yield* this.writeToCache(offset, data.subarray(0, headEnd - offset));
    if (end > tailStart) yield* this.writeToCache(tailStart, data.subarray(tailStart - offset));
  }

  /**
   * A store write the answer did not wait for failed: cached copies of its
   * range (clean ones: the store never got the data they show) must not
   * outlive it. Rethrows for the answer.
   */
  private forgetCached(offset: number, length: number, err: unknown): never {
    const bs = this.blockSize;
    for (const b of this.cache.cachedIn(Math.floor(offset / bs), Math.floor((offset + length - 1) / bs))) {
      if (!this.cache.isDirty(b)) this.cache.remove(b);
    }
    throw err;
  }

  /** Copies data into cache blocks (read-modify-write for partial blocks not cached) and marks them dirty. */
  private *writeToCache(offset: number, data: Uint8Array): Steps {
    const bs = this.blockSize;
    const end = offset + data.length;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    for (let b = first; b <= last; b++) {
      const blockStart = b * bs;
      let slot = this.cache.get(b);
      if (!slot) {
        if (this.cache.full) yield* this.makeRoom();
        slot = this.cache.insert(b);
        const whole = offset <= blockStart && end >= blockStart + bs;
        if (!whole) {
          this.counters.cacheMisses++;
          try {
            yield* this.storeRead(blockStart, slot);
          } catch (err) {
            // Not read (an overlay's base failing): the slot holds nothing of this block.
            this.cache.remove(b);
            throw err;
          }
        }
      }
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockStart + bs);
      slot.set(data.subarray(from - offset, to - offset), from - blockStart);
      this.cache.markDirty(b);
    }
  }

  /** Writethrough: keeps already-cached copies of written blocks current. */
  private updateCached(offset: number, data: Uint8Array): void {
    const bs = this.blockSize;
    const end = offset + data.length;
    for (const b of this.cache.cachedIn(Math.floor(offset / bs), Math.floor((end - 1) / bs))) {
      const slot = this.cache.peek(b) as Uint8Array;
      const blockStart = b * bs;
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockStart + bs);
      slot.set(data.subarray(from - offset, to - offset), from - blockStart);
    }
  }

  private *doFlush(): Steps {
    this.counters.flushes++;
    if (!this.policy.syncOnFlush) {
      this.counters.ignoredFlushes++;
      yield* this.writeBackAll();
      return;
    }
    // The write-back and its sync are issued together: a store that groups
    // commits them as one (atomic) transaction.
    const synced = yield* this.writeBackBlocks(this.cache.allDirty(), true);
    if (synced) yield synced;
    else yield* this.syncIfNeeded();
  }

  private *doDiscard(offset: number, length: number): Steps {
    this.counters.discards++;
    if (length === 0) return;
    const bs = this.blockSize;
    const end = offset + length;
    // The cache first: whole blocks go (dirty or not: they are now zeros),
    // partly covered ones get zeros in the covered part.
    for (const b of this.cache.cachedIn(Math.floor(offset / bs), Math.floor((end - 1) / bs))) {
      const blockStart = b * bs;
      if (offset <= blockStart && end >= blockStart + bs) {
        this.cache.remove(b);
      } else {
        const slot = this.cache.peek(b) as Uint8Array;
        slot.fill(0, Math.max(offset, blockStart) - blockStart, Math.min(end, blockStart + bs) - blockStart);
      }
    }
    // Then the store, which may give the space back.
    const busy = this.throttle();
    if (busy) yield* busy;
    this.writeSeq++;
    yield discardRange(this.data, offset, length);
    if (this.policy.syncEachWrite) this.deferSync();
  }

  private *doSetCacheMode(mode: CacheMode): Steps {
    const next = CACHE_POLICY[mode];
    if (!next.writeCache) {
      // A mode without a write cache promises durability per write or per
      // flush from here on: start it from a fully flushed disk.
      const synced = yield* this.writeBackBlocks(this.cache.allDirty(), true);
      if (synced) yield synced;
      else yield* this.syncIfNeeded();
    }
    if (!next.readCache) this.cache.clear();
    this.mode = mode;
    this.policy = next;
  }

  // ---------------------------------------------------------------- write-back

  /** Frees one slot, writing back the oldest dirty blocks when the LRU victim is dirty. */
  private *makeRoom(): Steps {
    while (this.cache.full) {
      const victim = this.cache.oldest() as number;
      if (!this.cache.isDirty(victim)) {
        this.cache.remove(victim);
        return;
      }
      // Write back a good batch at once, sorted and coalesced, rather than
      // one block per eviction: a quarter of the cache, oldest dirtied
      // first; half on a store that merges gaps, where a denser batch goes
      // as fewer, longer writes (random 4 KiB writes over OPFS: 2.3× the
      // throughput of a quarter, with a flush at the end).
      const share = this.data.mergeGap ? 1 : 2;
      const batch = this.cache.oldestDirty(Math.max(1, this.cache.capacity >> share));
      if (!batch.includes(victim)) batch.push(victim);
      yield* this.writeBack(batch);
    }
  }

  private *writeBackAll(): Steps {
    if (this.cache.dirtyCount > 0) yield* this.writeBack(this.cache.allDirty());
  }

  /** Dirty cached blocks of a byte range. */
  private dirtyIn(offset: number, length: number): number[] {
    const bs = this.blockSize;
    return this.cache
      .cachedIn(Math.floor(offset / bs), Math.floor((offset + length - 1) / bs))
      .filter((b) => this.cache.isDirty(b));
  }

  private *writeBack(blocks: number[]): Steps {
    yield* this.writeBackBlocks(blocks, false);
  }

  /**
   * Writes the given dirty blocks back in ascending order, contiguous runs
   * as one store write (and, on a store with `mergeGap`, runs a small gap
   * apart too: see spansOf), all issued at once (a store that groups writes
   * makes them one transaction); then, with `sync`, issues a store sync
   * right behind them, in the same group. Waits for the writes, and marks
   * clean only the blocks whose write completed: a failure keeps the rest
   * dirty, acknowledged data is never dropped. Resolves with the sync
   * still completing, if one was issued (with `group`, the running
   * request's answer may wait for a group commit instead).
   */
  private *writeBackBlocks(blocks: number[], sync: boolean, group = false): Steps<Promise<void> | undefined> {
    if (blocks.length === 0) return undefined;
    blocks.sort((a, b) => a - b);
    const bs = this.blockSize;
    const runs: { dirty: number[]; done: MaybePromise<void> | undefined; error?: unknown }[] = [];
    for (const [first, last] of yield* this.spansOf(blocks)) {
      const run: (typeof runs)[number] = { dirty: [], done: undefined };
      runs.push(run);
      try {
        let src: Uint8Array;
        if (first === last) {
          src = this.cache.peek(first) as Uint8Array;
          run.dirty.push(first);
        } else {
          // The store is done with `src` when write() returns: one staging buffer serves every run.
          src = this.stagingBuffer((last - first + 1) * bs);
          yield* this.fillSpan(first, last, src, run.dirty);
        }
        run.done = this.storeWrite(first * bs, src);
      } catch (err) {
        run.error = err;
        break; // a store that refuses now refuses the rest too: nothing after it was issued
      }
    }
    const refused = runs.some((r) => r.error !== undefined);
    let synced: MaybePromise<void> | undefined;
    // `group`: a store that took the writes synchronously joins the group
    // commit (deferSync); one that completes later (IndexedDB) gets its sync
    // now, beside the writes, so both commit as one transaction.
    if (sync && !refused && group && runs.every((r) => !(r.done instanceof Promise))) this.deferSync();
    else if (sync && !refused) synced = this.syncStore();
    let failure: unknown;
    for (const run of runs) {
      try {
        if (run.error !== undefined) throw run.error;
        yield run.done;
        for (const b of run.dirty) this.cache.markClean(b);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) {
      if (synced instanceof Promise) synced.catch(() => undefined);
      throw failure;
    }
    return synced instanceof Promise ? synced : undefined;
  }

  /**
   * The sorted blocks as spans [first, last] of at most MAX_RUN_BYTES:
   * contiguous blocks, and on a store with `mergeGap` blocks up to that
   * many bytes apart when the store's block status calls the gap 'data'
   * (its own bytes, so rewriting them changes nothing: a crash during the
   * write leaves them as they were either way).
   */
  private *spansOf(blocks: number[]): Steps<[number, number][]> {
    const bs = this.blockSize;
    const maxBlocks = Math.max(1, Math.floor(MAX_RUN_BYTES / bs));
    const gapBlocks = Math.floor((this.data.mergeGap ?? 0) / bs);
    const spans: [number, number][] = [];
    for (const b of blocks) {
      const span = spans.at(-1);
      const joins =
        span !== undefined &&
        b - span[0] < maxBlocks &&
        (b === span[1] + 1 || (b - span[1] - 1 <= gapBlocks && (yield* this.isData(span[1] + 1, b))));
      if (joins) span[1] = b;
      else spans.push([b, b]);
    }
    return spans;
  }

  /** Whether the store's block status calls blocks [from, to) all 'data'. */
  private *isData(from: number, to: number): Steps<boolean> {
    const bs = this.blockSize;
    const runs = yield* wait(statusOf(this.data, from * bs, (to - from) * bs));
    return runs.every((r) => r.state === 'data');
  }

  /**
   * Fills `dst` with blocks [first, last] as the disk holds them: cached
   * ones from the cache (their dirty ones listed in `dirty`, to be marked
   * clean once written), the rest read from the store.
   */
  private *fillSpan(first: number, last: number, dst: Uint8Array, dirty: number[]): Steps {
    const bs = this.blockSize;
    const readRun = (from: number, to: number) =>
      this.storeRead(from * bs, dst.subarray((from - first) * bs, (to - first) * bs));
    let uncached = -1; // where a run of blocks not in the cache began: read from the store when it ends
    for (let b = first; b <= last; b++) {
      const slot = this.cache.peek(b);
      if (slot === undefined) {
        if (uncached < 0) uncached = b;
        this.counters.storeGapBytes += bs;
        continue;
      }
      if (uncached >= 0) yield* readRun(uncached, b);
      uncached = -1;
      dst.set(slot, (b - first) * bs);
      if (this.cache.isDirty(b)) dirty.push(b);
      else this.counters.storeGapBytes += bs;
    }
    if (uncached >= 0) yield* readRun(uncached, last + 1);
  }

  // -------------------------------------------------------------- store access

  private *storeRead(offset: number, dst: Uint8Array): Steps {
    this.counters.storeReads++;
    this.counters.storeBytesRead += dst.length;
    yield this.data.read(offset, dst);
  }

  /**
   * Issues a store write; returns its completion if the store has not
   * completed it yet (tracked, so memory stays bounded).
   */
  private storeWrite(offset: number, src: Uint8Array): Promise<void> | undefined {
    this.writeSeq++;
    const done = this.data.write(offset, src);
    this.counters.storeWrites++;
    this.counters.storeBytesWritten += src.length;
    if (!(done instanceof Promise)) return undefined;
    this.track(done, src.length);
    return done;
  }

  /** Before issuing store writes the answer will not wait for: keeps their memory bounded. */
  private throttle(): Steps | undefined {
    if (this.outstandingBytes > MAX_OUTSTANDING_BYTES) return this.settleOutstanding(MAX_OUTSTANDING_BYTES / 2);
  }

  /** Issues a store sync covering every store write issued so far. */
  private syncStore(): MaybePromise<void> {
    const upTo = this.writeSeq;
    const done = this.data.sync();
    const settle = () => {
      if (upTo > this.syncedSeq) this.syncedSeq = upTo;
    };
    if (!(done instanceof Promise)) {
      this.counters.storeSyncs++;
      settle();
      return;
    }
    // A store that groups hands the same sync to every joiner: count it once.
    if (done !== this.lastSync) this.counters.storeSyncs++;
    this.lastSync = done;
    return done.then(settle);
  }

  private *syncIfNeeded(): Steps {
    if (this.writeSeq > this.syncedSeq) yield this.syncStore();
  }

  /**
   * Group commit (QEMU's flush generations): the running request's answer
   * waits for a sync that starts after its store writes, shared with every
   * request queued behind it that wants one too. The sync is queued as a
   * job of its own behind the requests already in the queue — a burst (a
   * ring wake-up hands the device all its requests at once) gets one sync,
   * not one each. A request that runs once that sync has started starts
   * the next group. Acknowledged still means durable; answers may come out
   * of issue order (a read queued behind a write is answered before the
   * write's sync ends).
   */
  private deferSync(): void {
    if (this.syncCall) {
      // A synchronous call: the sync happens in it (its caller cannot wait for a group).
      if (this.writeSeq > this.syncedSeq) {
        const synced = this.syncStore();
        if (synced instanceof Promise) this.defer(synced);
      }
      return;
    }
    if (this.writeSeq === this.syncedSeq && !this.groupSync) return;
    if (!this.groupSync) {
      const group = deferred();
      this.groupSync = group.done;
      this.queued++;
      this.queue = this.queue.then(async () => {
        this.groupSync = undefined;
        try {
          if (this.closed) throw new DiskError('ECLOSED', 'The disk is closed: open it again.');
          await this.syncStore();
          group.resolve();
        } catch (err) {
          group.reject(toDiskError(err));
        } finally {
          this.queued--;
        }
      });
    }
    this.defer(this.groupSync);
  }

  private stagingBuffer(bytes: number): Uint8Array {
    if (this.staging.length < bytes) this.staging = new Uint8Array(Math.max(bytes, MAX_RUN_BYTES));
    return this.staging.subarray(0, bytes);
  }
}

/** Copies the part of `block` (starting at disk byte `blockStart`) that overlaps dst (at disk byte `offset`). */
function copyBlockPart(block: Uint8Array, blockStart: number, offset: number, dst: Uint8Array): void {
  const from = Math.max(offset, blockStart);
  const to = Math.min(offset + dst.length, blockStart + block.length);
  if (to > from) dst.set(block.subarray(from - blockStart, to - blockStart), from - offset);
}
