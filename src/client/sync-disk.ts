import { DiskError, type DiskErrorData, errorFromData } from '../core/errors';
import { eachPiece } from '../core/pieces';
import { checkData, checkRange, MAX_IO_BYTES } from '../core/validate';
import type { Request } from '../protocol/messages';
import {
  CTRL,
  decodeResponse,
  encodeRequest,
  RING_SLOTS,
  type RingViews,
  ringViews,
  STATUS_OK,
} from '../protocol/ring';
import { checkSyncPort, closedError, SYNC_CLOSED, type SyncDiskPort } from '../protocol/sync-port';
import type { WriteOptions } from './disk';

/**
 * How long one Atomics.wait may sleep before the closed flag is checked
 * again. The page notifies at once when it sets the flag; this bound only
 * covers the instant between our check and our wait.
 */
const WAIT_SLICE_MS = 50;

/**
 * A blocking client of an open disk, for code that cannot await (an
 * emulator's I/O port handler, a synchronous VFS) — in a worker: a page's
 * main thread may not block. `disk.openSync()` gives a port; post it to
 * the worker and make one SyncDisk of it there. Each call publishes its
 * request on the port's shared-memory ring and sleeps in Atomics.wait until
 * the disk worker answers; the worker runs it through the same in-order
 * queue as the disk's async calls.
 *
 * Errors are thrown as DiskError, with the code and message the worker
 * gave. After the disk's close() or powerLoss() every call throws ECLOSED,
 * also one already waiting.
 */
export class SyncDisk {
  readonly name: string;
  readonly size: number;
  readonly blockSize: number;
  private readonly v: RingViews;
  private readonly dataBytes: number;
  private published: number;
  private nextId = 1;

  constructor(port: SyncDiskPort) {
    const p = checkSyncPort(port);
    this.v = ringViews(p.buffer);
    if (this.v.arena.length < p.dataBytes) throw damagedPort();
    this.name = p.name;
    this.size = p.size;
    this.blockSize = p.blockSize;
    this.dataBytes = p.dataBytes;
    const { ctrl } = this.v;
    checkCanBlock(ctrl);
    // The ring's counters are this object's: two SyncDisks on one port would mix their answers.
    if (Atomics.compareExchange(ctrl, CTRL.owner, 0, 1) !== 0) {
      throw new DiskError(
        'EBUSY',
        `This port of disk "${this.name}" is already used by another SyncDisk: call disk.openSync() once per SyncDisk.`,
      );
    }
    this.published = Atomics.load(ctrl, CTRL.reqSeq);
  }

  /** True once the disk was closed or lost power: every call throws. */
  get closed(): boolean {
    return Atomics.load(this.v.ctrl, CTRL.closed) !== SYNC_CLOSED.open;
  }

  /** Reads `length` bytes at `offset` into a new buffer. */
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length, this.size, 'read', MAX_IO_BYTES);
    return this.readInto(offset, new Uint8Array(length));
  }

  /** Reads `dst.length` bytes at `offset` into `dst` (no allocation) and returns it. */
  readInto(offset: number, dst: Uint8Array): Uint8Array {
    if (!(dst instanceof Uint8Array)) throw new DiskError('EINVAL', 'readInto: the destination must be a Uint8Array.');
    checkRange(offset, dst.length, this.size, 'read', MAX_IO_BYTES);
    this.checkOpen();
    eachPiece(offset, dst.length, this.dataBytes, (_, __, at, n) => {
      this.call({ op: 'read', offset: offset + at, length: n });
      dst.set(this.v.arena.subarray(0, n), at);
    });
    return dst;
  }

  /**
   * Writes `data` at `offset`; returns once the worker acknowledged it (as
   * the cache mode defines; with `fua`, once it is in the store and synced).
   * A write larger than the port's data area goes as consecutive pieces,
   * each its own request (see README, "SyncDisk").
   */
  write(offset: number, data: Uint8Array, opts?: WriteOptions): void {
    checkData(data);
    checkRange(offset, data.length, this.size, 'write', MAX_IO_BYTES);
    this.checkOpen();
    const fua = opts?.fua === true;
    eachPiece(offset, data.length, this.dataBytes, (_, __, at, n) => {
      this.v.arena.set(data.subarray(at, at + n), 0);
      this.call({ op: 'write', offset: offset + at, length: n, at: 0, fua });
    });
  }

  /** The guest's flush: makes every write acknowledged before it durable, as the cache mode defines. */
  flush(): void {
    this.checkOpen();
    this.call({ op: 'flush' });
  }

  /** The range reads back as zeros afterwards. */
  discard(offset: number, length: number): void {
    checkRange(offset, length, this.size, 'discard');
    this.checkOpen();
    this.call({ op: 'discard', offset, length });
  }

  private checkOpen(): void {
    const closed = Atomics.load(this.v.ctrl, CTRL.closed);
    if (closed !== SYNC_CLOSED.open) throw closedError(this.name, closed);
  }

  /** One request, its data (if any) at the start of the data area; blocks until its answer. */
  private call(request: Request): void {
    const { ctrl } = this.v;
    this.checkOpen();
    const slot = this.published & (RING_SLOTS - 1);
    const id = this.nextId++;
    encodeRequest(this.v, slot, id, request, 0);
    this.published = (this.published + 1) | 0;
    Atomics.store(ctrl, CTRL.reqSeq, this.published);
    Atomics.notify(ctrl, CTRL.reqSeq);
    // One request at a time: its answer is the worker's next, in the same slot.
    for (;;) {
      const seq = Atomics.load(ctrl, CTRL.respSeq);
      if (seq === this.published) break;
      this.checkOpen();
      Atomics.wait(ctrl, CTRL.respSeq, seq, WAIT_SLICE_MS);
    }
    const answer = decodeResponse(this.v, slot);
    if (answer.id !== id)
      throw new DiskError('EIO', `SyncDisk: answer ${answer.id} for request ${id}; open a new port.`);
    if (answer.status !== STATUS_OK) throw errorFromData(answer.json as DiskErrorData);
  }
}

function damagedPort(): DiskError {
  return new DiskError('EINVAL', 'new SyncDisk(port): the port is damaged (its buffer is too small).');
}

/**
 * Atomics.wait throws where a thread may not block (a page's main thread):
 * say so before anything else. `who` names what blocks, `instead` what to
 * do (both end up in the message).
 */
export function checkCanBlock(
  ctrl: Int32Array = new Int32Array(new SharedArrayBuffer(4 * (CTRL.closed + 1))),
  who = 'SyncDisk',
  instead = 'create it in a worker',
): void {
  try {
    Atomics.wait(ctrl, CTRL.closed, -1, 0); // never -1: returns "not-equal" at once where blocking is allowed
  } catch {
    throw new DiskError(
      'ENOTSUP',
      `${who} blocks with Atomics.wait, which this thread may not do (a page's main thread): ${instead}.`,
    );
  }
}
