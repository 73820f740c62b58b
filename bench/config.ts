/**
 * The benchmark's tables and the types the driver (Node), the page and the
 * raw worker share. Adding a backend or a workload is one line here.
 */
import type { CacheMode } from '../src/index';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/**
 * Library backends under test, each with the raw baseline of the same
 * storage: `base` for workloads without a sync per write, `syncBase` for
 * modes that sync every write (writethrough, directsync) on write
 * workloads.
 */
export const BACKENDS = [
  { id: 'opfs', base: 'raw-opfs', syncBase: 'raw-opfs+flush' },
  // An OPFS disk of format 1 (no cluster map: the layout before thin disks), to price the map.
  { id: 'opfs-raw', base: 'raw-opfs', syncBase: 'raw-opfs+flush' },
  { id: 'idb', base: 'raw-idb-relaxed', syncBase: 'raw-idb-strict' },
  { id: 'memory', base: 'memcopy', syncBase: 'memcopy' },
] as const satisfies readonly { id: string; base: RawId; syncBase: RawId }[];

export type BackendId = (typeof BACKENDS)[number]['id'];

export type WorkloadId =
  | 'seq-write'
  | 'seq-read'
  | 'rand-write'
  | 'rand-read'
  | 'rand-read-hot'
  | 'fsync'
  | 'rand-write-f256'
  | 'mixed';

export interface Workload {
  id: WorkloadId;
  /** One line for tables. */
  title: string;
  /** Request size in bytes. */
  bs: number;
  /** Sequential (wrapping at the end of the region) or uniformly random, bs-aligned. */
  seq: boolean;
  /** Percentage of reads; the rest are writes. */
  readPct: number;
  /** A flush after every `flushEvery`-th write, awaited (1: the fsync pattern; 0: none until the end). */
  flushEvery: number;
  /** Random offsets only within the first `hotBytes` of the region, read once (untimed) before the runs. */
  hotBytes?: number;
}

/**
 * Every write workload overwrites the region in place (it was written once
 * in the prepare pass): OPFS writes into a new file cost ~4× more, so a
 * fresh file would measure file growth, not the disk. The prepare pass is
 * that new-file sequential write; its speed is reported separately.
 */
export const WORKLOADS: readonly Workload[] = [
  {
    id: 'seq-write',
    title: 'sequential write, 1 MiB, overwrite in place',
    bs: MiB,
    seq: true,
    readPct: 0,
    flushEvery: 0,
  },
  { id: 'seq-read', title: 'sequential read, 1 MiB', bs: MiB, seq: true, readPct: 100, flushEvery: 0 },
  { id: 'rand-write', title: 'random write, 4 KiB', bs: 4 * KiB, seq: false, readPct: 0, flushEvery: 0 },
  {
    id: 'rand-read',
    title: 'random read, 4 KiB, whole region',
    bs: 4 * KiB,
    seq: false,
    readPct: 100,
    flushEvery: 0,
  },
  {
    id: 'rand-read-hot',
    title: 'random read, 4 KiB, 16 MiB hot set (fits the 64 MiB worker cache; warmed first)',
    bs: 4 * KiB,
    seq: false,
    readPct: 100,
    flushEvery: 0,
    hotBytes: 16 * MiB,
  },
  {
    id: 'fsync',
    title: 'random write, 4 KiB, flush after every write',
    bs: 4 * KiB,
    seq: false,
    readPct: 0,
    flushEvery: 1,
  },
  {
    id: 'rand-write-f256',
    title: 'random write, 4 KiB, flush after every 256th',
    bs: 4 * KiB,
    seq: false,
    readPct: 0,
    flushEvery: 256,
  },
  { id: 'mixed', title: 'random 4 KiB, 70% read / 30% write', bs: 4 * KiB, seq: false, readPct: 70, flushEvery: 0 },
];

export const workloadById = (id: WorkloadId): Workload => WORKLOADS.find((w) => w.id === id) as Workload;
export const hasWrites = (w: Workload): boolean => w.readPct < 100;

export type RawId = 'raw-opfs' | 'raw-opfs+flush' | 'raw-idb-relaxed' | 'raw-idb-strict' | 'memcopy';

