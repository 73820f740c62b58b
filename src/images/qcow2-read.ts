import { DiskError } from '../core/errors';
import {
  type ClusterEntry,
  decodeL2,
  l2Entries,
  l2TableOffset,
  MAX_CLUSTER_BITS,
  MIN_CLUSTER_BITS,
  parseHeader,
  type Qcow2Header,
  qcow2Invalid,
} from './qcow2-format';
import type { ByteSource } from './source';

/** Contiguous host data is read in pieces of at most this. */
const MAX_READ = 1 << 20;

/** A stretch of the virtual disk that holds data: the rest reads as zeros. */
export interface DataRun {
  /** Byte offset in the virtual disk. */
  offset: number;
  bytes: Uint8Array;
}

/** Reads and checks the header of the qcow2 image in `src`. */
export async function readQcow2Header(src: ByteSource): Promise<Qcow2Header> {
  // The header and its extensions fill the first cluster: read that much, not the largest cluster's worth.
  const head = await src.read(0, Math.min(src.size, 512));
  const bits = head.length >= 24 ? new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(20, false) : 0;
  const cluster = bits >= MIN_CLUSTER_BITS && bits <= MAX_CLUSTER_BITS ? Math.min(src.size, 2 ** bits) : 0;
  return parseHeader(cluster > head.length ? await src.read(0, cluster) : head, src.size);
}

/**
 * The image's data, in virtual order: runs of clusters that hold data
 * (zero and unallocated clusters are skipped: they read as zeros). Memory
 * stays bounded: one L2 table and one run (≤ 1 MiB, or one cluster) at a
 * time, whatever the image's size.
 */
export async function* qcow2DataRuns(src: ByteSource, h: Qcow2Header): AsyncGenerator<DataRun> {
  const per = l2Entries(h);
  const cs = h.clusterSize;
  const clusters = Math.ceil(h.size / cs);
  const l1Bytes = h.l1Entries * 8;
  const l1 = l1Bytes > 0 ? await src.read(h.l1Offset, l1Bytes) : new Uint8Array(0);
  if (l1.length !== l1Bytes) throw qcow2Invalid(h.l1Offset, 'the L1 table is cut short');
  const l1View = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  /** A run of standard clusters, contiguous on both sides, not yet read. */
  let run: { virtual: number; host: number; length: number } | undefined;
  const flush = async function* (): AsyncGenerator<DataRun> {
    if (!run) return;
    const { virtual, host, length } = run;
    run = undefined;
    const bytes = await src.read(host, length);
    if (bytes.length !== length) throw qcow2Invalid(host, 'a data cluster is cut short');
    yield { offset: virtual, bytes: clip(bytes, virtual, h.size) };
  };
  const l1Used = Math.ceil(clusters / per);
  for (let i = 0; i < l1Used; i++) {
    const at = h.l1Offset + i * 8;
    const table = l2TableOffset(h, l1View.getBigUint64(i * 8, false), src.size, at);
    if (table === 0) continue;
    const l2 = await src.read(table, cs);
    if (l2.length !== cs) throw qcow2Invalid(table, 'an L2 table is cut short');
    const l2View = new DataView(l2.buffer, l2.byteOffset, l2.byteLength);
    const last = Math.min(per, clusters - i * per);
    for (let j = 0; j < last; j++) {
      const virtual = (i * per + j) * cs;
      const e: ClusterEntry = decodeL2(h, l2View.getBigUint64(j * 8, false), src.size, table + j * 8);
      if (e.kind === 'data') {
        if (
          run &&
          run.virtual + run.length === virtual &&
          run.host + run.length === e.offset &&
          run.length + cs <= MAX_READ
        ) {
          run.length += cs;
          continue;
        }
        yield* flush();
        run = { virtual, host: e.offset, length: cs };
      } else if (e.kind === 'compressed') {
        yield* flush();
        const packed = await src.read(e.offset, e.length);
        yield { offset: virtual, bytes: clip(await inflateCluster(packed, cs, e.offset), virtual, h.size) };
      } else {
        yield* flush();
      }
    }
  }
  yield* flush();
}

/** The last cluster may reach past the virtual size: only its bytes inside count. */
function clip(bytes: Uint8Array, offset: number, size: number): Uint8Array {
  return offset + bytes.length > size ? bytes.subarray(0, size - offset) : bytes;
}

/**
 * Inflates one compressed cluster (raw deflate, as QEMU writes it). The
 * stored span runs to the end of a 512-byte sector, so bytes after the
 * deflate stream are normal; output stops at one cluster, so a hostile
 * stream cannot make more (QEMU, too, wants exactly one cluster out).
 */
export async function inflateCluster(packed: Uint8Array, clusterSize: number, at: number): Promise<Uint8Array> {
  const ds = new DecompressionStream('deflate-raw');
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  writer.write(packed as Uint8Array<ArrayBuffer>).catch(() => undefined);
  writer.close().catch(() => undefined);
  const out = new Uint8Array(clusterSize);
  let got = 0;
  try {
    while (got < clusterSize) {
      const { done, value } = await reader.read();
      if (done) break;
      const n = Math.min(value.length, clusterSize - got);
      out.set(value.subarray(0, n), got);
      got += n;
    }
  } catch (err) {
    // Trailing bytes after a complete stream make some engines fail late: enough output is enough.
    if (got < clusterSize) {
      throw new DiskError(
        'EINVAL',
        `Not a valid qcow2 image: the compressed cluster at byte ${at} does not inflate (${(err as Error)?.message ?? err}).`,
      );
    }
  }
  reader.cancel().catch(() => undefined);
  if (got < clusterSize) {
    throw qcow2Invalid(at, `a compressed cluster inflates to ${got} bytes, not ${clusterSize}`);
  }
  return out;
}
