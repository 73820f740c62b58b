import { findSlot, SHARED_CTRL, type SharedCacheViews, sharedCacheViews } from '../protocol/shared-cache';

/** Reads above this go to the worker: the shared path is for the small reads a crossing dominates. */
const MAX_SHARED_READ = 64 * 1024;

/**
 * The page's side of the worker's shared block cache: serves a small read
 * whose every block is cached, with no crossing, under the cache's
 * sequence lock (see protocol/shared-cache.ts). The caller makes sure none
 * of its own calls is unanswered first.
 */
export class SharedCacheReader {
  private readonly v: SharedCacheViews;
  /** What was served here: added to the worker's stats. */
  readonly served = { reads: 0, bytes: 0, blocks: 0 };

  constructor(sab: SharedArrayBuffer) {
    this.v = sharedCacheViews(sab);
  }

  /**
   * Copies [offset, offset + dst.length) into `dst` if every block of it is
   * cached and the cache held still meanwhile; false otherwise (then `dst`
   * may hold a partial copy: the caller reads through the worker instead).
   */
  tryRead(offset: number, dst: Uint8Array): boolean {
    if (dst.length === 0 || dst.length > MAX_SHARED_READ) return false;
    const { ctrl, data, blockSize: bs } = this.v;
    const before = Atomics.load(ctrl, SHARED_CTRL.seq);
    if (before & 1) return false; // a request is running: the cache may be changing
    const end = offset + dst.length;
    let blocks = 0;
    for (let at = offset; at < end; blocks++) {
      const block = Math.floor(at / bs);
      const slot = findSlot(this.v, block);
      if (slot < 0) return false;
      const from = slot * bs + (at - block * bs);
      const n = Math.min(bs - (at - block * bs), end - at);
      dst.set(data.subarray(from, from + n), at - offset);
      at += n;
    }
    // A read-modify-write, not a load: on weakly ordered CPUs it also keeps
    // the copies above from being satisfied after it.
    if (Atomics.compareExchange(ctrl, SHARED_CTRL.seq, before, before) !== before) return false;
    this.served.reads++;
    this.served.bytes += dst.length;
    this.served.blocks += blocks;
    return true;
  }
}
