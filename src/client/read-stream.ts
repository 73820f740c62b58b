import { DiskError } from '../core/errors';
import {
  READ_STREAM_SLOT,
  READ_STREAM_SLOTS,
  type ReadStreamRing,
  RS,
  RS_STATE,
  slotView,
} from '../protocol/read-stream';
import { waitChange } from '../protocol/ring';

/**
 * How long the page watches for the worker's next slot before it sleeps:
 * the worker publishes one every ~25 µs while it reads, and a wake-up here
 * (Atomics.waitAsync resumes as a task) took up to ~1 ms.
 */
const SPIN_US = 200;

/**
 * The page's end of a read stream (protocol/read-stream.ts): bytes of a
 * range of the disk, in order, copied out of the ring the worker fills.
 * `done` settles when the worker has stopped using the ring (rejecting
 * with its error, or when the disk went away).
 */
export class ReadStream {
  /** Slots copied out (and freed). */
  private slot = 0;
  /** Bytes of the current slot copied out. */
  private inSlot = 0;
  private readonly slots: number;

  constructor(
    private readonly ring: ReadStreamRing,
    private readonly length: number,
    private readonly done: Promise<void>,
  ) {
    this.slots = Math.ceil(length / READ_STREAM_SLOT);
    done.catch(() => undefined); // awaited where it matters
  }

  /** Copies the next bytes into `into`: resolves with how many (0: the range has ended). */
  async next(into: Uint8Array): Promise<number> {
    const { ctrl } = this.ring;
    let n = 0;
    while (n < into.length && this.slot < this.slots) {
      const k = this.slot;
      if (Atomics.load(ctrl, RS.produced) <= k) {
        if (n > 0) break; // give what is here
        await this.arrival(k);
        continue;
      }
      const slotLength = Math.min(READ_STREAM_SLOT, this.length - k * READ_STREAM_SLOT);
      const m = Math.min(into.length - n, slotLength - this.inSlot);
      if (ctrl[RS.zero + (k % READ_STREAM_SLOTS)]) into.fill(0, n, n + m);
      else into.set(slotView(this.ring, k).subarray(this.inSlot, this.inSlot + m), n);
      n += m;
      this.inSlot += m;
      if (this.inSlot === slotLength) {
        this.inSlot = 0;
        this.slot++;
        Atomics.store(ctrl, RS.consumed, this.slot);
        Atomics.notify(ctrl, RS.consumed);
      }
    }
    // The last bytes: the worker's answer says whether it ended well (e.g. no write came).
    if (n === 0) await this.done;
    return n;
  }

  /** Stops the worker at its next slot (the stream is not read further). */
  cancel(): void {
    Atomics.compareExchange(this.ring.ctrl, RS.state, RS_STATE.running, RS_STATE.cancelled);
    Atomics.notify(this.ring.ctrl, RS.consumed);
  }

  /** Waits for slot `k` to be published; throws the worker's error if it stopped first. */
  private async arrival(k: number): Promise<void> {
    const { ctrl } = this.ring;
    const until = performance.now() + SPIN_US / 1000;
    let seen = Atomics.load(ctrl, RS.produced);
    while (seen <= k && Atomics.load(ctrl, RS.state) === RS_STATE.running && performance.now() < until) {
      seen = Atomics.load(ctrl, RS.produced);
    }
    if (seen > k) return;
    if (Atomics.load(ctrl, RS.state) !== RS_STATE.running) {
      await this.done;
      if (Atomics.load(ctrl, RS.produced) > k) return;
      throw new DiskError('EIO', `The disk worker ended a read stream early, at slot ${k} of ${this.slots}.`);
    }
    // The worker's notify wakes this; `done` rejects if the worker goes away.
    await Promise.race([waitChange(ctrl, RS.produced, seen), this.done]);
  }
}