/** Baselines coded directly against the platform, in a dedicated worker, no library in the way. */
export const RAW_BASELINES: readonly { id: RawId; what: string; appliesTo(w: Workload): boolean }[] = [
  {
    id: 'raw-opfs',
    what: 'OPFS FileSystemSyncAccessHandle read/write; one flush() at the end of a write run (after every write in fsync)',
    appliesTo: () => true,
  },
  {
    id: 'raw-opfs+flush',
    what: 'OPFS sync handle, flush() after every write',
    // Reads do not differ from raw-opfs; fsync already flushes every write.
    appliesTo: (w) => hasWrites(w) && w.flushEvery !== 1,
  },
  {
    id: 'raw-idb-relaxed',
    what: 'IndexedDB (idb), 64 KiB chunks, one readwrite transaction per request, durability relaxed',
    // Relaxed has no flush: the fsync pattern is meaningless there.
    appliesTo: (w) => w.flushEvery !== 1,
  },
  {
    id: 'raw-idb-strict',
    what: 'IndexedDB (idb), 64 KiB chunks, one readwrite transaction per request, durability strict',
    // Reads are the same readonly transactions as relaxed.
    appliesTo: (w) => hasWrites(w),
  },
  {
    id: 'memcopy',
    what: 'copy to/from one pre-touched ArrayBuffer (the ceiling: no storage at all)',
    appliesTo: () => true,
  },
];

export type TargetSpec =
  | {
      kind: 'lib';
      id: string;
      backend: BackendId;
      mode: CacheMode;
      diskName: string;
      diskSize: number;
      /** Write the region once before the runs (a never-written disk reads zeros). */
      prepare: boolean;
      /** Lanes write from and read into memory lent by disk.allocBuffer() (no copy on the page). */
      lent?: boolean;
      /** Requests issued `depth` at a time, then all awaited (not pipelined). */
      batch?: boolean;
    }
  | { kind: 'raw'; id: RawId }
  /**
   * A SyncDisk (disk.openSync()) in a worker of its own, on the disk of
   * library target `of`, whose expected content it shares: QD1 only (it
   * blocks). Its id is `of` + '/sync', so its raw baseline is `of`'s.
   */
  | { kind: 'sync'; id: string; of: string };

/** Everything the page and the raw worker need to know about the run. */
export interface BenchConfig {
  /** Bytes of the region every workload addresses (and the size of the bench disks). */
  region: number;
  /** Milliseconds of issuing requests per run (then: drain, final flush). */
  timeMs: number;
  /** IndexedDB chunk size for the raw IDB baseline. */
  idbChunk: number;
}

/** bench.overlayRead(): an overlay's cold read of a URL base against a plain fetch. */
export interface OverlayReadResult {
  size: number;
  bs: number;
  depth: number;
  /**
   * Per repeat: a plain fetch of the whole base, plain fetches of it in the
   * overlay's Range requests (4 MiB, 4 at a time), the overlay's cold read,
   * its warm (local) read.
   */
  runs: { fetchMs: number; rangesMs: number; overlayMs: number; warmMs: number; fetched: number }[];
}

export interface LatencySummary {
  /** Microseconds. */
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

/** One timed run of one workload at one depth on one target. */
export interface RunResult {
  ops: number;
  reads: number;
  writes: number;
  bytes: number;
  /** First issue to the end of the final flush. */
  elapsedMs: number;
  /** Part of elapsedMs spent in the final flush. */
  finalFlushMs: number;
  mibps: number;
  iops: number;
  lat: LatencySummary;
  /** Sectors read back with the wrong stamp (must be 0). */
  badSectors: number;
  /** Library targets: stats() deltas over the run. */
  stats?: Record<string, number>;
}

export interface PrepareResult {
  /** Bytes written sequentially into a new file/store (0 when the target reused prepared content). */
  bytes: number;
  ms: number;
  mibps: number;
}

export interface ContentCheck {
  ok: boolean;
  bytes: number;
  ms: number;
  /** Hash of the bytes read back vs hash of what the writes put there. */
  readHash: string;
  expectedHash: string;
  badChunks: number;
  firstBad?: string;
}

export interface CaseResult {
  workload: WorkloadId;
  depth: number;
  target: string;
  runs: RunResult[];
  error?: string;
}

/** bench.imageIo(): import of a raw Blob and raw export, against raw OPFS sequential 1 MiB writes and reads. */
export interface ImageIoResult {
  size: number;
  /**
   * Per repeat, alternating: raw OPFS sequential write (+ flush) and read,
   * webdisk import and export; and two references that bound any import
   * and export: the Blob copied into a plain OPFS file by hand (blobCopyMs),
   * and a byte stream with no disk behind it, each 1 MiB copied from shared
   * memory into the reader's buffer (streamFloorMs).
   */
  runs: {
    rawWriteMs: number;
    rawReadMs: number;
    blobCopyMs: number;
    streamFloorMs: number;
    /** The same stream fed by a worker through shared memory (bench/reference-streams.ts): no disk behind it. */
    handoffMs: number;
    importMs: number;
    /** The disk's first export: its worker's read path runs for the first time. */
    exportMs: number;
    /** The same disk exported again at once. */
    exportAgainMs: number;
  }[];
}
