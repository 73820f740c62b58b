import { CACHE_POLICY } from '../core/cache-modes';
import { DiskError, errorFromData } from '../core/errors';
import { pushRun } from '../core/extents';
import type { Extent } from '../core/store';
import type { Backend, CacheMode, CrashModel, DiskStats } from '../core/types';
import { checkCacheMode, checkData, checkRange, MAX_IO_BYTES } from '../core/validate';
import { type ExportOptions, exportDisk } from '../images/export';
import type { DiskInfo, FromWorker, ToWorker } from '../protocol/messages';
import { FIRST_LENT_BUFFER } from '../protocol/ring';
import type { SyncDiskPort } from '../protocol/sync-port';
import type { BackendReason } from '../stores/backends';
import { keepSpare } from './disk-workers';
import { SharedCacheReader } from './shared-cache-reader';
import { type OpenSyncOptions, SyncPorts } from './sync-ports';
import type { HeldRead, Transport } from './transport';

/** How long a worker without shared memory gets to stop its stores before it is terminated anyway. */
const POWER_OFF_GRACE_MS = 1000;
/** Bound on the memory one disk's allocBuffer() calls lend to its worker. */
export const MAX_LENT_BYTES = 1024 * 1024 * 1024;

export interface WriteOptions {
  /** Force unit access: acknowledged only once in the store and synced (except in unsafe mode). */
  fua?: boolean;
}

/**
 * An open disk. Every method returns a promise; requests may be issued
 * without awaiting and take effect in issue order. Arguments are checked
 * here at once (a bad call rejects without a round trip) and again in the
 * worker.
 */
export class Disk {
  readonly name: string;
  readonly size: number;
  readonly backend: Backend;
  /**
   * Why the disk is on `backend`: 'requested', 'existing' (it was there
   * already), 'preferred' ('auto' chose OPFS) or 'fallback' ('auto' chose
   * IndexedDB: OPFS sync access handles are missing in this browser).
   */
  readonly backendReason: BackendReason;
  readonly blockSize: number;
  /** The previous session of this disk did not close cleanly. */
  readonly uncleanShutdown: boolean;
  /** How requests travel: a shared-memory ring, or batched messages when the page is not cross-origin isolated. */
  readonly transportKind: 'shared-memory' | 'messages';
  /** What powerLoss() loses: see OpenDiskOptions.crashModel. */
  readonly crashModel: CrashModel;
  /** An overlay's base: its URL, or "blob"; undefined for other disks. */
  readonly base: string | undefined;
  private mode: CacheMode;
  /** setCacheMode calls not answered yet: until then the mode later writes meet is not known here. */
  private modeSwitches = 0;
  private readonly worker: Worker;
  private readonly transport: Transport;
  private closedBy: 'close' | 'powerLoss' | 'crash' | undefined;
  private changes = 0;
  /** The power switch shared with the worker (cross-origin isolated pages only). */
  private readonly power: Int32Array | undefined;
  private readonly syncPorts: SyncPorts;
  /** Fills (importDisk of a Blob) the worker is running, by id. */
  private readonly fills = new Map<
    number,
    { resolve(): void; reject(e: DiskError): void; progress?(bytes: number): void }
  >();
  private nextFill = 1;
  /** allocBuffer() calls waiting for the worker to hold their buffer, by id. */
  private readonly lends = new Map<number, { resolve(): void; reject(e: DiskError): void }>();
  private nextLend = FIRST_LENT_BUFFER;
  /** The worker's block cache in shared memory: small reads that hit it are served here. */
  private readonly sharedCache: SharedCacheReader | undefined;
  private lentBytes = 0;

