/**
 * The benchmark page: runs the library targets here, in the page, through
 * the public API of the built library (`/dist/webdisk.js`, loaded at run
 * time, not bundled), and forwards the raw baselines to bench/raw-worker.ts.
 * The driver (bench/run.ts) calls `window.bench.*` once per step.
 */
import type * as Webdisk from '../src/index';
import { readByob } from './byob';
import {
  type BenchConfig,
  type ContentCheck,
  type ImageIoResult,
  type OverlayReadResult,
  type PrepareResult,
  type RunResult,
  type TargetSpec,
  WORKLOADS,
  type WorkloadId,
} from './config';
import { Expectation, MAX_BS, runSeed, WriteBuffer } from './content';
import { type AsyncIo, Engine } from './engine';
import type { RawReply, RawRequest } from './raw-worker';
import { handoffBuffer, handoffStream, sharedMemoryStream } from './reference-streams';
import type { SyncReply, SyncRequest, SyncRunReply } from './sync-worker';

type DiskStats = Webdisk.DiskStats;

/** Not a module specifier the bundler should resolve: the page loads the built library as is. */
const LIB_URL = '/dist/webdisk.js';

let webdisk: typeof Webdisk;
let cfg: BenchConfig;
let engine: Engine;
let raw: Worker;
let rawSeq = 1;
const rawPending = new Map<number, (r: RawReply) => void>();

/** Expectations of persistent library disks, by name: every mode reopens the same prepared disk. */
const diskContent = new Map<string, Expectation>();

type Open =
  | { kind: 'lib'; spec: Extract<TargetSpec, { kind: 'lib' }>; disk: Webdisk.Disk; io: AsyncIo; expect: Expectation }
  | { kind: 'raw'; spec: Extract<TargetSpec, { kind: 'raw' }> }
  | { kind: 'sync'; spec: Extract<TargetSpec, { kind: 'sync' }>; call: SyncCall; worker: Worker };

/** SyncRequest without its id (Omit distributed over the union). */
type SyncCallArg = SyncRequest extends infer R ? (R extends SyncRequest ? Omit<R, 'id'> : never) : never;
type SyncCall = <T>(req: SyncCallArg) => Promise<T>;

/** A SyncDisk target's worker (bench/sync-worker.ts) and the calls to it, one message per step. */
function startSyncWorker(): { worker: Worker; call: SyncCall } {
  const worker = new Worker(new URL('./sync-worker.ts', import.meta.url), {
    type: 'module',
    name: 'webdisk-bench-sync',
  });
  const pending = new Map<number, (r: SyncReply) => void>();
  let seq = 1;
  worker.onmessage = (ev: MessageEvent<SyncReply>) => {
    const done = pending.get(ev.data.id);
    pending.delete(ev.data.id);
    done?.(ev.data);
  };
  worker.onerror = (ev) => {
    for (const done of pending.values()) done({ id: 0, ok: false, error: `sync worker error: ${ev.message}` });
    pending.clear();
  };
  const call = <T>(req: SyncCallArg) => {
    const id = seq++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, (r) => (r.ok ? resolve(r.value as T) : reject(new Error(r.error))));
      worker.postMessage({ ...req, id });
    });
  };
  return { worker, call };
}
/**
 * A new OPFS disk in the layout before thin disks (format 1: no map.bin,
 * data.img is the disk): made as a thin disk, its map removed before any write.
 */
async function makeRawLayout(name: string, size: number): Promise<void> {
  await webdisk.deleteDisk(name);
  await (await webdisk.openDisk({ name, size, backend: 'opfs' })).close();
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('webdisk');
  await (await dir.getDirectoryHandle(name)).removeEntry('map.bin');
}

/** Every open target by id: all stay open so each repeat can run them back to back. */
const targets = new Map<string, Open>();

function target(id: string): Open {
  const t = targets.get(id);
  if (!t) throw new Error(`target ${id} is not open`);
  return t;
}

/** RawRequest without its id (Omit distributed over the union). */
type RawCall = RawRequest extends infer R ? (R extends RawRequest ? Omit<R, 'id'> : never) : never;

