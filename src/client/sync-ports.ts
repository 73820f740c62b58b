import { DiskError, errorFromData } from '../core/errors';
import type { FromWorker, ToWorker } from '../protocol/messages';
import {
  closedError,
  closeSyncRing,
  createSyncPort,
  DEFAULT_SYNC_DATA_BYTES,
  MIN_SYNC_DATA_BYTES,
  SYNC_CLOSED,
  type SyncClosedBy,
  type SyncDiskPort,
} from '../protocol/sync-port';

export interface OpenSyncOptions {
  /**
   * Bytes of the port's shared data area (default 4 MiB, at least 4096):
   * reads and writes larger than this go in pieces of this size.
   */
  bufferSize?: number;
}

/** The headers a page needs for SharedArrayBuffer, named in every ENOTSUP. */
const ISOLATION_HELP =
  'serve the page (and its workers) with the headers "Cross-Origin-Opener-Policy: same-origin" and ' +
  '"Cross-Origin-Embedder-Policy: require-corp"';

interface Pending {
  resolve(port: SyncDiskPort): void;
  reject(err: DiskError): void;
  port: SyncDiskPort;
}

/**
 * A disk's synchronous ports, on the page's side: makes each port's ring,
 * asks the disk worker to serve it, and — when the disk closes, loses
 * power or its worker dies — marks every ring closed and wakes whoever is
 * blocked on it, so no SyncDisk call waits for an answer that cannot come.
 */
export class SyncPorts {
  private readonly rings: Int32Array[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedBy: SyncClosedBy | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly disk: { name: string; size: number; blockSize: number },
  ) {}

  open(opts?: OpenSyncOptions): Promise<SyncDiskPort> {
    try {
      if (this.closedBy) throw closedError(this.disk.name, SYNC_CLOSED[this.closedBy]);
      const dataBytes = checkBufferSize(opts?.bufferSize);
      checkIsolation();
      const { port, ctrl } = createSyncPort(this.disk, dataBytes);
      this.rings.push(ctrl);
      const id = this.nextId++;
      return new Promise<SyncDiskPort>((resolve, reject) => {
        this.pending.set(id, { resolve, reject, port });
        const msg: ToWorker = { type: 'open-sync', id, ring: port.buffer };
        this.worker.postMessage(msg);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A worker message about a port: true if it was one. */
  handle(msg: FromWorker): boolean {
    if (msg.type !== 'sync-opened' && msg.type !== 'sync-failed') return false;
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if (p && msg.type === 'sync-opened') p.resolve(p.port);
    else if (p && msg.type === 'sync-failed') p.reject(errorFromData(msg.error));
    return true;
  }

  /** The disk is gone: every ring is closed (blocked calls wake and throw), every pending openSync rejects. */
  closeAll(by: SyncClosedBy): void {
    this.closedBy ??= by;
    for (const ctrl of this.rings) closeSyncRing(ctrl, this.closedBy);
    const err = closedError(this.disk.name, SYNC_CLOSED[this.closedBy]);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

function checkBufferSize(size: unknown): number {
  if (size === undefined) return DEFAULT_SYNC_DATA_BYTES;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < MIN_SYNC_DATA_BYTES || size > 1 << 30) {
    throw new DiskError(
      'EINVAL',
      `openSync: bufferSize ${String(size)} must be a whole number of bytes from ${MIN_SYNC_DATA_BYTES} to 1 GiB.`,
    );
  }
  return size;
}

/** SharedArrayBuffer and Atomics.waitAsync are there (a cross-origin isolated page or worker), or ENOTSUP. */
export function checkIsolation(): void {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (g.crossOriginIsolated !== true || typeof SharedArrayBuffer !== 'function') {
    throw new DiskError(
      'ENOTSUP',
      `openSync needs SharedArrayBuffer, which this page may not use (it is not cross-origin isolated): ${ISOLATION_HELP}.`,
    );
  }
  if (typeof Atomics.waitAsync !== 'function') {
    throw new DiskError(
      'ENOTSUP',
      'openSync needs Atomics.waitAsync, which this browser lacks (the disk worker waits on the port with it): use the async API.',
    );
  }
}
