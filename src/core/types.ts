/** QEMU's cache modes, with QEMU's meaning (see cache-modes.ts). */
export type CacheMode = 'writeback' | 'none' | 'writethrough' | 'directsync' | 'unsafe';

export const CACHE_MODES: readonly CacheMode[] = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'];

/** Where a disk's bytes live: OPFS, IndexedDB, or memory (volatile: gone when closed). */
export type Backend = 'opfs' | 'idb' | 'memory';
/** The backends that keep a disk after it is closed. */
export type PersistentBackend = Exclude<Backend, 'memory'>;

/**
 * What killing the disk worker loses. 'process': only the worker's memory
 * (its dirty cache). 'power': also every store write no sync() followed,
 * held in a simulated volatile disk cache.
 */
export type CrashModel = 'process' | 'power';
export type BackendChoice = Backend | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'opfs', 'idb', 'memory'];

/** Counters of one open session. */
export interface DiskStats {
  /** Guest-level requests. */
  reads: number;
  writes: number;
  flushes: number;
  fuaWrites: number;
  discards: number;
  bytesRead: number;
  bytesWritten: number;
  /** What reached the store (the "host disk"). */
  storeReads: number;
  storeBytesRead: number;
  storeWrites: number;
  storeBytesWritten: number;
  storeSyncs: number;
  /**
   * Bytes rewritten unchanged to merge write-backs across small gaps (over
   * OPFS, where a write costs per call); counted in storeBytesWritten too.
   */
  storeGapBytes: number;
  /** Flushes (or FUA writes) whose sync the mode skipped: unsafe only. */
  ignoredFlushes: number;
  /** The worker cache. */
  dirtyBytes: number;
  cachedBytes: number;
  peakCachedBytes: number;
  cacheCapacityBytes: number;
  cacheHits: number;
  cacheMisses: number;
  /** Reads the page served itself from the worker's cache in shared memory (no crossing; counted in reads and cacheHits too). */
  pageReads: number;
  /**
   * Bytes of storage the disk's data takes (thin: what was written, not
   * the disk's size); NaN where the backend cannot say.
   */
  allocatedBytes: number;
  /** An overlay's bytes fetched from its base in this session (0 for other disks). */
  baseBytesFetched: number;
}

export function emptyStats(): DiskStats {
  return {
    reads: 0,
    writes: 0,
    flushes: 0,
    fuaWrites: 0,
    discards: 0,
    bytesRead: 0,
    bytesWritten: 0,
    storeReads: 0,
    storeBytesRead: 0,
    storeWrites: 0,
    storeBytesWritten: 0,
    storeSyncs: 0,
    ignoredFlushes: 0,
    dirtyBytes: 0,
    cachedBytes: 0,
    peakCachedBytes: 0,
    cacheCapacityBytes: 0,
    cacheHits: 0,
    cacheMisses: 0,
    pageReads: 0,
    storeGapBytes: 0,
    allocatedBytes: Number.NaN,
    baseBytesFetched: 0,
  };
}
