/**
 * Where bytes live: the one narrow interface every backend implements
 * (OPFS, IndexedDB, memory) and every wrapper too (the power-loss
 * simulator, the power switch). A store knows nothing of cache modes: the
 * block core decides when sync() runs. Methods may complete synchronously
 * (OPFS, memory) or return a promise (IndexedDB); the core awaits either.
 *
 * Ordering: operations take effect in the order they are *called*, not the
 * order they complete. A read sees every write called before it, and a
 * sync() covers every write called before it, even while those writes are
 * still completing: so a caller may issue many writes (and a sync) without
 * waiting in between, and a store may group them (one IndexedDB
 * transaction for a whole write-back and its sync).
 */
/**
 * A run of a byte range in one allocation state (QEMU's block_status):
 * 'data' may hold any bytes; 'zero' reads as zeros (marked so, or a hole
 * of a store that keeps holes); 'unallocated': nothing of this store's
 * own is there (a thin disk reads zeros, an overlay reads its base).
 */
export interface Extent {
  offset: number;
  length: number;
  state: ExtentState;
}
export type ExtentState = 'data' | 'zero' | 'unallocated';

export interface BlockStore {
  /** Fills `dst` from byte `offset`; bytes never written (or discarded) read as zeros. */
  read(offset: number, dst: Uint8Array): void | Promise<void>;
  /**
   * Writes all of `src` at byte `offset`. The store is done with `src`
   * when the call returns (it copies what it keeps): the caller may reuse
   * it at once. Completes once the store has accepted the write — it
   * survives a crash of the worker, not necessarily of the power.
   */
  write(offset: number, src: Uint8Array): void | Promise<void>;
  /** Durability barrier: every write called before it survives a power loss once it completes. */
  sync(): void | Promise<void>;
  /**
   * QEMU's pdiscard: the range reads as zeros afterwards, and the store
   * may give its space back. Optional: without it, zeros are written
   * (`discardByZeroing`).
   */
  discard?(offset: number, length: number): void | Promise<void>;
  close(): void | Promise<void>;
  /**
   * QEMU's block_status: the allocation state of [offset, offset + length),
   * as runs that cover it in order. Optional: a store without it is all
   * 'data' (always a safe answer). Sees every write and discard called
   * before it.
   */
  blockStatus?(offset: number, length: number): MaybePromise<Extent[]>;
  /**
   * Drops every write ever made: the store reads as it was created (an
   * overlay: its base). Durable once it completes. Optional: only overlays.
   */
  reset?(): void | Promise<void>;
  /**
   * Bytes of storage the disk's data takes now (what the browser counts
   * against the quota, give or take its own overhead). Optional.
   */
  allocatedBytes?(): number | Promise<number>;
  /** An overlay's bytes fetched from its base so far. Optional: only overlays. */
  baseBytesFetched?(): number;
  /**
   * Where the stored bytes end (a file's length). Optional: a layer that
   * hands out space in a store uses it to know which bytes were never
   * written by anyone.
   */
  byteLength?(): number;
  /**
   * A gap of up to this many bytes between two runs of a write-back costs
   * less filled than skipped: its bytes are read and written back
   * unchanged, so the two runs go as one write. For stores that cost per
   * call, not per byte (OPFS). Optional: absent, runs are written as they
   * are. The core fills only what blockStatus() calls 'data' (rewriting a
   * store's own bytes with themselves changes nothing and allocates nothing).
   */
  readonly mergeGap?: number;
  /**
   * The power is cut: stop at once. Work still committing is aborted, not
   * finished, and every later call fails. Optional: a synchronous store
   * has nothing in flight between calls. Settles once what was cut has
   * stopped (an abort takes effect in the browser's storage, not at once).
   */
  abandon?(): void | Promise<void>;
}

/** A completion that may be synchronous: what every store method returns. */
export type MaybePromise<T = void> = T | Promise<T>;

/** Zero-fill piece: a multiple of every block size (the largest is 1 MiB). */
const ZERO_PIECE = 1024 * 1024;
let zeros: Uint8Array | undefined;

/**
 * A discard for stores that cannot do better: writes zeros, every piece
 * issued at once (a store takes effect in call order, so nothing issued
 * later can land under a piece). The pieces end on 1 MiB boundaries,
 * which are block boundaries for every block size: a crash between two
 * leaves each block either old or zeroed, never torn in the middle.
 */
export function discardByZeroing(store: BlockStore, offset: number, length: number): MaybePromise {
  zeros ??= new Uint8Array(ZERO_PIECE);
  const end = offset + length;
  const waits: MaybePromise[] = [];
  for (let pos = offset; pos < end; ) {
    const next = Math.min(end, (Math.floor(pos / ZERO_PIECE) + 1) * ZERO_PIECE);
    waits.push(store.write(pos, zeros.subarray(0, next - pos)));
    pos = next;
  }
  return allDone(waits);
}

/** Waits for those of `results` that are promises; synchronous when none is. */
export function allDone(results: readonly MaybePromise[]): MaybePromise {
  const pending = results.filter((r): r is Promise<void> => r instanceof Promise);
  if (pending.length > 0) return Promise.all(pending).then(() => {});
}

/** discard() where the store has it, zeros where it has not. */
export function discardRange(store: BlockStore, offset: number, length: number): MaybePromise {
  return store.discard ? store.discard(offset, length) : discardByZeroing(store, offset, length);
}

/**
 * The base of every wrapper store: forwards each call to the store it
 * wraps. Subclasses override what they change and call `super`.
 * `mergeGap` is not forwarded: a wrapper whose 'data' may not be its own
 * bytes (an overlay's reads its base) must not have gaps filled.
 */
export class ForwardingStore implements BlockStore {
  protected readonly inner: BlockStore;

  constructor(inner: BlockStore) {
    this.inner = inner;
  }

  read(offset: number, dst: Uint8Array): MaybePromise {
    return this.inner.read(offset, dst);
  }
  write(offset: number, src: Uint8Array): MaybePromise {
    return this.inner.write(offset, src);
  }
  sync(): MaybePromise {
    return this.inner.sync();
  }
  discard(offset: number, length: number): MaybePromise {
    return discardRange(this.inner, offset, length);
  }
  /**
   * All 'data' unless a subclass knows better: a wrapper may hold writes
   * the inner store has not seen, or move offsets, so forwarding is opt-in.
   */
  blockStatus(offset: number, length: number): MaybePromise<Extent[]> {
    return allData(offset, length);
  }
  close(): MaybePromise {
    return this.inner.close();
  }
  allocatedBytes(): number | Promise<number> {
    return this.inner.allocatedBytes?.() ?? Number.NaN;
  }
  byteLength(): number {
    return this.inner.byteLength?.() ?? Number.NaN;
  }
  abandon(): void | Promise<void> {
    return this.inner.abandon?.();
  }
}

/** The answer of a store that cannot tell: the whole range may hold data. */
export function allData(offset: number, length: number): Extent[] {
  return length > 0 ? [{ offset, length, state: 'data' }] : [];
}

/** blockStatus() where the store has it, all 'data' where it has not. */
export function statusOf(store: BlockStore, offset: number, length: number): MaybePromise<Extent[]> {
  return store.blockStatus ? store.blockStatus(offset, length) : allData(offset, length);
}
