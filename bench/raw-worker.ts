/**
 * The raw baselines: the same workloads coded directly against the
 * platform in a dedicated worker, with no library and no worker boundary
 * per request. The page sends one message per run, not per request.
 *
 * - raw-opfs / raw-opfs+flush: one FileSystemSyncAccessHandle, read/write
 *   at offsets; +flush calls flush() after every write.
 * - raw-idb-relaxed / raw-idb-strict: IndexedDB through `idb`, the region
 *   as fixed-size chunks keyed by index (the layout the IndexedDB backend
 *   will use), one transaction per request; a partial chunk is
 *   read-modify-written inside that transaction.
 * - memcopy: one pre-touched ArrayBuffer; the ceiling.
 */
import { type IDBPDatabase, openDB } from 'idb';
import type { SyncAccessHandle } from '../src/stores/opfs-store';
import { readByob } from './byob';
import { type BenchConfig, MiB, type PrepareResult, type RawId, WORKLOADS, type WorkloadId } from './config';
import { Expectation, MAX_BS, runSeed } from './content';
import { type AsyncIo, Engine, type SyncIo, syncIo } from './engine';
import { feedHandoff } from './reference-streams';

export type RawRequest =
  | { id: number; op: 'init'; cfg: BenchConfig }
  | { id: number; op: 'open'; target: RawId }
  | { id: number; op: 'run'; target: RawId; workload: WorkloadId; depth: number; repeat: number }
  | { id: number; op: 'warm'; target: RawId; workload: WorkloadId }
  | { id: number; op: 'checkContent'; target: RawId }
  | { id: number; op: 'close'; target: RawId }
  | { id: number; op: 'seqIo'; size: number; blob: Blob }
  | { id: number; op: 'handoff'; size: number; ring: SharedArrayBuffer };

export type RawReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

// The DOM and WebWorker libs clash in one program: declare what we use.
declare const self: {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent<RawRequest>) => void) | null;
};

/** One kind of storage, prepared once per bench run and shared by the targets on it. */
interface Storage {
  expect: Expectation;
  prepared: boolean;
}

let cfg: BenchConfig;
let engine: Engine;
let opfs: (Storage & { handle: SyncAccessHandle }) | undefined;
let idb: (Storage & { db: IDBPDatabase }) | undefined;
let mem: (Storage & { bytes: Uint8Array }) | undefined;
/** Open targets: several can be open at once, sharing their storage. */
const openTargets = new Map<RawId, { io: AsyncIo | SyncIo; storage: Storage }>();

function target(id: RawId): { io: AsyncIo | SyncIo; storage: Storage } {
  const t = openTargets.get(id);
  if (!t) throw new Error(`raw target ${id} is not open`);
  return t;
}

/** The raw baselines' directory in OPFS. */
async function benchDir(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('webdisk-bench-raw', { create: true });
}

/** A sync access handle on `name` in `dir`, made if missing (the DOM lib types lack the worker-only call). */
async function openHandle(dir: FileSystemDirectoryHandle, name: string): Promise<SyncAccessHandle> {
  const file = await dir.getFileHandle(name, { create: true });
  return (file as unknown as { createSyncAccessHandle(): Promise<SyncAccessHandle> }).createSyncAccessHandle();
}

async function openOpfs(): Promise<NonNullable<typeof opfs>> {
  if (opfs) return opfs;
  const handle = await openHandle(await benchDir(), 'raw.img');
  handle.truncate(0); // the prepare pass writes a new file, as the library's does
  opfs = { handle, expect: new Expectation(cfg.region), prepared: false };
  return opfs;
}

function opfsIo(h: SyncAccessHandle, flushEachWrite: boolean): SyncIo {
  return syncIo({
    read(offset, dst) {
      const n = h.read(dst, { at: offset });
      if (n !== dst.length) {
        if (n < 0 || n > dst.length) throw new Error(`OPFS read returned ${n}`);
        dst.fill(0, n); // past the end of the file
      }
    },
    write(offset, src) {
      const n = h.write(src, { at: offset });
      if (n !== src.length) throw new Error(`OPFS write returned ${n} for ${src.length} bytes (quota?)`);
      if (flushEachWrite) h.flush();
    },
    flush() {
      h.flush();
    },
  });
}

