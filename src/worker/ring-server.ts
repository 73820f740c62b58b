import { DiskError, errorToData } from '../core/errors';
import type { Request } from '../protocol/messages';
import {
  BUFFER_ARENA,
  BUFFER_STAGING,
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

/** Spins in a row without a request after which the server sleeps at once. */
const MAX_MISSES = 4;

/**
 * Executes one request. `data` is the request's window of the shared
 * arena (or of a buffer the client lent): the bytes to write, or where a
 * read's result goes. Resolves with
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
  private readonly spinUs: number;
  private readonly follows: RingServer | undefined;
  /** The client's lent buffers (disk.allocBuffer()), by number. */
  private readonly lent: ((buffer: number) => Uint8Array | undefined) | undefined;
  private consumed = 0;
  private published = 0;
  private stopped = false;
  /** Requests dispatched and not answered yet. */
  private outstanding = 0;
  /** Spins in a row that saw no request (spinning stops paying when the client is idle). */
  private misses = 0;
  /** Requests a spin caught (they cost no wake-up), and spins that ended with none. */
  readonly spins = { caught: 0, missed: 0 };

  /**
   * `spinUs`: after answering the last outstanding request, watch for the
   * next one this long before sleeping. A wake-up costs ~25 µs here, a
   * client at one request in flight publishes its next ~25–40 µs after the
   * answer: a spin that catches it saves the request's wake-up. Adaptive:
   * after MAX_MISSES spins in a row found nothing, it stops until requests
   * come again.
   *
   * `follows`: another client's ring (a SyncDisk's follows the page's). The
   * page acknowledges a write early once it is published there, maybe not
   * taken yet; each request of this ring first takes what that one has
   * published, so it comes after every call of that client settled before it.
   *
   * `lent`: the buffers the client lent (by number): a request may name one
   * instead of the arena (its bytes then move on neither side).
   */
  constructor(
    sab: SharedArrayBuffer,
    handle: RingHandler,
    opts: { spinUs?: number; follows?: RingServer; lent?: (buffer: number) => Uint8Array | undefined } = {},
  ) {
    this.v = ringViews(sab);
    this.handle = handle;
    this.spinUs = opts.spinUs ?? 0;
    this.follows = opts.follows;
    this.lent = opts.lent;
  }

  async run(): Promise<void> {
    const { ctrl } = this.v;
    while (!this.stopped) {
      const seq = Atomics.load(ctrl, CTRL.reqSeq);
      if (this.consumed !== seq && this.misses > 0) this.misses--;
      this.take(seq);
      await waitChange(ctrl, CTRL.reqSeq, seq);
    }
  }

  /** Dispatches every request published so far (another ring's request must come after them). */
  private catchUp(): void {
    if (!this.stopped) this.take(Atomics.load(this.v.ctrl, CTRL.reqSeq));
  }

  /** Dispatches every request published up to `seq`. */
  private take(seq: number): void {
    while (this.consumed !== seq) {
      this.dispatch(this.consumed & (RING_SLOTS - 1));
      this.consumed = (this.consumed + 1) | 0;
    }
  }

  /** Busy-waits up to spinUs for the next request; takes it at once if it comes. */
  private spin(): void {
    if (this.misses >= MAX_MISSES || this.stopped) return;
    const { ctrl } = this.v;
    const until = performance.now() + this.spinUs / 1000;
    do {
      const seq = Atomics.load(ctrl, CTRL.reqSeq);
      if (seq !== this.consumed) {
        this.misses = 0;
        this.spins.caught++;
        this.take(seq);
        return;
      }
    } while (performance.now() < until);
    this.misses++;
    this.spins.missed++;
  }

  stop(): void {
    this.stopped = true;
    Atomics.notify(this.v.ctrl, CTRL.reqSeq);
  }

  private dispatch(slot: number): void {
    const { id, request, dataPos, buffer } = decodeRequest(this.v, slot);
    const length = request.op === 'read' || request.op === 'write' ? request.length : 0;
    this.follows?.catchUp();
    let done: Promise<unknown>;
    this.outstanding++;
    try {
      const area =
        buffer === BUFFER_ARENA ? this.v.arena : buffer === BUFFER_STAGING ? this.v.staging : this.lent?.(buffer);
      if (!area || dataPos + length > area.length) {
        throw new DiskError(
          'EINVAL',
          `The request names buffer ${buffer}, which this disk was not lent: use allocBuffer().`,
        );
      }
      done = this.handle(request, area.subarray(dataPos, dataPos + length));
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
    if (--this.outstanding === 0 && this.spinUs > 0) this.spin();
  }
}
