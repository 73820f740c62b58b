import 'fake-indexeddb/auto';
import { Disk } from '../src/client/disk';
import { RingTransport } from '../src/client/ring-transport';
import { BlockDevice, type DeviceOptions } from '../src/core/block-device';
import type { BlockStore } from '../src/core/store';
import type { BaseSpec } from '../src/stores/base-image';
import { idbDisks } from '../src/stores/idb-disks';
import { MemoryStore } from '../src/stores/memory-store';
import { PowerLossStore } from '../src/stores/power-loss-store';
import { stackStores } from '../src/stores/stack';
import type { CrashTestDisk } from '../src/testing/crash-test';
import { execute } from '../src/worker/execute';
import { RingServer } from '../src/worker/ring-server';

/**
 * The backends the core's suites run against: memory, IndexedDB
 * (fake-indexeddb under Node), and a thin disk — a cluster map over two
 * memory files, as on OPFS.
 */
export type StoreKind = 'memory' | 'idb' | 'thin' | 'overlay' | 'idb-overlay';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'idb', 'thin'];
/**
 * Overlays over a Blob base of random bytes: a cluster map over memory
 * files (as on OPFS), and over IndexedDB. Their disks do not start as
 * zeros: suites that check against a model take `Backing.initial`.
 */
export const OVERLAY_KINDS: readonly StoreKind[] = ['overlay', 'idb-overlay'];

/** A backend's files as it opens them (`map`: a thin disk's cluster map). */
export interface BackendStores {
  data: BlockStore;
  meta: BlockStore;
  map?: BlockStore;
}

/** A disk's two stores, kept across sessions as a browser keeps OPFS files or a database. */
export interface Backing {
  readonly kind: StoreKind;
  /** An overlay's base, and so the disk's content before any write. */
  readonly base?: BaseSpec;
  readonly initial?: Uint8Array;
  /** The disk's files for a new session (the bytes of earlier sessions are there), as the backend opens them. */
  open(): Promise<BackendStores>;
}

/** Memory stores, reused across sessions: a test can look at them directly. */
export interface MemoryBacking extends Backing {
  data: MemoryStore;
  meta: MemoryStore;
}

export function newBacking(): MemoryBacking {
  const b: MemoryBacking = {
    kind: 'memory',
    data: new MemoryStore(),
    meta: new MemoryStore(),
    async open() {
      // A closed MemoryStore keeps its bytes: "reopen" by reusing it.
      b.data.closed = false;
      b.meta.closed = false;
      return { data: b.data, meta: b.meta };
    },
  };
  return b;
}

let databases = 0;

/** A backing of the given kind: IndexedDB stores reopen the same database for each session. */
export function newBackingOf(kind: StoreKind, baseSize = 256 * 1024): Backing {
  if (kind === 'memory') return newBacking();
  if (kind === 'overlay' || kind === 'idb-overlay') {
    const initial = pattern(baseSize, baseSize + 12345);
    const files = kind === 'overlay' ? newBackingOf('thin') : newIdbBacking(true);
    return { kind, base: { blob: new Blob([initial as Uint8Array<ArrayBuffer>]) }, initial, open: () => files.open() };
  }
  if (kind === 'thin') {
    // Gaps merged on write-back, as over OPFS (the thin disks' backend).
    const files = {
      data: new MemoryStore(undefined, { mergeGap: 16 * 1024 }),
      meta: new MemoryStore(),
      map: new MemoryStore(),
    };
    return {
      kind,
      async open() {
        for (const f of Object.values(files)) f.closed = false;
        return files;
      },
    };
  }
  return newIdbBacking(false);
}

function newIdbBacking(overlay: boolean): Backing {
  const name = `unit-${++databases}`;
  let created = false;
  return {
    kind: overlay ? 'idb-overlay' : 'idb',
    async open() {
      const opened = await idbDisks.open(name, !created, overlay);
      created = true;
      return { data: opened.data, meta: opened.meta, map: opened.map };
    },
  };
}

/**
 * Opens a device over a backing's stores, stacked as the worker stacks
 * them; reopening keeps data. `synchronous`: stacked for the device's
 * synchronous calls (a thin disk's map commits in the call).
 */
