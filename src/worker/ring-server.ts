import { errorToData } from '../core/errors';
import type { Request } from '../protocol/messages';
import {
  CTRL,
  decodeRequest,
  encodeResponse,
  RING_SLOTS,
  type RingViews,
  ringViews,
  STATUS_ERROR,
  STATUS_OK,
  waitChange,
} from '../protocol/ring';

/**
 * Executes one request. `data` is the request's window of the shared
 * arena: the bytes to write, or where a read's result goes. Resolves with
 * JSON-able data (stats) or undefined.
 */
export type RingHandler = (request: Request, data: Uint8Array) => Promise<unknown>;

/**
 * The worker's side of the shared-memory ring: waits (asynchronously) for
 * published requests, hands each to the handler at once (the block device
 * queues them in order) and publishes each answer as it settles.
 */
export class RingServer {
  private readonly v: RingViews;
  private readonly handle: RingHandler;
  private consumed = 0;
  private published = 0;
  private stopped = false;

  constructor(sab: SharedArrayBuffer, handle: RingHandler) {
    this.v = ringViews(sab);
    this.handle = handle;
  }

  async run(): Promise<void> {
    const { ctrl } = this.v;
    while (!this.stopped) {
      const seq = Atomics.load(ctrl, CTRL.reqSeq);
      while (this.consumed !== seq) {
        this.dispatch(this.consumed & (RING_SLOTS - 1));
        this.consumed = (this.consumed + 1) | 0;
      }
      await waitChange(ctrl, CTRL.reqSeq, seq);
    }
  }

  stop(): void {
    this.stopped = true;
    Atomics.notify(this.v.ctrl, CTRL.reqSeq);
  }

  private dispatch(slot: number): void {
    const { id, request, dataPos } = decodeRequest(this.v, slot);
    const length = request.op === 'read' || request.op === 'write' ? request.length : 0;
    const data = this.v.arena.subarray(dataPos, dataPos + length);
    let done: Promise<unknown>;
    try {
      done = this.handle(request, data);
    } catch (err) {
      done = Promise.reject(err);
    }
    done.then(
      (value) => this.respond(id, STATUS_OK, value),
      (err: unknown) => this.respond(id, STATUS_ERROR, errorToData(err)),
    );
  }

  private respond(id: number, status: number, json: unknown): void {
    encodeResponse(this.v, this.published & (RING_SLOTS - 1), id, status, json);
    this.published = (this.published + 1) | 0;
    Atomics.store(this.v.ctrl, CTRL.respSeq, this.published);
    Atomics.notify(this.v.ctrl, CTRL.respSeq);
  }
}
