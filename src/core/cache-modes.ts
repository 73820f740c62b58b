import type { CacheMode } from './types';

/**
 * The whole cache policy: one row per mode, as in QEMU. The worker cache
 * plays the host page cache, the store plays the host disk and the store's
 * sync() plays fdatasync. Nothing else in webdisk decides when sync() runs.
 */
export interface CachePolicy {
  /** Writes are acknowledged once in the worker cache (a write cache). */
  writeCache: boolean;
  /** Reads are served from, and fill, the worker cache. */
  readCache: boolean;
  /** Every write is synced before it is acknowledged. */
  syncEachWrite: boolean;
  /** A guest flush (and a FUA write) ends in store.sync(). */
  syncOnFlush: boolean;
}

export const CACHE_POLICY: Readonly<Record<CacheMode, Readonly<CachePolicy>>> = {
  //              write cache        read cache       sync each write       flush syncs
  writeback: { writeCache: true, readCache: true, syncEachWrite: false, syncOnFlush: true },
  none: { writeCache: false, readCache: false, syncEachWrite: false, syncOnFlush: true },
  writethrough: { writeCache: false, readCache: true, syncEachWrite: true, syncOnFlush: true },
  directsync: { writeCache: false, readCache: false, syncEachWrite: true, syncOnFlush: true },
  unsafe: { writeCache: true, readCache: true, syncEachWrite: false, syncOnFlush: false },
};

/** One-line, plain explanations (README, demo, error messages). */
export const CACHE_MODE_HELP: Readonly<Record<CacheMode, string>> = {
  writeback: 'Fast: writes land in a worker cache; a flush makes them durable.',
  none: 'Writes go straight to storage; a flush makes them durable.',
  writethrough: 'Safe: every write is durable before it is acknowledged; reads are cached.',
  directsync: 'Safest and slowest: every write is durable before it is acknowledged; no cache.',
  unsafe: 'Fastest: flushes never force data to storage; a power loss may lose anything written.',
};