export async function openOn(
  b: Backing,
  opts: Omit<DeviceOptions, 'data' | 'meta'> = {},
  how: { synchronous?: boolean } = {},
): Promise<BlockDevice> {
  const stores = await stacked(await b.open(), opts.size, b.base, how.synchronous);
  return BlockDevice.open({ ...stores, ...opts, size: opts.size ?? stores.size });
}

/** A backend's files with the layers over them (a thin disk's cluster map, an overlay), no simulators. */
export async function stacked(
  files: BackendStores,
  size?: number,
  base?: BaseSpec,
  synchronous = false,
): Promise<{ data: BlockStore; meta: BlockStore; size?: number }> {
  const { data, meta, size: created } = await stackStores(files, { crashModel: 'process', size, base, synchronous });
  return { data, meta, size: created };
}

/** Deterministic bytes for a write: distinct per (seed, index). */
/**
 * A device over a simulated disk cache (PowerLossStore): `durable`, its
 * inner memory store, holds exactly what a power cut keeps, so each
 * acknowledgement can be checked against it.
 */
export async function durableDevice(opts: Omit<DeviceOptions, 'data' | 'meta'>) {
  const durable = new MemoryStore();
  const dev = await BlockDevice.open({
    data: new PowerLossStore(durable, 64 * 1024 * 1024),
    meta: new MemoryStore(),
    ...opts,
  });
  return { dev, durable };
}

/** 'settled' once `p` settled within a few event-loop turns (20 ms), else 'pending'. */
export async function state(p: Promise<unknown>): Promise<'settled' | 'pending'> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  p.then(mark, mark);
  await new Promise((r) => setTimeout(r, 20));
  return settled ? 'settled' : 'pending';
}

export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string };
    if (e.name !== 'DiskError' || e.code !== code || !e.message) {
      throw new Error(`expected DiskError ${code}, got ${e.name} ${e.code}: ${e.message}`);
    }
    return;
  }
  throw new Error(`expected DiskError ${code}, but it resolved`);
}

/** Byte-array equality that reports the first difference (toEqual on MiBs is slow and unreadable). */
export function sameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: first difference at byte ${i}: ${actual[i]} instead of ${expected[i]}`);
    }
  }
}

/**
 * A Disk over both ends of a shared-memory ring in one process: the page's
 * side (Disk, RingTransport) and the worker's (RingServer over `dev`).
 * `start: false`: nothing is taken until run(). `sharedCache`: the device's
 * shared cache, handed to the Disk as the worker's 'opened' message does.
 */
export function diskOverRing(
  dev: BlockDevice,
  opts: { start?: boolean; sharedCache?: SharedArrayBuffer; name?: string } = {},
) {
  const transport = new RingTransport(256 * 1024);
  const server = new RingServer(transport.sab, (req, data) => execute(dev, req, data));
  if (opts.start !== false) void server.run();
  // The disk's worker only carries fills, lends and power-offs: none here.
  const worker = { postMessage() {}, terminate() {} } as unknown as Worker;
  const disk = new Disk(
    {
      name: opts.name ?? 'ring',
      size: dev.size,
      blockSize: dev.blockSize,
      backend: 'memory',
      backendReason: 'requested',
      cacheMode: dev.cacheMode,
      uncleanShutdown: false,
      crashModel: 'power',
      sharedCache: opts.sharedCache,
    },
    worker,
    transport,
  );
  return { disk, server, run: () => void server.run() };
}

/** The device as the page sees it: no answer arrives once the power is off. */
export function unplugged(d: BlockDevice, power: { off: boolean }): CrashTestDisk {
  const answer = <T>(p: Promise<T>) =>
    p.then((v) => {
      if (power.off) throw new Error('power is off');
      return v;
    });
  return {
    write: (o, data, opts) => answer(d.write(o, data, opts)),
    flush: () => answer(d.flush()),
    discard: (o, n) => answer(d.discard(o, n)),
    setCacheMode: (m) => answer(d.setCacheMode(m)),
  };
}
