import { DiskError } from '../core/errors';
import { CTRL, ringBytes, ringViews } from './ring';

/**
 * What `disk.openSync()` hands out and `new SyncDisk(port)` takes: a plain
 * object (it crosses postMessage as is; the SharedArrayBuffer in it is
 * shared, not copied) describing a second shared-memory ring of the disk,
 * laid out as protocol/ring.ts says, that the disk worker serves beside
 * the async client's.
 */
export interface SyncDiskPort {
  readonly kind: typeof SYNC_PORT_KIND;
  readonly name: string;
  /** The disk's size in bytes: a SyncDisk checks ranges without a round trip. */
  readonly size: number;
  readonly blockSize: number;
  /** The ring: control block, request and response slots, data area. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes of the ring's data area: larger reads and writes go in pieces of this size. */
  readonly dataBytes: number;
}

export const SYNC_PORT_KIND = 'webdisk-sync-port/1';

/** Default data area of a sync ring: 4 MiB (a 4 KiB sector call uses 4 KiB of it). */
export const DEFAULT_SYNC_DATA_BYTES = 4 * 1024 * 1024;
/** Smallest data area openSync() accepts: one 4 KiB block. */
export const MIN_SYNC_DATA_BYTES = 4096;

/** Values of the control block's `closed` word: why a blocked call must stop waiting. */
export const SYNC_CLOSED = { open: 0, close: 1, powerLoss: 2, crash: 3 } as const;
export type SyncClosedBy = Exclude<keyof typeof SYNC_CLOSED, 'open'>;

/** A new port (its ring's memory touched once: first touch is slow on some machines) and its control block. */
export function createSyncPort(
  disk: { name: string; size: number; blockSize: number },
  dataBytes: number,
): { port: SyncDiskPort; ctrl: Int32Array } {
  const buffer = new SharedArrayBuffer(ringBytes(dataBytes));
  const views = ringViews(buffer);
  views.arena.fill(0);
  const port: SyncDiskPort = {
    kind: SYNC_PORT_KIND,
    name: disk.name,
    size: disk.size,
    blockSize: disk.blockSize,
    buffer,
    dataBytes,
  };
  return { port, ctrl: views.ctrl };
}

/** Marks a sync ring closed and wakes the thread blocked on it (the page's side). */
export function closeSyncRing(ctrl: Int32Array, by: SyncClosedBy): void {
  Atomics.compareExchange(ctrl, CTRL.closed, SYNC_CLOSED.open, SYNC_CLOSED[by]);
  Atomics.notify(ctrl, CTRL.respSeq);
}

/** The error a call gets once its ring is closed, by the reason in the `closed` word. */
export function closedError(name: string, closed: number): DiskError {
  if (closed === SYNC_CLOSED.crash) {
    return new DiskError('EIO', `The disk worker of "${name}" failed: open the disk again, then call openSync().`);
  }
  return new DiskError(
    'ECLOSED',
    closed === SYNC_CLOSED.close
      ? `Disk "${name}" is closed: open it again, then call openSync().`
      : `Disk "${name}" lost power (its worker was terminated): open it again, then call openSync().`,
  );
}

/** Checks that `port` came from openSync() (through postMessage or not). */
export function checkSyncPort(port: unknown): SyncDiskPort {
  const p = port as Partial<SyncDiskPort> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    p.kind !== SYNC_PORT_KIND ||
    typeof SharedArrayBuffer !== 'function' ||
    !(p.buffer instanceof SharedArrayBuffer) ||
    typeof p.name !== 'string' ||
    !Number.isSafeInteger(p.size) ||
    !Number.isSafeInteger(p.blockSize) ||
    !Number.isSafeInteger(p.dataBytes) ||
    (p.dataBytes as number) < 1
  ) {
    throw new DiskError(
      'EINVAL',
      'new SyncDisk(port): port must be what disk.openSync() resolved with, posted to this worker as is.',
    );
  }
  return p as SyncDiskPort;
}
