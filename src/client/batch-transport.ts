import { type DiskError, errorFromData } from '../core/errors';
import type { Envelope, FromWorker, Request, Result, ToWorker } from '../protocol/messages';

interface Pending {
  resolve(value: unknown): void;
  reject(err: DiskError): void;
}

/**
 * postMessage transport with batching: every request issued in the same
 * turn of the event loop goes in one message, write payloads packed into
 * one transferred buffer that the worker hands back for reuse (fresh
 * memory is slow on this platform; a reused buffer is not).
 */
export class BatchTransport {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private outbox: Envelope[] = [];
  private outData: Uint8Array[] = [];
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

  /** Queues a request; `data` (for writes) is copied at once, so the caller may reuse it. */
  call(req: Request, data?: Uint8Array): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const env = { ...req, id } as Envelope;
    if (data && env.op === 'write') {
      env.at = this.outBytes;
      this.outData.push(data);
      this.outBytes += data.length;
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
    this.outData = [];
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private send(): void {
    this.scheduled = false;
    if (this.dead || this.outbox.length === 0) return;
    let payload: ArrayBuffer | null = null;
    if (this.outBytes > 0) {
      payload = this.takeBuffer(this.outBytes);
      const bytes = new Uint8Array(payload);
      let at = 0;
      for (const d of this.outData) {
        bytes.set(d, at);
        at += d.length;
      }
    }
    const msg: ToWorker = { type: 'batch', requests: this.outbox, payload };
    this.outbox = [];
    this.outData = [];
    this.outBytes = 0;
    this.worker.postMessage(msg, payload ? [payload] : []);
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
    if (r.ok) p.resolve(r.value);
    else p.reject(errorFromData(r.error));
  }
}
