import type { DiskError } from '../core/errors';
import type { FromWorker, Op, ReplyOf, RequestOf } from '../protocol/messages';

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
  call<O extends Op>(request: RequestOf<O>, data?: Uint8Array): Promise<ReplyOf<O>>;
  /** Handles a worker message; false if it was not for the transport. */
  handle(msg: FromWorker): boolean;
  /** Rejects everything pending and every later call (the worker is gone). */
  fail(err: DiskError): void;
}
