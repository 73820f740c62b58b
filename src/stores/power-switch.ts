import { DiskError } from '../core/errors';
import type { BlockStore } from '../core/store';

/**
 * The plug. Terminating a worker does not stop it at once: Chromium lets
 * the running task finish, and the messages already queued too (it forces
 * termination only after ~2 s). With a synchronous store a whole batch of
 * requests — a flush's write-back and sync, a close() marking the disk
 * clean — runs inside one task, so powerLoss() would land only after it.
 * So the page also sets a shared flag, and the worker's stores refuse every
 * operation once it is set: the power is off from the next store call on.
 */
export class PowerSwitchStore implements BlockStore {
  private readonly inner: BlockStore;
  private readonly power: Int32Array;

  /** `power[0]` is 0 while the power is on. */
  constructor(inner: BlockStore, power: Int32Array) {
    this.inner = inner;
    this.power = power;
  }

  read(offset: number, dst: Uint8Array): void | Promise<void> {
    this.on();
    return this.inner.read(offset, dst);
  }
  write(offset: number, src: Uint8Array): void | Promise<void> {
    this.on();
    return this.inner.write(offset, src);
  }
  sync(): void | Promise<void> {
    this.on();
    return this.inner.sync();
  }
  size(): number | Promise<number> {
    this.on();
    return this.inner.size();
  }
  truncate(size: number): void | Promise<void> {
    this.on();
    return this.inner.truncate(size);
  }
  close(): void | Promise<void> {
    this.on();
    return this.inner.close();
  }

  private on(): void {
    if (Atomics.load(this.power, 0) !== 0) throw new DiskError('ECLOSED', 'The disk lost power.');
  }
}
