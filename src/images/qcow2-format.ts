import { DiskError } from '../core/errors';

/**
 * The qcow2 image format: the header and the two levels of tables, as QEMU's
 * docs/interop/qcow2.txt specifies them. Every number read from an image is
 * untrusted: each is checked against the file's length and QEMU's own
 * limits before anything is allocated from it.
 */

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
/** QEMU's limits (block/qcow2.h): 512 B to 2 MiB clusters, a 32 MiB L1 table. */
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
export const MAX_L1_BYTES = 32 << 20;
/** Virtual sizes past QEMU's 2^61 (QCOW_MAX_SIZE... in practice far less) are refused. */
export const MAX_VIRTUAL_SIZE = 2 ** 53 - 1;

/** Incompatible feature bits (header v3). */
export const INCOMPAT = {
  dirty: 1n << 0n,
  corrupt: 1n << 1n,
  externalData: 1n << 2n,
  compressionType: 1n << 3n,
  extendedL2: 1n << 4n,
} as const;
const KNOWN_INCOMPAT =
  INCOMPAT.dirty | INCOMPAT.corrupt | INCOMPAT.externalData | INCOMPAT.compressionType | INCOMPAT.extendedL2;

/** Header extension types we recognise (the rest are skipped, as QEMU does). */
const EXT_END = 0;
const EXT_EXTERNAL_DATA = 0x44415441;
const EXT_ENCRYPTION = 0x0537be77;

/** L1/L2 entry bits. */
export const ENTRY_COPIED = 1n << 63n;
export const ENTRY_COMPRESSED = 1n << 62n;
export const ENTRY_ZERO = 1n;
/** Bits 9–55: a cluster-aligned host offset (L1 entries, standard L2 entries). */
export const OFFSET_MASK = 0x00fffffffffffe00n;

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  /** The virtual disk's size in bytes: whole 512-byte sectors, as QEMU sees it. */
  size: number;
  l1Entries: number;
  l1Offset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountOrder: number;
  /** True when the image was not closed cleanly (lazy refcounts): its refcounts may be stale, its tables are not. */
  dirty: boolean;
  /** Bytes of header (v2: 72). */
  headerLength: number;
}

/** Entries in one L2 table. */
export function l2Entries(h: Pick<Qcow2Header, 'clusterBits'>): number {
  return 2 ** (h.clusterBits - 3);
}

function bad(offset: number, what: string): DiskError {
  return new DiskError(
    'EINVAL',
    `Not a valid qcow2 image: ${what} (at byte ${offset}). Check the file, or import it as raw with format: 'raw'.`,
  );
}

function unsupported(what: string): DiskError {
  return new DiskError(
    'ENOTSUP',
    `This qcow2 image uses ${what}, which webdisk does not import. Convert it first, e.g. \`qemu-img convert -O qcow2 in.qcow2 out.qcow2\` (or -O raw).`,
  );
}

function u64(view: DataView, at: number): bigint {
  return view.getBigUint64(at, false);
}

/** A u64 field that must fit a safe integer (an offset or a size). */
function safe(view: DataView, at: number, what: string): number {
  const v = u64(view, at);
  if (v > BigInt(MAX_VIRTUAL_SIZE)) throw bad(at, `${what} ${v} is too large`);
  return Number(v);
}

/** True when `bytes` starts with the qcow2 magic. */
export function isQcow2(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false) === QCOW2_MAGIC;
}

/**
 * Parses and checks the header (and its extensions) from the image's first
 * bytes — at least its first cluster's worth, or the whole file if shorter.
 * `fileLength` bounds every table offset.
 */