function rawCall<T>(req: RawCall): Promise<T> {
  const id = rawSeq++;
  return new Promise<T>((resolve, reject) => {
    rawPending.set(id, (r) => (r.ok ? resolve(r.value as T) : reject(new Error(r.error))));
    raw.postMessage({ ...req, id });
  });
}

/** Lanes of a `lent` target get memory from disk.allocBuffer(): a write buffer and a read buffer each. */
const LENT_LANES = 32;

async function lentLanes(disk: Webdisk.Disk): Promise<{ write: WriteBuffer[]; read: Uint8Array[] }> {
  const write: WriteBuffer[] = [];
  const read: Uint8Array[] = [];
  for (let i = 0; i < LENT_LANES; i++) {
    write.push(new WriteBuffer(MAX_BS, await disk.allocBuffer(MAX_BS)));
    read.push(await disk.allocBuffer(MAX_BS));
  }
  return { write, read };
}

function libIo(disk: Webdisk.Disk, lent?: { write: WriteBuffer[]; read: Uint8Array[] }): AsyncIo {
  // Each lane reads into its own reused buffer, as the raw baselines do and
  // as an emulator does with its sector buffer: readInto, no allocation.
  // Lanes past the lent ones (depth > LENT_LANES) use ordinary memory.
  const laneBufs: Uint8Array[] = lent ? [...lent.read] : [];
  const laneBuf = (lane: number, length: number) => {
    let b = laneBufs[lane];
    if (!b || b.length < length) {
      b = new Uint8Array(Math.max(length, 1 << 20));
      laneBufs[lane] = b;
    }
    return b.subarray(0, length);
  };
  return {
    read: (offset, length, lane) => disk.readInto(offset, laneBuf(lane, length)),
    write: (offset, data) => disk.write(offset, data),
    flush: () => disk.flush(),
    laneWriteBuffer: lent ? (lane) => lent.write[lane] : undefined,
  };
}

/** The region a library target's workloads address: the bench region, or the whole disk if smaller. */
function regionOf(spec: Extract<TargetSpec, { kind: 'lib' }>): number {
  return Math.min(cfg.region, spec.diskSize);
}

const STAT_DELTAS: (keyof DiskStats)[] = [
  'reads',
  'writes',
  'flushes',
  'storeReads',
  'storeWrites',
  'storeBytesWritten',
  'storeSyncs',
  'cacheHits',
  'cacheMisses',
];

