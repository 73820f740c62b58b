import { DiskError } from '../core/errors';
import { ENTRY_COPIED, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, QCOW2_MAGIC } from './qcow2-format';

/**
 * A qcow2 image (version 3, refcount order 4, no backing file) written in
 * one pass: the layout is computed first from which clusters hold data,
 * then the header, the L1 table, the refcount table and blocks, the L2
 * tables and the data clusters are produced in file order. Only clusters
 * with data take space: a sparse 3 GiB disk makes an image of a few MiB.
 *
 * Layout: [header][L1][refcount table][refcount blocks][L2 tables][data].
 * Every cluster of the file has refcount 1, so every table entry carries
 * the "copied" flag, as QEMU's own images do.
 */
export interface Qcow2Plan {
  /** The virtual disk's size in bytes. */
  size: number;
  clusterSize: number;
  /** Virtual cluster indexes that hold data, ascending. */
  data: ArrayLike<number>;
  /** Bytes of the whole image. */
  imageBytes: number;
  readonly layout: {
    l1Entries: number;
    l1Offset: number;
    refcountTableOffset: number;
    refcountTableClusters: number;
    refcountBlocksOffset: number;
    refcountBlocks: number;
    l2Offset: number;
    /** L1 indexes that have an L2 table, ascending. */
    l2Tables: number[];
    dataOffset: number;
    clusters: number;
  };
}

const REFCOUNT_ORDER = 4;
const HEADER_LENGTH = 112;

/** Plans the image of a disk of `size` bytes whose clusters `data` (ascending) hold data. */
export function planQcow2(size: number, data: ArrayLike<number>, clusterSize = 65536): Qcow2Plan {
  const bits = Math.log2(clusterSize);
  if (!Number.isInteger(bits) || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) {
    throw new DiskError(
      'EINVAL',
      `A qcow2 cluster size must be a power of two from 512 B to 2 MiB, not ${clusterSize}.`,
    );
  }
  const per = clusterSize / 8;
  const virtualClusters = Math.ceil(size / clusterSize);
  const l1Entries = Math.max(1, Math.ceil(virtualClusters / per));
  const l1Clusters = Math.ceil((l1Entries * 8) / clusterSize);
  const l2Tables: number[] = [];
  for (let k = 0; k < data.length; k++) {
    const v = data[k];
    if (k > 0 && v <= data[k - 1]) throw new DiskError('EINVAL', 'qcow2 export: data clusters must be ascending.');
    if (v >= virtualClusters) throw new DiskError('EINVAL', `qcow2 export: cluster ${v} is past the disk's end.`);
    const t = Math.floor(v / per);
    if (l2Tables[l2Tables.length - 1] !== t) l2Tables.push(t);
  }
  // The refcount blocks count every cluster, themselves included: iterate to the fixed point.
  const perBlock = (clusterSize * 8) / (1 << REFCOUNT_ORDER);
  let blocks = 1;
  let tableClusters = 1;
  for (;;) {
    const clusters = 1 + l1Clusters + tableClusters + blocks + l2Tables.length + data.length;
    const needBlocks = Math.ceil(clusters / perBlock);
    const needTable = Math.ceil((needBlocks * 8) / clusterSize);
    if (needBlocks <= blocks && needTable <= tableClusters) break;
    blocks = Math.max(blocks, needBlocks);
    tableClusters = Math.max(tableClusters, needTable);
  }
  const l1Offset = clusterSize;
  const refcountTableOffset = l1Offset + l1Clusters * clusterSize;
  const refcountBlocksOffset = refcountTableOffset + tableClusters * clusterSize;
  const l2Offset = refcountBlocksOffset + blocks * clusterSize;
  const dataOffset = l2Offset + l2Tables.length * clusterSize;
  const clusters = dataOffset / clusterSize + data.length;
  return {
    size,
    clusterSize,
    data,
    imageBytes: clusters * clusterSize,
    layout: {
      l1Entries,
      l1Offset,
      refcountTableOffset,
      refcountTableClusters: tableClusters,
      refcountBlocksOffset,
      refcountBlocks: blocks,
      l2Offset,
      l2Tables,
      dataOffset,
      clusters,
    },
  };
}

/**
 * The image's bytes in file order, a cluster (or a table) at a time.
 * `readCluster(v)` gives virtual cluster v's bytes (the last one may be
 * short: it is padded with zeros).
 */
export async function* writeQcow2(
  plan: Qcow2Plan,
  readCluster: (v: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const { clusterSize: cs, layout: l, data } = plan;
  const per = cs / 8;

  const header = new Uint8Array(cs);
  const h = new DataView(header.buffer);
  h.setUint32(0, QCOW2_MAGIC);
  h.setUint32(4, 3);
  h.setUint32(20, Math.log2(cs));
  h.setBigUint64(24, BigInt(plan.size));
  h.setUint32(36, l.l1Entries);
  h.setBigUint64(40, BigInt(l.l1Offset));
  h.setBigUint64(48, BigInt(l.refcountTableOffset));
  h.setUint32(56, l.refcountTableClusters);
  h.setUint32(96, REFCOUNT_ORDER);
  h.setUint32(100, HEADER_LENGTH);
  // Byte 104: compression type 0 (zlib); then the end-of-extensions marker (zeros).
  yield header;

  const l1 = new Uint8Array(l.refcountTableOffset - l.l1Offset);
  const l1View = new DataView(l1.buffer);
  for (const [k, t] of l.l2Tables.entries()) {
    l1View.setBigUint64(t * 8, BigInt(l.l2Offset + k * cs) | ENTRY_COPIED);
  }
  yield l1;

  const table = new Uint8Array(l.refcountTableClusters * cs);
  const tableView = new DataView(table.buffer);
  for (let b = 0; b < l.refcountBlocks; b++) {
    tableView.setBigUint64(b * 8, BigInt(l.refcountBlocksOffset + b * cs));
  }
  yield table;

  const perBlock = cs / 2;
  for (let b = 0; b < l.refcountBlocks; b++) {
    const block = new Uint8Array(cs);
    const view = new DataView(block.buffer);
    const first = b * perBlock;
    const n = Math.min(perBlock, l.clusters - first);
    for (let i = 0; i < n; i++) view.setUint16(i * 2, 1);
    yield block;
  }

  let k = 0; // index into data: the next data cluster's rank
  for (const t of l.l2Tables) {
    const l2 = new Uint8Array(cs);
    const view = new DataView(l2.buffer);
    while (k < data.length && Math.floor(data[k] / per) === t) {
      view.setBigUint64((data[k] % per) * 8, BigInt(l.dataOffset + k * cs) | ENTRY_COPIED);
      k++;
    }
    yield l2;
  }

  for (let i = 0; i < data.length; i++) {
    const bytes = await readCluster(data[i]);
    if (bytes.length === cs) {
      yield bytes;
    } else {
      const padded = new Uint8Array(cs);
      padded.set(bytes.subarray(0, cs));
      yield padded;
    }
  }
}