async function openIdb(): Promise<NonNullable<typeof idb>> {
  if (idb) return idb;
  const db = await openDB('webdisk-bench-raw', 1, {
    upgrade(d) {
      d.createObjectStore('chunks');
      d.createObjectStore('meta');
    },
  });
  await db.clear('chunks');
  idb = { db, expect: new Expectation(cfg.region), prepared: false };
  return idb;
}

function idbIo(db: IDBPDatabase, durability: 'relaxed' | 'strict'): AsyncIo {
  const chunk = cfg.idbChunk;
  // A value must own its whole buffer (IDB stores a view's entire buffer):
  // full chunks are copied into this one, which put() clones synchronously.
  const whole = new Uint8Array(chunk);
  const readBufs: Uint8Array[] = [];
  const readBuf = (lane: number) => {
    while (readBufs.length <= lane) readBufs.push(new Uint8Array(MAX_BS).fill(0));
    return readBufs[lane];
  };
  return {
    async read(offset, length, lane) {
      const dst = readBuf(lane).subarray(0, length);
      const first = Math.floor(offset / chunk);
      const last = Math.floor((offset + length - 1) / chunk);
      const tx = db.transaction('chunks', 'readonly');
      const gets: Promise<Uint8Array | undefined>[] = [];
      for (let k = first; k <= last; k++) gets.push(tx.store.get(k));
      const values = await Promise.all(gets);
      for (let k = first; k <= last; k++) {
        const start = k * chunk;
        const from = Math.max(offset, start);
        const to = Math.min(offset + length, start + chunk);
        const v = values[k - first];
        if (v) dst.set(v.subarray(from - start, to - start), from - offset);
        else dst.fill(0, from - offset, to - offset);
      }
      return dst;
    },
    async write(offset, data) {
      const first = Math.floor(offset / chunk);
      const last = Math.floor((offset + data.length - 1) / chunk);
      const tx = db.transaction('chunks', 'readwrite', { durability });
      const store = tx.store;
      const puts: Promise<unknown>[] = [];
      for (let k = first; k <= last; k++) {
        const start = k * chunk;
        const from = Math.max(offset, start);
        const to = Math.min(offset + data.length, start + chunk);
        if (from === start && to === start + chunk) {
          whole.set(data.subarray(from - offset, to - offset));
          puts.push(store.put(whole, k));
        } else {
          const v = ((await store.get(k)) as Uint8Array | undefined) ?? new Uint8Array(chunk);
          v.set(data.subarray(from - offset, to - offset), from - start);
          puts.push(store.put(v, k));
        }
      }
      await Promise.all(puts);
      await tx.done;
    },
    async flush() {
      // Every strict transaction is already durable. After relaxed ones the
      // closest thing to a flush is a strict commit (LevelDB syncs its log).
      if (durability === 'strict') return;
      const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
      await tx.store.put(Date.now(), 'flush');
      await tx.done;
    },
  };
}

function memIo(bytes: Uint8Array): SyncIo {
  return syncIo({
    read(offset, dst) {
      dst.set(bytes.subarray(offset, offset + dst.length));
    },
    write(offset, src) {
      bytes.set(src, offset);
    },
    flush() {},
  });
}

async function open(id: RawId): Promise<{ prepare: PrepareResult }> {
  let storage: Storage;
  let io: AsyncIo | SyncIo;
  // The prepare pass is a sequential write into new storage, without a
  // flush per write (relaxed for IndexedDB), then one flush.
  let prepIo: AsyncIo | SyncIo;
  switch (id) {
    case 'raw-opfs':
    case 'raw-opfs+flush': {
      const o = await openOpfs();
      storage = o;
      io = opfsIo(o.handle, id === 'raw-opfs+flush');
      prepIo = opfsIo(o.handle, false);
      break;
    }
    case 'raw-idb-relaxed':
    case 'raw-idb-strict': {
      const d = await openIdb();
      storage = d;
      io = idbIo(d.db, id === 'raw-idb-strict' ? 'strict' : 'relaxed');
      prepIo = idbIo(d.db, 'relaxed');
      break;
    }
    case 'memcopy': {
      mem ??= { bytes: new Uint8Array(cfg.region), expect: new Expectation(cfg.region), prepared: false };
      storage = mem;
      io = memIo(mem.bytes);
      prepIo = io;
      break;
    }
  }
  openTargets.set(id, { io, storage });
  let prepare: PrepareResult = { bytes: 0, ms: 0, mibps: 0 };
  if (!storage.prepared) {
    const ms = await engine.prepare(prepIo, storage.expect);
    storage.prepared = true;
    prepare = { bytes: cfg.region, ms: Math.round(ms), mibps: Math.round((cfg.region / MiB / (ms / 1000)) * 10) / 10 };
  }
  return { prepare };
}

