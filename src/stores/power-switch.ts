import { DiskError } from '../core/errors';
import { type BlockStore, type Extent, ForwardingStore, type MaybePromise, statusOf } from '../core/store';

/** Whether the power is off: a shared flag in the worker, a plain object in tests. */
export interface PowerSwitch {
  readonly off: boolean;
}

/** The switch powerLoss() flips from the page: an Int32 in shared memory, non-zero once off. */
export function sharedPowerSwitch(flag: Int32Array): PowerSwitch {
  return {
    get off() {
      return Atomics.load(flag, 0) !== 0;
    },
  };
}

/**
 * The plug. Terminating a worker does not stop it at once: Chromium lets
 * the running task finish, and the messages already queued too (it forces
 * termination only after ~2 s). With a synchronous store a whole batch of
 * requests — a flush's write-back and sync, a close() marking the disk
 * clean — runs inside one task, so powerLoss() would land only after it.
 * So the page also sets a shared flag, and the worker's stores refuse every
 * operation once it is set: the power is off from the next store call on.
 */
export class PowerSwitchStore extends ForwardingStore {
  private readonly power: PowerSwitch;

  constructor(inner: BlockStore, power: PowerSwitch) {
    super(inner);
    this.power = power;
  }

  /** Same offsets, same bytes: the inner store's gap filling holds here too. */
  get mergeGap(): number | undefined {
    return this.inner.mergeGap;
  }

  override read(offset: number, dst: Uint8Array): MaybePromise {
    this.on();
    return super.read(offset, dst);
  }
  override write(offset: number, src: Uint8Array): MaybePromise {
    this.on();
    return super.write(offset, src);
  }
  override sync(): MaybePromise {
    this.on();
    return super.sync();
  }
  override discard(offset: number, length: number): MaybePromise {
    this.on();
    return super.discard(offset, length);
  }
  /** A pure pass-through: the inner store's answer is this one's. */
  override blockStatus(offset: number, length: number): MaybePromise<Extent[]> {
    this.on();
    return statusOf(this.inner, offset, length);
  }
  override close(): MaybePromise {
    this.on();
    return super.close();
  }

  private on(): void {
    if (this.power.off) throw new DiskError('ECLOSED', 'The disk lost power.');
  }
}
