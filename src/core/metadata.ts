import { crc32 } from './crc32';
import { DiskError } from './errors';
import type { BlockStore, MaybePromise } from './store';

/**
 * Disk metadata. Kept in its own small store as two 512-byte slots, each
 * with a generation number and a CRC: a change writes the slot *not*
 * holding the current generation, then syncs. A crash mid-write leaves a
 * slot with a bad CRC and the other, older, slot wins: never a torn
 * in-place overwrite.
 */
export interface DiskMeta {
  /** Format version of the layout. */
  version: 1;
  /** Logical disk size in bytes. */
  size: number;
  /** Cache block size used when the disk was last opened. */
  blockSize: number;
  /** True only after a clean close(). */
  clean: boolean;
  /** Increases with every metadata write. */
  generation: number;
}

export const META_VERSION = 1;
const SLOT = 512;
const MAGIC = 0x4b534457; // "WDSK" little-endian
const HEADER = 12; // magic, length, crc

export function encodeMeta(meta: DiskMeta): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  if (json.length > SLOT - HEADER) throw new Error('metadata too large');
  const slot = new Uint8Array(SLOT);
  const view = new DataView(slot.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, json.length, true);
  view.setUint32(8, crc32(json), true);
  slot.set(json, HEADER);
  return slot;
}

/** Decodes one slot; undefined if empty, torn or foreign. */
export function decodeMeta(slot: Uint8Array): DiskMeta | undefined {
  if (slot.length < SLOT) return undefined;
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  const len = view.getUint32(4, true);
  if (len > SLOT - HEADER) return undefined;
  const json = slot.subarray(HEADER, HEADER + len);
  if (crc32(json) !== view.getUint32(8, true)) return undefined;
  try {
    const m = JSON.parse(new TextDecoder().decode(json)) as DiskMeta;
    if (
      m.version !== META_VERSION ||
      !Number.isSafeInteger(m.size) ||
      m.size <= 0 ||
      !Number.isSafeInteger(m.blockSize) ||
      typeof m.clean !== 'boolean' ||
      !Number.isSafeInteger(m.generation)
    ) {
      return undefined;
    }
    return m;
  } catch {
    return undefined;
  }
}

/**
 * Reads the newest valid metadata. Returns undefined for a store that was
 * never written (all zeros: a new disk); throws ECORRUPT when something is
 * there but no slot is valid.
 */
export async function readMeta(store: BlockStore): Promise<DiskMeta | undefined> {
  const buf = new Uint8Array(2 * SLOT);
  await store.read(0, buf);
  if (buf.every((b) => b === 0)) return undefined;
  const meta = newestMeta(buf);
  if (!meta) {
    throw new DiskError(
      'ECORRUPT',
      'The disk metadata is unreadable (both copies damaged). Export data.img and delete the disk, or recreate it.',
    );
  }
  return meta;
}

/** The newer valid slot of a metadata file's bytes, if any. */
export function newestMeta(bytes: Uint8Array): DiskMeta | undefined {
  const a = decodeMeta(bytes.subarray(0, SLOT));
  const b = decodeMeta(bytes.subarray(SLOT, 2 * SLOT));
  if (!a || !b) return a ?? b;
  return a.generation >= b.generation ? a : b;
}

/**
 * Writes `meta` crash-safely into the slot its generation selects, then
 * syncs: done in the call over a synchronous store (the core's synchronous
 * calls may need it).
 */
export function writeMeta(store: BlockStore, meta: DiskMeta): MaybePromise {
  const written = store.write((meta.generation % 2) * SLOT, encodeMeta(meta));
  return written instanceof Promise ? written.then(() => store.sync()) : store.sync();
}