  /** @internal Use openDisk(). */
  constructor(info: DiskInfo, worker: Worker, transport: Transport, power?: Int32Array) {
    this.name = info.name;
    this.size = info.size;
    this.backend = info.backend;
    this.backendReason = info.backendReason;
    this.blockSize = info.blockSize;
    this.uncleanShutdown = info.uncleanShutdown;
    this.crashModel = info.crashModel;
    this.base = info.base;
    this.mode = info.cacheMode;
    this.worker = worker;
    this.transport = transport;
    this.transportKind = transport.kind;
    this.power = power;
    this.syncPorts = new SyncPorts(worker, info);
    this.sharedCache = info.sharedCache && transport.idle ? new SharedCacheReader(info.sharedCache) : undefined;
  }

  /** The current cache mode. */
  get cacheMode(): CacheMode {
    return this.mode;
  }

  /** write(), discard() and reset() calls so far: an export in progress stops when it moves. */
  get changeCount(): number {
    return this.changes;
  }

  /**
   * The disk as a raw or qcow2 image, streamed (flushed first). A write,
   * discard or reset through this Disk while the export runs makes the
   * stream error with EBUSY rather than give a mixed image.
   */
  export(opts?: ExportOptions): ReadableStream<Uint8Array> {
    return exportDisk(this, opts);
  }

