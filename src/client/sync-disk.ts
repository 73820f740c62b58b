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

/** SyncDisk.write's options: the Disk's, and whether to wait for the answer. */
export interface SyncWriteOptions extends WriteOptions {
  /**
   * false: return once the request is in the port's ring (its bytes copied
   * there), not answered yet. The next call that waits (any other) waits
   * for it too; its error is thrown by the next flush() or settle(), as
   * fsync reports a failed write-back. Default true.
   */
  wait?: boolean;
}

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
  /** Answers read so far (the worker's answers come in the order it settles requests). */
  private answered: number;
  /** Bytes at the start of the data area held by posted writes not answered yet. */
  private posted = 0;
  /** The first error of a posted write, for the next flush() or settle(). */
  private postedError: DiskError | undefined;
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
    this.answered = Atomics.load(ctrl, CTRL.respSeq);
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
      const pos = this.room(n);
      this.call({ op: 'read', offset: offset + at, length: n }, pos);
      dst.set(this.v.arena.subarray(pos, pos + n), at);
    });
    return dst;
  }

  /**
   * Writes `data` at `offset`; returns once the worker acknowledged it (as
   * the cache mode defines; with `fua`, once it is in the store and synced)
   * — or, with `wait: false`, once it is in the ring (see SyncWriteOptions).
   * A write larger than the port's data area goes as consecutive pieces,
   * each its own request (see README, "SyncDisk").
   */
  write(offset: number, data: Uint8Array, opts?: SyncWriteOptions): void {
    checkData(data);
    checkRange(offset, data.length, this.size, 'write', MAX_IO_BYTES);
    this.checkOpen();
    const fua = opts?.fua === true;
    const wait = opts?.wait !== false;
    eachPiece(offset, data.length, this.dataBytes, (_, __, at, n) => {
      const pos = this.room(n);
      this.v.arena.set(data.subarray(at, at + n), pos);
      const request: Request = { op: 'write', offset: offset + at, length: n, at: pos, fua };
      if (wait) this.call(request, pos);
      else {
        this.publish(request, pos);
        this.posted = pos + n;
      }
    });
  }

  /** The guest's flush: makes every write acknowledged before it durable, as the cache mode defines. */
  flush(): void {
    this.checkOpen();
    this.call({ op: 'flush' }, this.posted, true);
  }

  /** The range reads back as zeros afterwards. */
  discard(offset: number, length: number): void {
    checkRange(offset, length, this.size, 'discard');
    this.checkOpen();
    this.call({ op: 'discard', offset, length }, this.posted);
  }

  /** Waits for every write posted with `wait: false`; throws the first error among them. */
  settle(): void {
    this.checkOpen();
    this.waitAll();
    this.takePostedError();
  }

  private checkOpen(): void {
    const closed = Atomics.load(this.v.ctrl, CTRL.closed);
    if (closed !== SYNC_CLOSED.open) throw closedError(this.name, closed);
  }

  /** Where in the data area `n` bytes go: after the posted writes' bytes, or (once they are answered) at its start. */
  private room(n: number): number {
    if (this.posted + n > this.dataBytes || this.inFlight() >= RING_SLOTS - 1) this.waitAll();
    return this.posted;
  }

  private inFlight(): number {
    return (this.published - this.answered) | 0;
  }

  /** Puts a request (its data at `pos` of the data area) in the ring and wakes the worker; returns its id. */
  private publish(request: Request, pos: number): number {
    const { ctrl } = this.v;
    this.checkOpen();
    if (this.inFlight() >= RING_SLOTS - 1) this.waitAll();
    const id = this.nextId++;
    encodeRequest(this.v, this.published & (RING_SLOTS - 1), id, request, pos);
    this.published = (this.published + 1) | 0;
    Atomics.store(ctrl, CTRL.reqSeq, this.published);
    Atomics.notify(ctrl, CTRL.reqSeq);
    return id;
  }

  /**
   * Blocks until every published request is answered; reads the answers:
   * a posted write's error is kept, and the answer to `id` (if given) returned.
   */
  private waitAll(id?: number): { id: number; status: number; json: unknown } | undefined {
    const { ctrl } = this.v;
    for (;;) {
      const seq = Atomics.load(ctrl, CTRL.respSeq);
      if (seq === this.published) break;
      this.checkOpen();
      Atomics.wait(ctrl, CTRL.respSeq, seq, WAIT_SLICE_MS);
    }
    let mine: { id: number; status: number; json: unknown } | undefined;
    for (; this.answered !== this.published; this.answered = (this.answered + 1) | 0) {
      const answer = decodeResponse(this.v, this.answered & (RING_SLOTS - 1));
      if (answer.id === id) mine = answer;
      else if (answer.status !== STATUS_OK) this.postedError ??= errorFromData(answer.json as DiskErrorData);
    }
    this.posted = 0;
    return mine;
  }

  private takePostedError(): void {
    const err = this.postedError;
    this.postedError = undefined;
    if (err) throw err;
  }

  /**
   * One request, its data (if any) at `pos` of the data area; blocks until
   * it and every posted write are answered. With `reportPosted`, a posted
   * write's error is thrown first (the request itself was served).
   */
  private call(request: Request, pos: number, reportPosted = false): void {
    const id = this.publish(request, pos);
    const answer = this.waitAll(id);
    if (reportPosted) this.takePostedError();
    if (!answer) throw new DiskError('EIO', `SyncDisk: no answer for request ${id}; open a new port.`);
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
