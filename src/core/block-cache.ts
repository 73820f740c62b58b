/**
 * The worker's block cache: a fixed number of slots in lazily allocated
 * segments (so an unused cache costs nothing and a used one never grows
 * past its cap), an LRU order and the set of dirty blocks. Pure data
 * structure: the block device decides when to read, write back or evict.
 *
 * The LRU order is a doubly linked list over slot indexes (typed arrays
 * made once): a hit relinks one slot, the victim is the list's head — O(1)
 * each, where re-inserting into a Map made every hit churn the Map and
 * left `oldest()` walking past deleted entries V8 keeps until a rehash
 * (with a working set past the cache, the worker was 92–96% busy).
 */
import { newSharedCache, SharedIndex, sharedCacheViews } from '../protocol/shared-cache';

const NONE = -1;
const SEGMENT_BYTES = 4 * 1024 * 1024;

export class BlockCache {
  readonly blockSize: number;
  /** Number of block slots: cacheSize / blockSize. */
  readonly capacity: number;
  private readonly slotsPerSegment: number;
  private readonly segments: Uint8Array[] = [];
  /** One view per slot, made once: a subarray per access is garbage on the hot path. */
  private readonly views: Uint8Array[] = [];
  /** block index -> slot. */
  private readonly slots = new Map<number, number>();
  /** slot -> the block it holds; and the LRU list: prev/next slot, head = least recent. */
  private readonly blockOf: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = NONE;
  private tail = NONE;
  /** Dirty block indexes in the order they first became dirty. */
  private readonly dirtySet = new Set<number>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /** Highest number of blocks ever held at once. */
  peakBlocks = 0;
  /** With `shared`: the slots, their blocks and an index in shared memory the page reads (protocol/shared-cache.ts). */
  readonly sharedBuffer: SharedArrayBuffer | undefined;
  private readonly sharedIndex: SharedIndex | undefined;

  constructor(blockSize: number, cacheBytes: number, opts: { shared?: boolean } = {}) {
    this.blockSize = blockSize;
    this.capacity = Math.max(1, Math.floor(cacheBytes / blockSize));
    this.slotsPerSegment = Math.max(1, Math.floor(SEGMENT_BYTES / blockSize));
    if (opts.shared) {
      this.sharedBuffer = newSharedCache(this.capacity, blockSize);
      const v = sharedCacheViews(this.sharedBuffer);
      this.sharedIndex = new SharedIndex(v);
      this.blockOf = v.blockOf;
      // One segment: the shared slots (the OS commits their pages as they are first used).
      this.slotsPerSegment = this.capacity;
      this.segments.push(v.data);
    } else {
      this.blockOf = new Float64Array(this.capacity);
    }
    this.prev = new Int32Array(this.capacity).fill(NONE);
    this.next = new Int32Array(this.capacity).fill(NONE);
  }

  get size(): number {
    return this.slots.size;
  }
  get dirtyCount(): number {
    return this.dirtySet.size;
  }
  get full(): boolean {
    return this.slots.size >= this.capacity;
  }

  has(block: number): boolean {
    return this.slots.has(block);
  }

  /** The cached bytes of `block`, marked most recently used; undefined on a miss. */
  get(block: number): Uint8Array | undefined {
    const slot = this.slots.get(block);
    if (slot === undefined) return undefined;
    if (slot !== this.tail) {
      this.unlink(slot);
      this.append(slot);
    }
    return this.view(slot);
  }

  /** The cached bytes of `block` without touching the LRU order. */
  peek(block: number): Uint8Array | undefined {
    const slot = this.slots.get(block);
    return slot === undefined ? undefined : this.view(slot);
  }

  /** Takes a slot for `block` (contents undefined). The caller makes room first. */
  insert(block: number): Uint8Array {
    if (this.slots.has(block)) throw new Error(`block ${block} is already cached`);
    if (this.full) throw new Error('cache is full: evict first');
    let slot = this.freeSlots.pop();
    if (slot === undefined) slot = this.nextSlot++;
    this.slots.set(block, slot);
    this.blockOf[slot] = block;
    this.sharedIndex?.put(block, slot);
    this.append(slot);
    if (this.slots.size > this.peakBlocks) this.peakBlocks = this.slots.size;
    return this.view(slot);
  }

  isDirty(block: number): boolean {
    return this.dirtySet.has(block);
  }
  markDirty(block: number): void {
    this.dirtySet.add(block);
  }
  markClean(block: number): void {
    this.dirtySet.delete(block);
  }

  /** Drops `block` (dirty or not) and frees its slot. */
  remove(block: number): void {
    const slot = this.slots.get(block);
    if (slot === undefined) return;
    this.slots.delete(block);
    this.dirtySet.delete(block);
    this.sharedIndex?.delete(block, slot);
    this.unlink(slot);
    this.freeSlots.push(slot);
  }

  /** Least recently used block, or undefined when empty. */
  oldest(): number | undefined {
    return this.head === NONE ? undefined : this.blockOf[this.head];
  }

  /** Up to `max` dirty blocks, oldest dirtied first. */
  oldestDirty(max: number): number[] {
    const out: number[] = [];
    for (const block of this.dirtySet) {
      if (out.length >= max) break;
      out.push(block);
    }
    return out;
  }

  allDirty(): number[] {
    return [...this.dirtySet];
  }

  /** Cached block indexes in [first, last]. */
  cachedIn(first: number, last: number): number[] {
    const out: number[] = [];
    if (last - first + 1 <= this.slots.size) {
      for (let b = first; b <= last; b++) if (this.slots.has(b)) out.push(b);
    } else {
      for (const b of this.slots.keys()) if (b >= first && b <= last) out.push(b);
    }
    return out;
  }

  /** Drops every block. Only valid when nothing is dirty or dirty data is meant to go. */
  clear(): void {
    for (const slot of this.slots.values()) {
      this.freeSlots.push(slot);
      this.prev[slot] = this.next[slot] = NONE;
    }
    this.slots.clear();
    this.dirtySet.clear();
    this.sharedIndex?.clear();
    this.head = this.tail = NONE;
  }

  /** Puts `slot` at the most recent end of the LRU list. */
  private append(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NONE;
    if (this.tail === NONE) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
  }

  /** Takes `slot` out of the LRU list. */
  private unlink(slot: number): void {
    const p = this.prev[slot];
    const n = this.next[slot];
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.prev[slot] = this.next[slot] = NONE;
  }

  private view(slot: number): Uint8Array {
    const made = this.views[slot];
    if (made) return made;
    const seg = Math.floor(slot / this.slotsPerSegment);
    let segment = this.segments[seg];
    if (!segment) {
      const slotsHere = Math.min(this.slotsPerSegment, this.capacity - seg * this.slotsPerSegment);
      segment = new Uint8Array(slotsHere * this.blockSize);
      this.segments[seg] = segment;
    }
    const start = (slot % this.slotsPerSegment) * this.blockSize;
    const view = segment.subarray(start, start + this.blockSize);
    this.views[slot] = view;
    return view;
  }
}
