/**
 * The worker's block cache in shared memory, so the page can serve a read
 * that hits it without a crossing. The worker owns it; the page only reads,
 * under a sequence lock: `seq` is odd while the block core runs any request
 * (only then does the cache change), and a page read is kept only if `seq`
 * was even and unchanged around its copy. The page reads only while none of
 * its own calls is unanswered, so every earlier call's effect is in place.
 *
 * Layout: a control block, then slot → block (Float64, -1 free), then an
 * open-addressing index block → slot + 1 (0 empty, -1 deleted), then the
 * slots' bytes.
 */
export const SHARED_CTRL = { seq: 0, capacity: 1, tableSize: 2, blockSize: 3, size: 4 } as const;

export interface SharedCacheViews {
  ctrl: Int32Array;
  blockOf: Float64Array;
  index: Int32Array;
  data: Uint8Array;
  capacity: number;
  blockSize: number;
}

const EMPTY = 0;
const DELETED = -1;

function tableSizeFor(capacity: number): number {
  let n = 16;
  while (n < capacity * 2) n *= 2;
  return n;
}

function offsets(capacity: number, tableSize: number) {
  const ctrl = 0;
  const blockOf = SHARED_CTRL.size * 4; // 16: 8-aligned
  const index = blockOf + capacity * 8;
  const data = Math.ceil((index + tableSize * 4) / 8) * 8;
  return { ctrl, blockOf, index, data };
}

/** A new shared cache of `capacity` slots of `blockSize` bytes. */
export function newSharedCache(capacity: number, blockSize: number): SharedArrayBuffer {
  const tableSize = tableSizeFor(capacity);
  const at = offsets(capacity, tableSize);
  const sab = new SharedArrayBuffer(at.data + capacity * blockSize);
  const ctrl = new Int32Array(sab, 0, SHARED_CTRL.size);
  ctrl[SHARED_CTRL.capacity] = capacity;
  ctrl[SHARED_CTRL.tableSize] = tableSize;
  ctrl[SHARED_CTRL.blockSize] = blockSize;
  new Float64Array(sab, at.blockOf, capacity).fill(-1);
  return sab;
}

export function sharedCacheViews(sab: SharedArrayBuffer): SharedCacheViews {
  const ctrl = new Int32Array(sab, 0, SHARED_CTRL.size);
  const capacity = ctrl[SHARED_CTRL.capacity];
  const tableSize = ctrl[SHARED_CTRL.tableSize];
  const blockSize = ctrl[SHARED_CTRL.blockSize];
  const at = offsets(capacity, tableSize);
  return {
    ctrl,
    blockOf: new Float64Array(sab, at.blockOf, capacity),
    index: new Int32Array(sab, at.index, tableSize),
    data: new Uint8Array(sab, at.data, capacity * blockSize),
    capacity,
    blockSize,
  };
}

function hash(block: number, mask: number): number {
  return (Math.imul(block >>> 0, 0x9e3779b1) ^ Math.imul((block / 0x100000000) >>> 0, 0x85ebca77)) & mask;
}

/** The slot holding `block`, or -1. (The page checks the answer under the sequence lock.) */
export function findSlot(v: SharedCacheViews, block: number): number {
  const mask = v.index.length - 1;
  for (let i = hash(block, mask), n = 0; n <= mask; i = (i + 1) & mask, n++) {
    const e = v.index[i];
    if (e === EMPTY) return -1;
    if (e > 0 && v.blockOf[e - 1] === block) return e - 1;
  }
  return -1;
}

/** The worker's side: keeps the index in step with the cache's map. */
export class SharedIndex {
  private deleted = 0;
  constructor(private readonly v: SharedCacheViews) {}

  put(block: number, slot: number): void {
    const { index } = this.v;
    const mask = index.length - 1;
    let i = hash(block, mask);
    while (index[i] > 0) i = (i + 1) & mask;
    if (index[i] === DELETED) this.deleted--;
    index[i] = slot + 1;
    this.v.blockOf[slot] = block;
  }

  delete(block: number, slot: number): void {
    const { index } = this.v;
    const mask = index.length - 1;
    for (let i = hash(block, mask), n = 0; n <= mask && index[i] !== EMPTY; i = (i + 1) & mask, n++) {
      if (index[i] === slot + 1) {
        index[i] = DELETED;
        this.deleted++;
        break;
      }
    }
    this.v.blockOf[slot] = -1;
    // Deleted marks lengthen every probe: rebuild once they are many.
    if (this.deleted > index.length / 4) this.rebuild();
  }

  clear(): void {
    this.v.index.fill(EMPTY);
    this.v.blockOf.fill(-1);
    this.deleted = 0;
  }

  private rebuild(): void {
    this.v.index.fill(EMPTY);
    this.deleted = 0;
    const { blockOf } = this.v;
    for (let slot = 0; slot < blockOf.length; slot++) if (blockOf[slot] >= 0) this.put(blockOf[slot], slot);
  }
}
