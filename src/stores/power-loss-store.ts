import { allDone, discardRange, ForwardingStore, type MaybePromise } from '../core/store';

export const DEFAULT_DEVICE_CACHE = 16 * 1024 * 1024;

/** A write (bytes) or a discard (no bytes) waiting in the simulated device cache. */
interface Pending {
  offset: number;
  length: number;
  data: Uint8Array | undefined;
}

/** What a pending discard costs against the device cache: its bookkeeping, not its length. */
const DISCARD_COST = 64;

/**
 * The power-loss simulator: a store wrapper that plays a disk's volatile
 * write cache. Writes (and discards) no sync() has followed stay in worker
 * memory — a bounded device cache; the oldest are destaged to the real
 * store when it is full, as a real disk does — so terminating the worker
 * loses exactly what a real power cut may lose. sync() destages everything
 * in order and syncs the real store, all issued at once: a store that
 * groups (IndexedDB) commits a flush as one transaction.
 */
export class PowerLossStore extends ForwardingStore {
  private readonly capacity: number;
  private pending: Pending[] = [];
  private pendingBytes = 0;

  constructor(inner: ForwardingStore['inner'], deviceCacheBytes = DEFAULT_DEVICE_CACHE) {
    super(inner);
    this.capacity = deviceCacheBytes;
  }

  /** Same offsets, same bytes: the inner store's gap filling holds here too. */
  get mergeGap(): number | undefined {
    return this.inner.mergeGap;
  }

  override read(offset: number, dst: Uint8Array): MaybePromise {
    // Newer pending operations overlay the stored bytes, oldest first.
    const pending = this.pending.length > 0 ? this.pending.slice() : undefined;
    const done = this.inner.read(offset, dst);
    if (!pending) return done;
    if (done instanceof Promise) return done.then(() => overlay(pending, offset, dst));
    overlay(pending, offset, dst);
  }

  override write(offset: number, src: Uint8Array): MaybePromise {
    this.pending.push({ offset, length: src.length, data: src.slice() });
    this.pendingBytes += src.length;
    return this.destageOver(this.capacity);
  }

  override discard(offset: number, length: number): MaybePromise {
    this.pending.push({ offset, length, data: undefined });
    this.pendingBytes += DISCARD_COST;
    return this.destageOver(this.capacity);
  }

  override sync(): MaybePromise {
    const destaged = this.destageOver(0);
    return allDone([destaged, this.inner.sync()]);
  }

  override close(): MaybePromise {
    const destaged = this.destageOver(0);
    if (destaged instanceof Promise) return destaged.then(() => this.inner.close());
    return this.inner.close();
  }

  /** Destages the oldest pending operations, in order, until at most `limit` bytes wait. */
  private destageOver(limit: number): MaybePromise {
    const waits: MaybePromise[] = [];
    while (this.pendingBytes > limit && this.pending.length > 0) {
      const p = this.pending[0];
      const done = p.data ? this.inner.write(p.offset, p.data) : discardRange(this.inner, p.offset, p.length);
      // Issued: the store below sees it from now on (stores take effect in call order).
      this.pending.shift();
      this.pendingBytes -= p.data ? p.length : DISCARD_COST;
      waits.push(done);
    }
    return allDone(waits);
  }
}

function overlay(pending: readonly Pending[], offset: number, dst: Uint8Array): void {
  const end = offset + dst.length;
  for (const p of pending) {
    const from = Math.max(offset, p.offset);
    const to = Math.min(end, p.offset + p.length);
    if (to <= from) continue;
    if (p.data) dst.set(p.data.subarray(from - p.offset, to - p.offset), from - offset);
    else dst.fill(0, from - offset, to - offset);
  }
}
