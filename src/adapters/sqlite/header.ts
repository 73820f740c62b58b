/**
 * The header block at the start of each disk that holds a SQLite file: the
 * file's length and whether the file exists at all (a deleted journal's disk
 * is kept, marked absent, so the next transaction need not start a worker).
 * It is one small write inside the disk's first block, which the disk keeps
 * whole (old or new, never torn: webdisk's contract); the CRC tells a header
 * from a never-written block and catches anything else.
 */
import { crc32 } from '../../core/crc32';

/** Bytes reserved before the file's data: one cache block, so data writes never share a block with the header. */
export const HEADER_BYTES = 4096;
const MAGIC = 0x51534457; // "WDSQ" little-endian
const VERSION = 1;
const ENCODED = 32;
const FLAG_EXISTS = 1;

export interface FileHeader {
  exists: boolean;
  length: number;
}

/**
 * The whole header block (HEADER_BYTES, the rest zeros): a write of a whole
 * aligned block needs no read-modify-write in the modes that bypass the cache.
 */
export function encodeHeader(h: FileHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, VERSION, true);
  v.setUint32(8, h.exists ? FLAG_EXISTS : 0, true);
  v.setFloat64(16, h.length, true);
  v.setUint32(28, crc32(bytes.subarray(0, 28)), true);
  return bytes;
}

/** The header in `bytes` (the disk's first bytes); a block never written means "no file". Throws on a bad one. */
export function decodeHeader(bytes: Uint8Array): FileHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, ENCODED);
  if (v.getUint32(0, true) === 0 && bytes.subarray(0, ENCODED).every((b) => b === 0)) {
    return { exists: false, length: 0 };
  }
  const length = v.getFloat64(16, true);
  if (
    v.getUint32(0, true) !== MAGIC ||
    v.getUint32(28, true) !== crc32(bytes.subarray(0, 28)) ||
    !Number.isSafeInteger(length) ||
    length < 0
  ) {
    throw new Error('the SQLite file header of this disk is corrupt');
  }
  if (v.getUint32(4, true) !== VERSION)
    throw new Error(`SQLite file header version ${v.getUint32(4, true)} is unknown`);
  return { exists: (v.getUint32(8, true) & FLAG_EXISTS) !== 0, length };
}

/** How many header bytes to read. */
export const HEADER_READ_BYTES = ENCODED;