async function handle(req: RawRequest): Promise<unknown> {
  switch (req.op) {
    case 'init':
      cfg = req.cfg;
      engine = new Engine(cfg);
      engine.warm(32);
      return { crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated };
    case 'open':
      return open(req.target);
    case 'run': {
      const index = WORKLOADS.findIndex((w) => w.id === req.workload);
      const w = WORKLOADS[index];
      const seed = runSeed(index, req.depth, req.repeat);
      const { io, storage } = target(req.target);
      return 'sync' in io
        ? engine.runSync(io as SyncIo, w, req.depth, storage.expect, seed)
        : engine.runAsync(io as AsyncIo, w, req.depth, storage.expect, seed);
    }
    case 'warm': {
      const { io } = target(req.target);
      const w = WORKLOADS.find((x) => x.id === req.workload);
      if (w?.hotBytes) await engine.readThrough(io, Math.min(w.hotBytes, cfg.region));
      return undefined;
    }
    case 'checkContent': {
      const { io, storage } = target(req.target);
      return engine.checkContent(io, storage.expect);
    }
    case 'seqIo':
      return seqIo(req.size, req.blob);
    case 'handoff':
      feedHandoff(req.ring, req.size);
      return undefined;
    case 'close':
      // The storage stays open and prepared for other targets on it.
      openTargets.delete(req.target);
      return undefined;
  }
}

self.onmessage = (ev) => {
  const req = ev.data;
  handle(req).then(
    (value) => self.postMessage({ id: req.id, ok: true, value } satisfies RawReply),
    (err: unknown) =>
      self.postMessage({
        id: req.id,
        ok: false,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      } satisfies RawReply),
  );
};

/**
 * The baseline of image import and export: `size` bytes written to a new
 * OPFS file in 1 MiB writes from one reused buffer, flushed, then read back
 * the same way — what a hand-written copy into OPFS does. And the best a
 * hand-written import of `blob` could do: read through a BYOB reader into
 * one reused 1 MiB buffer, each piece written to a new OPFS file, flushed
 * (the source has to be read; the plain write baseline has none).
 */
async function seqIo(size: number, blob: Blob): Promise<{ writeMs: number; readMs: number; blobCopyMs: number }> {
  const dir = await benchDir();
  const h = await openHandle(dir, 'seq.img');
  let writeMs: number;
  let readMs: number;
  try {
    h.truncate(0);
    const buf = new Uint8Array(MiB);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
    let t = performance.now();
    for (let at = 0; at < size; at += MiB) h.write(buf, { at });
    h.flush();
    writeMs = performance.now() - t;
    t = performance.now();
    for (let at = 0; at < size; at += MiB) h.read(buf, { at });
    readMs = performance.now() - t;
  } finally {
    h.close();
    await dir.removeEntry('seq.img');
  }
  const c = await openHandle(dir, 'blob.img');
  try {
    const t = performance.now();
    let at = 0;
    await readByob(blob.stream() as ReadableStream<Uint8Array>, (chunk) => {
      c.write(chunk, { at });
      at += chunk.byteLength;
    });
    c.flush();
    if (at !== size) throw new Error(`the Blob gave ${at} bytes, not ${size}`);
    return { writeMs, readMs, blobCopyMs: performance.now() - t };
  } finally {
    c.close();
    await dir.removeEntry('blob.img');
  }
}
