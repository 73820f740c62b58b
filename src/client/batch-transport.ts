import { type DiskError, errorFromData } from '../core/errors';
import type {
  Envelope,
  FromWorker,
  Op,
  Reply,
  ReplyOf,
  Request,
  RequestOf,
  Result,
  ToWorker,
} from '../protocol/messages';
import type { Transport } from './transport';

/** Smallest payload buffer: small writes share one, reused from the pool. */
const MIN_PAYLOAD = 64 * 1024;

interface Pending {
  resolve(value: Reply | undefined): void;
  reject(err: DiskError): void;
}

/**
 * postMessage transport with batching: every request issued in the same
 * turn of the event loop goes in one message, write payloads packed into
 * one transferred buffer that the worker hands back for reuse (fresh
 * memory is slow on this platform; a reused buffer is not).
 */
export class BatchTransport implements Transport {
  readonly kind = 'messages';
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  /** Destinations of reads issued with one. */
  private readonly into = new Map<number, Uint8Array>();
  private nextId = 1;
  private outbox: Envelope[] = [];
  /** The batch's write payload, filled as writes are issued. */
  private outBuf: Uint8Array | undefined;
  private outBytes = 0;
  private scheduled = false;
  private pool: ArrayBuffer[] = [];
  private dead: DiskError | undefined;

  constructor(worker: Worker) {
    this.worker = worker;
  }

  /** Handles a worker message; returns false if it was not for the transport. */
  handle(msg: FromWorker): boolean {
    if (msg.type !== 'results') return false;
    if (msg.payload && this.pool.length < 4) this.pool.push(msg.payload);
    for (const r of msg.results) this.settle(r);
    return true;
  }

  /**
   * Queues a request; `data` (for writes) is copied at once, so the caller
   * may reuse it. Every call is answered by the worker (no ackOnPublish:
   * there is no shared memory to hold a write for it).
   */
  call<O extends Op>(request: RequestOf<O>, data?: Uint8Array): Promise<ReplyOf<O>> {
    // The reply's type follows the request's op: the worker answers per Operations.
    return this.queue(request as Request, data) as Promise<ReplyOf<O>>;
  }

  private queue(req: Request, data?: Uint8Array): Promise<Reply | undefined> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const env = { ...req, id } as Envelope;
    if (env.op === 'read' && data) this.into.set(id, data);
    if (data && env.op === 'write') {
      env.at = this.outBytes;
      if (data.length > 0) this.stage(data);
    }
    this.outbox.push(env);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.send());
    }
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Rejects everything pending and refuses further calls (worker gone). */
  fail(err: DiskError): void {
    this.dead ??= err;
    this.outbox = [];
    this.outBuf = undefined;
    this.outBytes = 0;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.into.clear();
  }

  private send(): void {
    this.scheduled = false;
    if (this.dead || this.outbox.length === 0) return;
    const payload = this.outBuf ? (this.outBuf.buffer as ArrayBuffer) : null;
    const msg: ToWorker = { type: 'batch', requests: this.outbox, payload };
    this.outbox = [];
    this.outBuf = undefined;
    this.outBytes = 0;
    this.worker.postMessage(msg, payload ? [payload] : []);
  }

  /**
   * Copies write data into the batch payload now, not when the batch is
   * sent: the caller may reuse its buffer as soon as write() returns.
   * The payload grows by doubling, from pooled buffers where possible.
   */
  private stage(data: Uint8Array): void {
    const need = this.outBytes + data.length;
    if (!this.outBuf || this.outBuf.length < need) {
      const old = this.outBuf;
      this.outBuf = new Uint8Array(this.takeBuffer(Math.max(need, 2 * (old?.length ?? 0), MIN_PAYLOAD)));
      if (old) {
        this.outBuf.set(old.subarray(0, this.outBytes));
        if (this.pool.length < 4) this.pool.push(old.buffer as ArrayBuffer);
      }
    }
    this.outBuf.set(data, this.outBytes);
    this.outBytes = need;
  }

  private takeBuffer(bytes: number): ArrayBuffer {
    const i = this.pool.findIndex((b) => b.byteLength >= bytes && b.byteLength <= bytes * 4);
    if (i >= 0) return this.pool.splice(i, 1)[0];
    return new ArrayBuffer(bytes);
  }

  private settle(r: Result): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    const into = this.into.get(r.id);
    if (into) {
      this.into.delete(r.id);
      if (r.ok) {
        into.set(r.value as Uint8Array);
        p.resolve(into);
        return;
      }
    }
    if (r.ok) p.resolve(r.value);
    else p.reject(errorFromData(r.error));
  }
}
