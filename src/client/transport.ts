import type { DiskError } from '../core/errors';
import type { FromWorker, Op, ReplyOf, RequestOf } from '../protocol/messages';

export interface CallOptions {
  /**
   * A write in a write-cache mode: it may be acknowledged as soon as it is
   * in shared memory that the worker takes in issue order (volatile memory,
   * like the worker's cache). An error the worker meets later is latched and
   * rejects the next flush or close instead. A transport without shared
   * memory acknowledges when the worker answers, as for any call.
   */
  ackOnPublish?: boolean;
}

/**
 * A read whose bytes stay where the transport put them until released:
 * a reader that consumes them in pieces copies them once, straight into
 * its own buffers, while later reads are already on their way.
 */
export interface HeldRead {
  /** The bytes once answered, valid until release() (in shared memory: copy them, don't keep the view). */
  readonly bytes: Promise<Uint8Array>;
  /** Frees the bytes' memory. Call once, whether or not they have come. */
  release(): void;
}

/**
 * How requests reach the disk worker: a shared-memory ring when the page
 * is cross-origin isolated, batched postMessage otherwise. Either way,
 * requests take effect in issue order.
 */
export interface Transport {
  readonly kind: 'shared-memory' | 'messages';
  /**
   * Sends a request. For a write, `data` is copied before call() returns;
   * for a read, `data` (if given) receives the result, and is what the
   * promise resolves with: no allocation per read.
   */
  call<O extends Op>(request: RequestOf<O>, data?: Uint8Array, opts?: CallOptions): Promise<ReplyOf<O>>;
  /**
   * call() for a write, without a request object (the hot path; absent: call()).
   * `ackOnPublish` as in CallOptions.
   */
  write?(offset: number, data: Uint8Array, fua: boolean, ackOnPublish: boolean): Promise<undefined>;
  /** call() for a read, without a request object (the hot path; absent: call()). */
  read?(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * A read of at most `maxHeld` bytes whose result stays in the
   * transport's memory until released (absent: reads resolve with a copy).
   */
  readHeld?(offset: number, length: number): HeldRead;
  /** The largest readHeld() length. */
  readonly maxHeld?: number;
  /**
   * Registers a buffer the worker was lent as number `id` (shared memory
   * only): reads into it and writes from it then move no bytes on the page.
   */
  lend?(buffer: SharedArrayBuffer, id: number): void;
  /** Every call so far has been answered (and none waits to be sent): what it did is in place in the worker. */
  idle?(): boolean;
  /** Handles a worker message; false if it was not for the transport. */
  handle(msg: FromWorker): boolean;
  /** Writes acknowledged at publish that the worker has not answered yet (what a power cut takes from the ring). */
  earlyAcksInFlight?(): number;
  /** Rejects everything pending and every later call (the worker is gone). */
  fail(err: DiskError): void;
}
