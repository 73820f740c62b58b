import type { DiskErrorData } from '../core/errors';
import type { Extent } from '../core/store';
import type { Backend, BackendChoice, CacheMode, CrashModel, DiskStats } from '../core/types';
import type { BackendReason } from '../stores/backends';
import type { BaseSpec } from '../stores/base-image';

/**
 * The worker boundary: a small typed protocol (comlink-style, but
 * batched). The client sends requests in batches; write payloads travel
 * packed in one transferred ArrayBuffer, read results come back each in
 * its own transferred buffer. Errors travel as plain data.
 */

/** What openDisk() hands the worker (already validated by the client). */
export interface OpenRequest {
  name: string;
  size?: number;
  cache: CacheMode;
  backend: BackendChoice;
  blockSize?: number;
  cacheSize?: number;
  /** How long to wait for the disk's lock before answering EBUSY. */
  lockTimeoutMs: number;
  crashModel: CrashModel;
  /** Power model only: the simulated disk's volatile cache. */
  deviceCacheSize?: number;
  /** An overlay's base: a URL (made absolute by the client) or a Blob. */
  base?: BaseSpec;
}

/** What the worker answers to a successful open. */
export interface DiskInfo {
  name: string;
  size: number;
  blockSize: number;
  backend: Backend;
  /** Why the disk is on that backend. */
  backendReason: BackendReason;
  cacheMode: CacheMode;
  uncleanShutdown: boolean;
  crashModel: CrashModel;
  /** An overlay's base: its URL, or "blob". */
  base?: string;
  /** The worker's block cache, in shared memory (protocol/shared-cache.ts): the page reads hits itself. */
  sharedCache?: SharedArrayBuffer;
}

/**
 * Every operation: what its request carries and what its reply is. The
 * one table both sides are typed from (as comlink types its messages), so
 * neither the client nor the worker casts a reply. A reply is what the
 * Disk method resolves with: `void` for most (biome.json allows it here).
 */
export interface Operations {
  read: { request: { offset: number; length: number }; reply: Uint8Array };
  /** `at`: where the data starts in the batch payload. */
  write: { request: { offset: number; length: number; at: number; fua: boolean }; reply: void };
  flush: { request: Record<never, never>; reply: void };
  discard: { request: { offset: number; length: number }; reply: void };
  setCacheMode: { request: { mode: CacheMode }; reply: void };
  /** The first runs of the range (a prefix of it): ask again from where they end. */
  blockStatus: { request: { offset: number; length: number }; reply: Extent[] };
  stats: { request: Record<never, never>; reply: DiskStats };
  close: { request: Record<never, never>; reply: void };
  /** An overlay drops every local change. */
  reset: { request: Record<never, never>; reply: void };
}
export type Op = keyof Operations;
export type RequestOf<O extends Op> = { op: O } & Operations[O]['request'];
export type ReplyOf<O extends Op> = Operations[O]['reply'];
export type Request = { [O in Op]: RequestOf<O> }[Op];
/** Any reply, as it crosses the boundary. */
export type Reply = ReplyOf<Op>;

export type Envelope = Request & { id: number };

export type Result = { id: number; ok: true; value?: Reply } | { id: number; ok: false; error: DiskErrorData };

export type ToWorker =
  /**
   * `ring`: the shared-memory transport's buffer, when the page can share
   * memory; its control block holds the power switch powerLoss() flips.
   */
  | { type: 'open'; options: OpenRequest; ring?: SharedArrayBuffer }
  | { type: 'batch'; requests: Envelope[]; payload: ArrayBuffer | null }
  /** powerLoss() without shared memory: stop every store now, abort what is committing, then say so. */
  | { type: 'power-off' }
  /** disk.openSync(): serve this second ring (a SyncDisk's) beside the first, through the same device queue. */
  | { type: 'open-sync'; id: number; ring: SharedArrayBuffer }
  /** disk.allocBuffer(): ring requests may name this buffer (as number `id`) instead of the arena. */
  | { type: 'lend'; id: number; buffer: SharedArrayBuffer }
  /** importDisk of a raw Blob: the worker writes the Blob's data grains from offset 0 itself. */
  | { type: 'fill'; id: number; blob: Blob };

export type FromWorker =
  | { type: 'opened'; info: DiskInfo }
  | { type: 'open-failed'; error: DiskErrorData }
  /** `payload`: the batch's write buffer, handed back for reuse. */
  | { type: 'results'; results: Result[]; payload: ArrayBuffer | null }
  /** The stores stopped after a power-off: the worker may be terminated. */
  | { type: 'powered-off' }
  /** The worker serves the ring of open-sync `id` now. */
  | { type: 'sync-opened'; id: number }
  | { type: 'sync-failed'; id: number; error: DiskErrorData }
  /** The worker holds lent buffer `id`: requests may name it from now on. */
  | { type: 'lent'; id: number }
  /** Bytes of the Blob of fill `id` written so far; then its end, with the error if it failed. */
  | { type: 'fill-progress'; id: number; bytes: number }
  | { type: 'fill-done'; id: number; error?: DiskErrorData };
