import { DiskError, errorFromData } from '../core/errors';
import { BACKEND_CHOICES, type BackendChoice, type CacheMode, type CrashModel } from '../core/types';
import { checkBlockSize, checkCacheMode, checkCacheSize, checkDiskSize, checkName } from '../core/validate';
import type { FromWorker, OpenRequest, ToWorker } from '../protocol/messages';
import { powerSwitchOf } from '../protocol/ring';
import { BatchTransport } from './batch-transport';
import { Disk } from './disk';
import { takeWorker } from './disk-workers';
import { RingTransport } from './ring-transport';
import type { Transport } from './transport';

export interface OpenDiskOptions {
  /** 1-64 characters of [A-Za-z0-9._-]. */
  name: string;
  /** Bytes, a multiple of 512: required to create; must match if given for an existing disk. */
  size?: number;
  /** Default 'writeback'. */
  cache?: CacheMode;
  /**
   * Where the bytes live. Default 'auto': an existing disk is opened where
   * it is; a new one goes to OPFS where sync access handles exist,
   * IndexedDB otherwise. 'opfs' or 'idb' insist; 'memory' is volatile
   * (gone when closed).
   */
  backend?: BackendChoice;
  /** Cache block size: a power of two from 512 to 1 MiB. Default 4096. */
  blockSize?: number;
  /** Worker cache bytes. Default 64 MiB. */
  cacheSize?: number;
  /** How long to wait for a disk another open still holds before EBUSY. Default 1000 ms. */
  lockTimeoutMs?: number;
  /**
   * What powerLoss() loses. 'process' (default): the worker's memory.
   * 'power': also store writes no sync has followed, as a real power cut.
   */
  crashModel?: CrashModel;
  /** With crashModel 'power': the simulated disk's volatile write cache. Default 16 MiB. */
  deviceCacheSize?: number;
  /**
   * Makes the disk a copy-on-write overlay over a read-only base image: a
   * URL (read lazily with HTTP Range requests; relative to the page) or a
   * Blob/File. Created over it if new (size defaults to the base's length),
   * checked against it if not; a URL overlay reopens without it.
   * `timeoutMs`: how long the server may send nothing before a read of the
   * base fails with EIO (default 30 000).
   */
  base?: { url: string; timeoutMs?: number } | { blob: Blob };
}

function canShareMemory(): boolean {
  return (
    typeof SharedArrayBuffer === 'function' &&
    typeof Atomics.waitAsync === 'function' &&
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
  );
}

/** Checks openDisk's options and fills in the defaults: what the disk worker (or an in-thread disk) opens. */
export function checkOptions(opts: OpenDiskOptions): OpenRequest {
  if (typeof opts !== 'object' || opts === null)
    throw new DiskError('EINVAL', 'openDisk needs an options object: { name, size }.');
  const backend = opts.backend ?? 'auto';
  if (!(BACKEND_CHOICES as readonly unknown[]).includes(backend)) {
    throw new DiskError(
      'EINVAL',
      `Unknown backend ${JSON.stringify(backend)}: use ${BACKEND_CHOICES.map((b) => `"${b}"`).join(', ')}.`,
    );
  }
  if (opts.blockSize !== undefined) checkBlockSize(opts.blockSize);
  // The exact bound needs the disk's block size, which the worker knows.
  if (opts.cacheSize !== undefined) checkCacheSize(opts.cacheSize, opts.blockSize ?? 512);
  const lockTimeoutMs = opts.lockTimeoutMs ?? 1000;
  if (!Number.isFinite(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw new DiskError('EINVAL', `lockTimeoutMs ${String(lockTimeoutMs)} must be a non-negative number.`);
  }
  const crashModel = opts.crashModel ?? 'process';
  if (crashModel !== 'process' && crashModel !== 'power') {
    throw new DiskError('EINVAL', `Unknown crashModel ${JSON.stringify(crashModel)}: use "process" or "power".`);
  }
  const deviceCacheSize = opts.deviceCacheSize;
  if (deviceCacheSize !== undefined && (!Number.isSafeInteger(deviceCacheSize) || deviceCacheSize < 0)) {
    throw new DiskError('EINVAL', `deviceCacheSize ${String(deviceCacheSize)} must be a whole number of bytes.`);
  }
  const base = checkBase(opts.base);
  if (backend === 'memory' && opts.size === undefined && !base) {
    throw new DiskError('EINVAL', 'A memory disk lives only while open: give its size.');
  }
  return {
    name: checkName(opts.name),
    size: opts.size === undefined ? undefined : checkDiskSize(opts.size),
    cache: checkCacheMode(opts.cache ?? 'writeback'),
    backend,
    blockSize: opts.blockSize,
    cacheSize: opts.cacheSize,
    lockTimeoutMs,
    crashModel,
    deviceCacheSize,
    base,
  };
}

/** The base as the worker takes it: a URL made absolute (the worker's own is its script's). */
function checkBase(base: OpenDiskOptions['base']): OpenRequest['base'] {
  if (base === undefined) return undefined;
  const bad = () => new DiskError('EINVAL', 'base must be { url: string } or { blob: Blob } (a File is a Blob).');
  if (typeof base !== 'object' || base === null) throw bad();
  if ('blob' in base) {
    if (!(base.blob instanceof Blob)) throw bad();
    if (base.blob.size === 0)
      throw new DiskError('EINVAL', 'The base Blob is empty: an overlay needs a base of at least one byte.');
    return { blob: base.blob };
  }
  if (typeof (base as { url?: unknown }).url !== 'string') throw bad();
  const { timeoutMs } = base;
  if (timeoutMs !== undefined && !(Number.isSafeInteger(timeoutMs) && timeoutMs > 0)) {
    throw new DiskError('EINVAL', `base.timeoutMs must be a positive whole number of milliseconds, not ${timeoutMs}.`);
  }
  let url: string;
  try {
    url = new URL(base.url, globalThis.location?.href).href;
  } catch {
    throw new DiskError('EINVAL', `base.url ${JSON.stringify(base.url)} is not a URL.`);
  }
  return timeoutMs === undefined ? { url } : { url, timeoutMs };
}

/**
 * Opens a disk by name, creating it when `size` is given and it does not
 * exist. The disk runs in its own worker; one open per disk at a time.
 */
export async function openDisk(opts: OpenDiskOptions): Promise<Disk> {
  const request = checkOptions(opts);
  const worker = takeWorker();
  // Shared memory when the page allows it (cross-origin isolated), batched
  // messages otherwise.
  const ring = canShareMemory() ? new RingTransport() : undefined;
  const transport: Transport = ring ?? new BatchTransport(worker);
  return new Promise<Disk>((resolve, reject) => {
    let disk: Disk | undefined;
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const msg = ev.data;
      if (transport.handle(msg) || disk?.handle(msg)) return;
      if (msg.type === 'opened') {
        disk = new Disk(msg.info, worker, transport, ring && powerSwitchOf(ring.sab));
        resolve(disk);
      } else if (msg.type === 'open-failed') {
        worker.terminate();
        reject(errorFromData(msg.error));
      }
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault?.();
      const message = ev.message || 'the worker script failed to load';
      if (disk) {
        disk.crashed(message);
      } else {
        worker.terminate();
        reject(new DiskError('EIO', `The disk worker failed to start: ${message}.`));
      }
    };
    const msg: ToWorker = { type: 'open', options: request, ring: ring?.sab };
    worker.postMessage(msg);
    ring?.touch();
  });
}