  /**
   * A buffer of `size` bytes lent to the disk worker (io_uring's registered
   * buffers): `write()` from it (or from a part of it) moves no bytes on the
   * page, `readInto()` into it gets the worker's bytes with no copy on the
   * page, and neither is split into chunks. The catch, as with any
   * zero-copy I/O: leave the bytes of a call's range alone until that call
   * settles — such a write is never acknowledged before the worker has
   * taken it, in any cache mode. Lent buffers live as long as the disk
   * (at most MAX_LENT_BYTES in all). Without shared memory (a page that is
   * not cross-origin isolated) it is ordinary memory, copied as any other.
   */
  allocBuffer(size: number): Promise<Uint8Array> {
    const bad = this.guard(() => {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > MAX_IO_BYTES) {
        throw new DiskError(
          'EINVAL',
          `allocBuffer: size ${String(size)} must be a whole number of bytes from 1 to ${MAX_IO_BYTES} (256 MiB).`,
        );
      }
      if (this.lentBytes + size > MAX_LENT_BYTES) {
        throw new DiskError(
          'EINVAL',
          `allocBuffer: this disk has ${this.lentBytes} bytes lent already; at most ${MAX_LENT_BYTES} (1 GiB) in all. Reuse the buffers you have.`,
        );
      }
    });
    if (bad) return bad;
    const lend = this.transport.lend?.bind(this.transport);
    if (!lend) return Promise.resolve(new Uint8Array(size));
    this.lentBytes += size;
    const buffer = new SharedArrayBuffer(size);
    const id = this.nextLend++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.lends.set(id, {
        resolve: () => {
          lend(buffer, id);
          resolve(new Uint8Array(buffer));
        },
        reject,
      });
      const msg: ToWorker = { type: 'lend', id, buffer };
      this.worker.postMessage(msg);
    });
  }

  /**
   * @internal A read (at most `maxHeld` bytes) whose bytes stay in shared
   * memory until released: the export copies them once, into its reader's
   * buffer, while the next ones are read. Without shared memory, a copy.
   */
  readHeld(offset: number, length: number): HeldRead {
    const refused = this.guard(() => checkRange(offset, length, this.size, 'read', MAX_IO_BYTES));
    if (refused) {
      refused.catch(() => undefined); // awaited by the caller, or released unread
      return { bytes: refused, release: () => {} };
    }
    if (this.transport.readHeld && length <= (this.transport.maxHeld ?? 0)) {
      return this.transport.readHeld(offset, length);
    }
    const bytes = this.transport.call({ op: 'read', offset, length });
    bytes.catch(() => undefined); // awaited by the caller, or released unread
    return { bytes, release: () => {} };
  }

  /** @internal Writes acknowledged early that the worker has not answered yet: the crash rounds count them at the cut. */
  get earlyAcksInFlight(): number {
    return this.transport.earlyAcksInFlight?.() ?? 0;
  }

  /** True once close() was called, or after powerLoss() or a worker crash. */
  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const bad = this.guard(() => checkRange(offset, length, this.size, 'read', MAX_IO_BYTES));
    if (bad) return bad;
    if (this.canReadShared(length)) {
      // A miss reads into the same buffer through the worker: one allocation either way.
      const out = new Uint8Array(length);
      if (this.sharedCache?.tryRead(offset, out)) return Promise.resolve(out);
      return this.readVia(offset, length, out);
    }
    return this.readVia(offset, length, undefined);
  }

  /** A read through the worker, without a request object where the transport can. */
  private readVia(offset: number, length: number, into: Uint8Array | undefined): Promise<Uint8Array> {
    return this.transport.read
      ? this.transport.read(offset, length, into)
      : this.transport.call({ op: 'read', offset, length }, into);
  }

  /**
   * A read may be served from the worker's shared cache (a hit costs no
   * crossing) when none of this disk's calls is unanswered — so each has
   * taken effect — and the mode caches reads.
   */
  private canReadShared(length: number): boolean {
    return (
      this.sharedCache !== undefined &&
      length > 0 &&
      this.modeSwitches === 0 &&
      CACHE_POLICY[this.mode].readCache &&
      this.transport.idle?.() === true
    );
  }

  /**
   * Reads `into.length` bytes at `offset` into a buffer of the caller's,
   * and resolves with it: no allocation per read (fresh memory is slow on
   * some platforms; an emulator's sector buffer is reused). Don't touch
   * `into` until the promise settles.
   */
  readInto(offset: number, into: Uint8Array): Promise<Uint8Array> {
    // Checked without a closure: with write(), the calls an emulator makes most.
    if (this.closedBy) return this.guard() as Promise<never>;
    try {
      if (!(into instanceof Uint8Array)) {
        throw new DiskError('EINVAL', 'readInto: the destination must be a Uint8Array.');
      }
      checkRange(offset, into.length, this.size, 'read', MAX_IO_BYTES);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.canReadShared(into.length) && this.sharedCache?.tryRead(offset, into)) return Promise.resolve(into);
    return this.readVia(offset, into.length, into);
  }

  /**
   * Writes `data` at `offset`. The caller's buffer is copied at once and
   * stays usable — unless it is one of allocBuffer()'s: then nothing is
   * copied and the range must stay untouched until the write settles. In writeback and unsafe (and with shared memory) a write
   * that is not FUA is acknowledged once it is in the ring the worker takes
   * in order — volatile memory, as the worker's cache is; an error the
   * worker meets with it later rejects the next flush() or close().
   */
  write(offset: number, data: Uint8Array, opts?: WriteOptions): Promise<void> {
    const fua = opts?.fua === true;
    // The hot path: no closure and, through the ring, no request object — an
    // early-acknowledged write allocates nothing (see RingTransport.write).
    if (this.closedBy) return this.guard() as Promise<never>;
    try {
      checkData(data);
      checkRange(offset, data.length, this.size, 'write', MAX_IO_BYTES);
    } catch (err) {
      return Promise.reject(err);
    }
    this.changes++;
    const early = !fua && this.modeSwitches === 0 && CACHE_POLICY[this.mode].writeCache;
    return this.transport.write
      ? this.transport.write(offset, data, fua, early)
      : this.transport.call({ op: 'write', offset, length: data.length, at: 0, fua }, data, { ackOnPublish: early });
  }

  /**
   * Makes every write acknowledged before it durable, as the cache mode
   * defines. Rejects with the error of an early-acknowledged write that
   * failed since the last flush (see write()), once.
   */
  flush(): Promise<void> {
    return this.guard() ?? this.transport.call({ op: 'flush' });
  }

  /** The range reads back as zeros afterwards. */
  discard(offset: number, length: number): Promise<void> {
    return (
      this.guard(() => {
        checkRange(offset, length, this.size, 'discard');
        this.changes++;
      }) ?? this.transport.call({ op: 'discard', offset, length })
    );
  }

  /** Switches cache mode; going to a mode without a write cache flushes first. */
  setCacheMode(mode: CacheMode): Promise<void> {
    const bad = this.guard(() => checkCacheMode(mode));
    if (bad) return bad;
    // Writes issued after this meet the new mode: none is acknowledged early until it is known.
    this.modeSwitches++;
    const done = this.transport.call({ op: 'setCacheMode', mode });
    return done.then(
      () => {
        this.mode = mode;
        this.modeSwitches--;
      },
      (err: DiskError) => {
        this.modeSwitches--;
        throw err;
      },
    );
  }

  stats(): Promise<DiskStats> {
    const bad = this.guard();
    if (bad) return bad;
    return this.transport.call({ op: 'stats' }).then((s) => {
      // Reads the page served from the shared cache never reached the worker.
      const served = this.sharedCache?.served;
      if (!served) return s;
      return {
        ...s,
        reads: s.reads + served.reads,
        bytesRead: s.bytesRead + served.bytes,
        cacheHits: s.cacheHits + served.blocks,
        pageReads: served.reads,
      };
    });
  }

  /**
   * QEMU's block_status: which parts of [offset, offset + length) hold data,
   * as runs that cover the range in order. 'data': may hold any bytes
   * (dirty cached blocks included); 'zero': reads as zeros; 'unallocated':
   * reads as zeros and takes no space (a thin disk's clusters never
   * written). An overlay's clusters not copied from its base yet are
   * 'data'. A disk that cannot tell says 'data': always a safe answer.
   */
  blockStatus(offset: number, length: number): Promise<Extent[]> {
    const bad = this.guard(() => checkRange(offset, length, this.size, 'blockStatus'));
    if (bad) return bad;
    return (async () => {
      const out: Extent[] = [];
      for (let at = offset, end = offset + length; at < end; ) {
        const runs = await this.transport.call({ op: 'blockStatus', offset: at, length: end - at });
        if (runs.length === 0) throw new DiskError('EIO', `blockStatus: the disk worker answered nothing at ${at}.`);
        for (const r of runs) pushRun(out, r.offset, r.length, r.state);
        const last = runs[runs.length - 1];
        at = last.offset + last.length;
      }
      return out;
    })();
  }

  /**
   * An overlay drops every local change and is its base again (durable once
   * it resolves). Other disks: ENOTSUP.
   */
  reset(): Promise<void> {
    return (
      this.guard(() => {
        this.changes++;
      }) ?? this.transport.call({ op: 'reset' })
    );
  }

  /**
   * A port for a synchronous client: post it to a worker and make a
   * `SyncDisk` of it there, whose calls block (Atomics.wait) and run in the
   * same order as this disk's async calls. Needs a cross-origin isolated
   * page (ENOTSUP otherwise). One SyncDisk per port; the disk worker serves
   * the port until the disk closes or loses power, when its calls throw ECLOSED.
   */
  openSync(opts?: OpenSyncOptions): Promise<SyncDiskPort> {
    return this.guard() ?? this.syncPorts.open(opts);
  }

  /** Writes everything back, syncs, marks the disk cleanly closed and ends the worker. */
  close(): Promise<void> {
    const bad = this.guard();
    if (bad) return bad;
    this.closedBy = 'close';
    const done = this.transport.call({ op: 'close' });
    return done.then(
      () => {
        this.worker.terminate();
        keepSpare();
        this.syncPorts.closeAll('close');
        this.failAll(new DiskError('ECLOSED', `Disk "${this.name}" is closed: open it again.`));
      },
      (err: DiskError) => {
        // The disk could not be closed cleanly (e.g. quota): the worker
        // still holds the data; end it so the lock is released, and report.
        // Unless powerLoss() cut the close short: the worker is going already.
        if (this.closedBy === 'close') this.kill('crash');
        throw err;
      },
    );
  }

  /**
   * Pulls the plug: terminates the disk worker at once, with no write-back,
   * sync or cleanup. Pending and later calls reject with ECLOSED; the disk
   * can be reopened right away. In a cross-origin isolated page the worker's
   * store calls stop at once, even in the middle of a flush or close();
   * elsewhere the browser lets the worker finish its running task (and the
   * requests it already received) before it ends.
   */
  powerLoss(): void {
    this.kill('powerLoss');
    keepSpare();
  }

  /** @internal The worker died on its own. */
  crashed(message: string): void {
    if (this.closedBy === 'powerLoss') return;
    this.worker.terminate();
    this.closedBy = 'crash';
    this.syncPorts.closeAll('crash');
    this.failAll(new DiskError('EIO', `The disk worker of "${this.name}" failed: ${message}. Reopen the disk.`));
  }

  /**
   * @internal importDisk: the worker writes a raw image Blob's data grains
   * into the disk from offset 0 itself (worker/fill.ts) — the bytes never
   * pass through the page. `progress`: bytes of the Blob done.
   */
  fillFrom(blob: Blob, progress?: (bytes: number) => void): Promise<void> {
    const bad = this.guard(() => {
      this.changes++;
    });
    if (bad) return bad;
    return new Promise((resolve, reject) => {
      const id = this.nextFill++;
      this.fills.set(id, { resolve, reject, progress });
      const msg: ToWorker = { type: 'fill', id, blob };
      this.worker.postMessage(msg);
    });
  }

  /** @internal A message of the worker not for the transport: true if it was for the disk. */
  handle(msg: FromWorker): boolean {
    if (this.syncPorts.handle(msg)) return true;
    if (msg.type === 'fill-progress') {
      this.fills.get(msg.id)?.progress?.(msg.bytes);
      return true;
    }
    if (msg.type === 'lent') {
      this.lends.get(msg.id)?.resolve();
      this.lends.delete(msg.id);
      return true;
    }
    if (msg.type === 'fill-done') {
      const f = this.fills.get(msg.id);
      this.fills.delete(msg.id);
      if (msg.error) f?.reject(errorFromData(msg.error));
      else f?.resolve();
      return true;
    }
    if (msg.type !== 'powered-off') return false;
    this.worker.terminate();
    return true;
  }

  private kill(by: 'powerLoss' | 'crash'): void {
    if (this.power) {
      // terminate() lets the worker's running task finish: cut its store off first.
      Atomics.store(this.power, 0, 1);
      this.worker.terminate();
    } else {
      // No shared switch: the worker stops its stores when it gets this (between
      // tasks), aborting what is still committing, and is terminated once it
      // says so — or after POWER_OFF_GRACE_MS if it never does. A worker killed
      // mid-transaction can leave IndexedDB stuck on that transaction (WebKitGTK).
      const off: ToWorker = { type: 'power-off' };
      this.worker.postMessage(off);
      setTimeout(() => this.worker.terminate(), POWER_OFF_GRACE_MS);
    }
    this.closedBy = by;
    this.syncPorts.closeAll(by);
    this.failAll(
      new DiskError('ECLOSED', `Disk "${this.name}" lost power (its worker was terminated): open it again.`),
    );
  }

  /** Every pending and later request rejects with `err`. */
  private failAll(err: DiskError): void {
    this.transport.fail(err);
    for (const f of this.fills.values()) f.reject(err);
    this.fills.clear();
    for (const l of this.lends.values()) l.reject(err);
    this.lends.clear();
  }

  /** Rejects (as a promise, never a throw) when closed or when `check` throws. */
  private guard(check?: () => void): Promise<never> | undefined {
    try {
      if (this.closedBy) {
        throw new DiskError(
          'ECLOSED',
          this.closedBy === 'close'
            ? `Disk "${this.name}" is closed: open it again.`
            : `Disk "${this.name}" is gone (${this.closedBy === 'powerLoss' ? 'power loss' : 'worker crash'}): open it again.`,
        );
      }
      check?.();
      return undefined;
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