const bench = {
  async init(config: BenchConfig) {
    cfg = config;
    webdisk = (await import(/* @vite-ignore */ LIB_URL)) as typeof Webdisk;
    engine = new Engine(cfg);
    engine.warm(32);
    raw = new Worker(new URL('./raw-worker.ts', import.meta.url), { type: 'module', name: 'webdisk-bench-raw' });
    raw.onmessage = (ev: MessageEvent<RawReply>) => {
      const done = rawPending.get(ev.data.id);
      rawPending.delete(ev.data.id);
      done?.(ev.data);
    };
    raw.onerror = (ev) => {
      for (const done of rawPending.values()) done({ id: 0, ok: false, error: `raw worker error: ${ev.message}` });
      rawPending.clear();
    };
    const w = await rawCall<{ crossOriginIsolated: boolean }>({ op: 'init', cfg });
    return {
      userAgent: navigator.userAgent,
      hardwareConcurrency: navigator.hardwareConcurrency,
      crossOriginIsolated,
      workerCrossOriginIsolated: w.crossOriginIsolated,
    };
  },

  async open(spec: TargetSpec): Promise<{ prepare: PrepareResult }> {
    if (targets.has(spec.id)) throw new Error(`target ${spec.id} is already open`);
    if (spec.kind === 'raw') {
      const r = await rawCall<{ prepare: PrepareResult }>({ op: 'open', target: spec.id });
      targets.set(spec.id, { kind: 'raw', spec });
      return r;
    }
    if (spec.kind === 'sync') {
      const of = target(spec.of);
      if (of.kind !== 'lib') throw new Error(`${spec.id}: ${spec.of} is not a library target`);
      // A 1 MiB data area: every bench request fits in one piece.
      const port = await of.disk.openSync({ bufferSize: 1 << 20 });
      const { worker, call } = startSyncWorker();
      await call<void>({ op: 'init', cfg, port });
      targets.set(spec.id, { kind: 'sync', spec, worker, call });
      return { prepare: { bytes: 0, ms: 0, mibps: 0 } };
    }
    const backend = spec.backend === 'opfs-raw' ? 'opfs' : spec.backend;
    if (spec.backend === 'opfs-raw' && !diskContent.has(spec.diskName))
      await makeRawLayout(spec.diskName, spec.diskSize);
    const disk = await webdisk.openDisk({
      name: spec.diskName,
      size: spec.diskSize,
      cache: spec.mode,
      backend,
    });
    const io = libIo(disk, spec.lent ? await lentLanes(disk) : undefined);
    // A memory disk starts empty at every open; an OPFS disk keeps what the last mode left.
    let expect = disk.backend === 'memory' ? undefined : diskContent.get(spec.diskName);
    let prepare: PrepareResult = { bytes: 0, ms: 0, mibps: 0 };
    if (!expect) {
      expect = new Expectation(regionOf(spec));
      if (spec.prepare) {
        const region = regionOf(spec);
        const ms = await engine.prepare(io, expect, 4, region);
        prepare = { bytes: region, ms: Math.round(ms), mibps: Math.round((region / 1048576 / (ms / 1000)) * 10) / 10 };
      }
      if (disk.backend !== 'memory') diskContent.set(spec.diskName, expect);
    }
    targets.set(spec.id, { kind: 'lib', spec, disk, io, expect });
    return { prepare };
  },

  async run(id: string, workload: WorkloadId, depth: number, repeat: number): Promise<RunResult> {
    const t = target(id);
    if (t.kind === 'raw') return rawCall<RunResult>({ op: 'run', target: t.spec.id, workload, depth, repeat });
    if (t.kind === 'sync') {
      // The sync worker writes the same disk: it takes the expected content along and hands it back.
      const of = target(t.spec.of);
      if (of.kind !== 'lib') throw new Error(`${t.spec.id}: ${t.spec.of} is not a library target`);
      const r = await t.call<SyncRunReply>({ op: 'run', workload, depth, repeat, state: of.expect.snapshot() });
      of.expect.restore(r.state);
      return r.result;
    }
    const index = WORKLOADS.findIndex((w) => w.id === workload);
    const { disk, io, expect, spec } = t;
    const before = await disk.stats();
    const seed = runSeed(index, depth, repeat);
    const r = await engine.runAsync(io, WORKLOADS[index], depth, expect, seed, regionOf(spec), spec.batch === true);
    const after = await disk.stats();
    const stats: Record<string, number> = {};
    for (const k of STAT_DELTAS) stats[k] = after[k] - before[k];
    stats.dirtyBytesAfter = after.dirtyBytes;
    stats.cachedBytesAfter = after.cachedBytes;
    stats.peakCachedBytes = after.peakCachedBytes;
    r.stats = stats;
    return r;
  },

  /** Untimed: reads a workload's hot set once so a cache holds it. */
  async warm(id: string, workload: WorkloadId): Promise<void> {
    const t = target(id);
    if (t.kind === 'raw') return rawCall<void>({ op: 'warm', target: t.spec.id, workload });
    if (t.kind === 'sync') return; // its workloads have no hot set (see run.ts's plan)
    const w = WORKLOADS.find((x) => x.id === workload);
    if (w?.hotBytes) await engine.readThrough(t.io, Math.min(w.hotBytes, regionOf(t.spec)));
  },

  async checkContent(id: string): Promise<ContentCheck> {
    const t = target(id);
    if (t.kind === 'raw') return rawCall<ContentCheck>({ op: 'checkContent', target: t.spec.id });
    if (t.kind === 'sync') throw new Error(`${id}: its content is checked with ${t.spec.of}, whose disk it writes`);
    return engine.checkContent(t.io, t.expect, regionOf(t.spec));
  },

  /**
   * The harness's own ceiling: the same lanes, stamps and latency records
   * over an in-page memory copy behind a promise (no worker, no storage),
   * on the hot-set random 4 KiB read workload. A library target well below
   * this is not limited by the harness.
   */
  async ceiling(depth: number): Promise<RunResult> {
    const index = WORKLOADS.findIndex((w) => w.id === 'rand-read-hot');
    const w = WORKLOADS[index];
    const region = Math.min(cfg.region, w.hotBytes ?? cfg.region);
    const bytes = new Uint8Array(region);
    const bufs: Uint8Array[] = [];
    const io: AsyncIo = {
      read(offset, length, lane) {
        while (bufs.length <= lane) bufs.push(new Uint8Array(w.bs).fill(0));
        const dst = bufs[lane].subarray(0, length);
        dst.set(bytes.subarray(offset, offset + length));
        return Promise.resolve(dst);
      },
      write(offset, data) {
        bytes.set(data, offset);
        return Promise.resolve();
      },
      flush: () => Promise.resolve(),
    };
    const expect = new Expectation(region);
    await engine.prepare(io, expect, 1, region);
    return engine.runAsync(io, w, depth, expect, runSeed(index, depth, 0), region);
  },

  async stats(id: string): Promise<DiskStats | undefined> {
    const t = target(id);
    return t.kind === 'lib' ? t.disk.stats() : undefined;
  },

  async close(id: string): Promise<{ stats?: DiskStats }> {
    const c = targets.get(id);
    targets.delete(id);
    if (!c) return {};
    if (c.kind === 'raw') {
      await rawCall<void>({ op: 'close', target: c.spec.id });
      return {};
    }
    if (c.kind === 'sync') {
      c.worker.terminate();
      return {};
    }
    const stats = await c.disk.stats();
    await c.disk.close();
    return { stats };
  },

  /**
   * An overlay's cold sequential read against a plain fetch of the same
   * bytes, alternating, `repeats` times: the base (`size` bytes) is served
   * by the static server with Range support; each overlay is new (nothing
   * local yet) and read front to back in `bs` reads, `depth` in flight.
   */
  async overlayRead(size: number, bs: number, depth: number, repeats: number): Promise<OverlayReadResult> {
    const name = 'bench-overlay';
    await fetch(`/base-control/${name}?size=${size}&seed=3`);
    const url = `/base/${name}`;
    const runs: OverlayReadResult['runs'] = [];
    for (let r = 0; r < repeats; r++) {
      let t = performance.now();
      const whole = await (await fetch(url, { cache: 'no-store' })).arrayBuffer();
      const fetchMs = performance.now() - t;
      if (whole.byteLength !== size) throw new Error(`fetch gave ${whole.byteLength} bytes`);
      // The same bytes as the overlay asks for them: 4 MiB Range requests, 4 at a time.
      t = performance.now();
      const piece = 4 << 20;
      for (let at = 0; at < size; at += 4 * piece) {
        await Promise.all(
          [0, 1, 2, 3]
            .map((k) => at + k * piece)
            .filter((from) => from < size)
            .map(async (from) => {
              const to = Math.min(size, from + piece) - 1;
              const res = await fetch(url, { cache: 'no-store', headers: { Range: `bytes=${from}-${to}` } });
              await res.arrayBuffer();
            }),
        );
      }
      const rangesMs = performance.now() - t;
      await webdisk.deleteDisk(name);
      const disk = await webdisk.openDisk({ name, base: { url }, backend: 'opfs' });
      const bufs = Array.from({ length: depth }, () => new Uint8Array(bs));
      t = performance.now();
      let next = 0;
      const lane = async (i: number) => {
        for (let at = next; at < size; at = next) {
          next += bs;
          await disk.readInto(at, bufs[i].subarray(0, Math.min(bs, size - at)));
        }
      };
      await Promise.all(bufs.map((_, i) => lane(i)));
      const overlayMs = performance.now() - t;
      const fetched = (await disk.stats()).baseBytesFetched;
      // A second pass reads the local copy (copy-on-read): no request.
      t = performance.now();
      for (let at = 0; at < size; at += bs) await disk.readInto(at, bufs[0].subarray(0, Math.min(bs, size - at)));
      const warmMs = performance.now() - t;
      await disk.close();
      await webdisk.deleteDisk(name);
      runs.push({ fetchMs, rangesMs, overlayMs, warmMs, fetched });
    }
    return { size, bs, depth, runs };
  },

  /**
   * Image import and export against their raw OPFS baseline, alternating,
   * `repeats` times: importDisk of a `size`-byte raw Blob (no zeros: every
   * byte is written) into a new OPFS disk, flushed; then disk.export() raw,
   * read to the end, twice; beside 1 MiB sequential writes (+ flush) and
   * reads of a plain OPFS file in a worker, and the reference streams.
   */
  async imageIo(size: number, repeats: number): Promise<ImageIoResult> {
    const name = 'bench-image';
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 4) bytes[i] = ((i >>> 12) * 7 + 1) & 0xff || 1;
    const blob = new Blob([bytes]);
    const runs: ImageIoResult['runs'] = [];
    for (let r = 0; r < repeats; r++) {
      const raw = await rawCall<{ writeMs: number; readMs: number; blobCopyMs: number }>({ op: 'seqIo', size, blob });
      const streamFloorMs = await drainTimed(sharedMemoryStream(size), size);
      const ring = handoffBuffer();
      const fed = rawCall<undefined>({ op: 'handoff', size, ring });
      const handoffMs = await drainTimed(handoffStream(ring, size), size);
      await fed;
      await webdisk.deleteDisk(name);
      const t = performance.now();
      const disk = await webdisk.importDisk({ name, source: blob, backend: 'opfs' });
      const importMs = performance.now() - t;
      const exportMs = await drainTimed(disk.export({ format: 'raw' }), size);
      const exportAgainMs = await drainTimed(disk.export({ format: 'raw' }), size);
      await disk.close();
      await webdisk.deleteDisk(name);
      // Closing starts a spare worker for the next open (client/disk-workers.ts):
      // let it start before the baselines run, so it does not slow them.
      await new Promise((r) => setTimeout(r, SPARE_SETTLE_MS));
      runs.push({
        rawWriteMs: raw.writeMs,
        rawReadMs: raw.readMs,
        blobCopyMs: raw.blobCopyMs,
        streamFloorMs,
        handoffMs,
        importMs,
        exportMs,
        exportAgainMs,
      });
    }
    return { size, runs };
  },

  /** performance.measureUserAgentSpecificMemory() (needs crossOriginIsolated), summarised by scope. */
  async measureMemory(): Promise<{ bytes: number; byScope: Record<string, number> } | { error: string }> {
    const p = performance as Performance & {
      measureUserAgentSpecificMemory?: () => Promise<{
        bytes: number;
        breakdown: { bytes: number; attribution: { scope?: string; url?: string }[]; types: string[] }[];
      }>;
    };
    if (!crossOriginIsolated || !p.measureUserAgentSpecificMemory) {
      return { error: 'measureUserAgentSpecificMemory unavailable (needs crossOriginIsolated)' };
    }
    const m = await p.measureUserAgentSpecificMemory();
    const byScope: Record<string, number> = {};
    for (const b of m.breakdown) {
      const a = b.attribution[0];
      const key = a
        ? `${a.scope ?? '?'} ${a.url?.replace(location.origin, '') ?? ''}`.trim()
        : b.types.join('+') || 'other';
      byScope[key] = (byScope[key] ?? 0) + b.bytes;
    }
    return { bytes: m.bytes, byScope };
  },
};

/** Long enough for a spare disk worker (started as a disk closes) to have loaded: it takes ~50–80 ms. */
const SPARE_SETTLE_MS = 300;

/** Reads a byte stream to its end (readByob: the export's consumer); resolves with the milliseconds it took. */
async function drainTimed(stream: ReadableStream<Uint8Array>, size: number): Promise<number> {
  const t = performance.now();
  const got = await readByob(stream);
  const ms = performance.now() - t;
  if (got !== size) throw new Error(`the stream gave ${got} bytes, not ${size}`);
  return ms;
}

(window as unknown as { bench: typeof bench; benchReady: boolean }).bench = bench;
(window as unknown as { benchReady: boolean }).benchReady = true;

export type BenchPage = typeof bench;