export function parseHeader(bytes: Uint8Array, fileLength: number): Qcow2Header {
  if (bytes.length < 72) throw bad(0, `the file is ${bytes.length} bytes, shorter than a qcow2 header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, false) !== QCOW2_MAGIC) throw bad(0, 'no qcow2 magic');
  const version = view.getUint32(4, false);
  if (version !== 2 && version !== 3) {
    if (version > 3) throw unsupported(`format version ${version}`);
    throw bad(4, `version ${version}`);
  }
  const backingOffset = u64(view, 8);
  if (backingOffset !== 0n) throw unsupported('a backing file');
  const clusterBits = view.getUint32(20, false);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw bad(20, `cluster_bits ${clusterBits} (QEMU allows ${MIN_CLUSTER_BITS}–${MAX_CLUSTER_BITS})`);
  }
  const clusterSize = 2 ** clusterBits;
  // QEMU sees whole 512-byte sectors only: a size between sectors is cut to the one below.
  const size = Math.floor(safe(view, 24, 'size') / 512) * 512;
  const crypt = view.getUint32(32, false);
  if (crypt !== 0)
    throw unsupported(crypt === 1 ? 'AES encryption' : crypt === 2 ? 'LUKS encryption' : `encryption method ${crypt}`);
  const l1Entries = view.getUint32(36, false);
  const l1Offset = safe(view, 40, 'l1_table_offset');
  const refcountTableOffset = safe(view, 48, 'refcount_table_offset');
  const refcountTableClusters = view.getUint32(56, false);
  const snapshots = view.getUint32(60, false);
  const snapshotsOffset = safe(view, 64, 'snapshots_offset');

  let headerLength = 72;
  let refcountOrder = 4;
  let dirty = false;
  if (version === 3) {
    if (bytes.length < 104) throw bad(72, 'the version 3 header is cut short');
    const incompat = u64(view, 72);
    const unknown = incompat & ~KNOWN_INCOMPAT;
    if (unknown !== 0n) throw unsupported(`unknown incompatible features (bits 0x${unknown.toString(16)})`);
    if (incompat & INCOMPAT.corrupt)
      throw bad(72, 'the image is marked corrupt; repair it with `qemu-img check -r all`');
    if (incompat & INCOMPAT.externalData) throw unsupported('an external data file');
    if (incompat & INCOMPAT.extendedL2) throw unsupported('extended L2 entries (subclusters)');
    dirty = (incompat & INCOMPAT.dirty) !== 0n;
    // Autoclear bit 1 (data-file-raw) means an external data file too: QEMU refuses it without one.
    if (u64(view, 88) & 2n) throw unsupported('an external data file (the data-file-raw bit)');
    refcountOrder = view.getUint32(96, false);
    if (refcountOrder > 6) throw bad(96, `refcount_order ${refcountOrder}`);
    headerLength = view.getUint32(100, false);
    if (headerLength < 104 || headerLength % 8 !== 0 || headerLength > clusterSize) {
      throw bad(100, `header_length ${headerLength}`);
    }
    if (headerLength > 104) {
      if (bytes.length < 105) throw bad(104, 'the header is cut short');
      const type = bytes[104];
      if (type !== 0) throw unsupported(type === 1 ? 'zstd compression' : `compression type ${type}`);
    }
    if (incompat & INCOMPAT.compressionType && !(headerLength > 104 && bytes[104] !== 0)) {
      // The bit says "not zlib", the field says zlib: QEMU refuses such a header.
      throw bad(72, 'the compression-type feature bit is set without a compression type');
    }
  }
  if (headerLength > bytes.length) throw bad(0, 'the header is cut short');
  checkExtensions(view, headerLength, Math.min(bytes.length, clusterSize));

  // As strict as QEMU's open at least (what it refuses, webdisk refuses), then stricter: within the file.
  if (snapshots > 0) throw unsupported(`internal snapshots (${snapshots})`);
  if (snapshotsOffset % clusterSize !== 0) throw bad(64, `snapshots_offset ${snapshotsOffset} is not cluster-aligned`);
  if (refcountTableClusters === 0) throw bad(56, 'there is no refcount table');
  if (refcountTableOffset % clusterSize !== 0 || refcountTableOffset === 0) {
    throw bad(48, `refcount_table_offset ${refcountTableOffset} is not a cluster-aligned offset past the header`);
  }
  if (refcountTableOffset + refcountTableClusters * clusterSize > fileLength) {
    throw bad(
      48,
      `the refcount table (${refcountTableClusters} clusters at ${refcountTableOffset}) lies outside the ${fileLength}-byte file`,
    );
  }
  if (l1Offset % clusterSize !== 0) throw bad(40, `l1_table_offset ${l1Offset} is not cluster-aligned`);
  // The tables, against the file and the virtual size.
  const perL2 = 2 ** (clusterBits - 3);
  const needL1 = Math.ceil(size / clusterSize / perL2);
  if (l1Entries < needL1) throw bad(36, `l1_size ${l1Entries} is too small for a ${size}-byte disk (needs ${needL1})`);
  if (l1Entries * 8 > MAX_L1_BYTES) throw bad(36, `l1_size ${l1Entries} exceeds QEMU's limit`);
  if (l1Entries > 0) {
    if (l1Offset < clusterSize || l1Offset + l1Entries * 8 > fileLength) {
      throw bad(40, `the L1 table (${l1Entries} entries at ${l1Offset}) lies outside the ${fileLength}-byte file`);
    }
  }
  return {
    version,
    clusterBits,
    clusterSize,
    size,
    l1Entries,
    l1Offset,
    refcountTableOffset,
    refcountTableClusters,
    refcountOrder,
    dirty,
    headerLength,
  };
}

/** Walks the header extensions: those that change how data is read are refused; the rest skipped. */
function checkExtensions(view: DataView, start: number, end: number): void {
  let at = start;
  while (at + 8 <= end) {
    const type = view.getUint32(at, false);
    const length = view.getUint32(at + 4, false);
    // QEMU checks the length first, even the end marker's.
    if (length > end - at - 8) throw bad(at, `header extension 0x${type.toString(16)} is too large`);
    if (type === EXT_END) return;
    if (type === EXT_EXTERNAL_DATA) throw unsupported('an external data file');
    if (type === EXT_ENCRYPTION) throw unsupported('encryption');
    const next = at + 8 + Math.ceil(length / 8) * 8;
    if (next > end) throw bad(at, `header extension 0x${type.toString(16)} runs past the first cluster`);
    at = next;
  }
}

/** What one virtual cluster holds, from its L2 entry. */
export type ClusterEntry =
  | { kind: 'unallocated' }
  | { kind: 'zero' }
  | { kind: 'data'; offset: number }
  | { kind: 'compressed'; offset: number; length: number };

/** The host offset of an L2 table from an L1 entry (0: none); checked against the file. */
export function l2TableOffset(h: Qcow2Header, entry: bigint, fileLength: number, at: number): number {
  if ((entry & ~(OFFSET_MASK | ENTRY_COPIED)) !== 0n)
    throw bad(at, `L1 entry 0x${entry.toString(16)} has reserved bits set`);
  const offset = Number(entry & OFFSET_MASK);
  if (offset === 0) return 0;
  if (offset % h.clusterSize !== 0) throw bad(at, `L2 table offset ${offset} is not cluster-aligned`);
  if (offset + h.clusterSize > fileLength)
    throw bad(at, `L2 table at ${offset} lies outside the ${fileLength}-byte file`);
  return offset;
}

/** Decodes one L2 entry; data offsets are checked against the file. */
export function decodeL2(h: Qcow2Header, entry: bigint, fileLength: number, at: number): ClusterEntry {
  if (entry & ENTRY_COMPRESSED) {
    // Compressed: bits 0..x-1 the byte offset, bits x..61 the extra 512-byte sectors.
    const x = 62 - (h.clusterBits - 8);
    const offset = Number(entry & ((1n << BigInt(x)) - 1n));
    const sectors = Number((entry >> BigInt(x)) & ((1n << BigInt(62 - x)) - 1n));
    const span = (sectors + 1) * 512 - (offset % 512);
    if (offset < h.clusterSize || offset >= fileLength) {
      throw bad(at, `compressed cluster at ${offset} lies outside the ${fileLength}-byte file`);
    }
    // The last sector may run past the end of the file: QEMU reads what is there.
    return { kind: 'compressed', offset, length: Math.min(span, fileLength - offset) };
  }
  if (h.version === 2 && entry & ENTRY_ZERO) throw bad(at, 'a zero-cluster flag in a version 2 image');
  if ((entry & ~(OFFSET_MASK | ENTRY_COPIED | ENTRY_ZERO)) !== 0n) {
    throw bad(at, `L2 entry 0x${entry.toString(16)} has reserved bits set`);
  }
  if (entry & ENTRY_ZERO) return { kind: 'zero' };
  const offset = Number(entry & OFFSET_MASK);
  if (offset === 0) return { kind: 'unallocated' };
  if (offset % h.clusterSize !== 0) throw bad(at, `data cluster offset ${offset} is not cluster-aligned`);
  if (offset + h.clusterSize > fileLength) {
    throw bad(at, `data cluster at ${offset} lies outside the ${fileLength}-byte file (truncated image?)`);
  }
  return { kind: 'data', offset };
}

export { bad as qcow2Invalid };
