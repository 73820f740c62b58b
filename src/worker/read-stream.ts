import type { BlockDevice } from '../core/block-device';
import { DiskError } from '../core/errors';
import { nextTask } from '../core/next-task';
import { checkRange } from '../core/validate';
import { StatusCursor } from '../images/status-cursor';
import {
  READ_STREAM_SLOT,
  READ_STREAM_SLOTS,
  type ReadStreamRing,
  RS,
  RS_STATE,
  readStreamRing,
  slotView,
} from '../protocol/read-stream';
import { waitChange } from '../protocol/ring';

/**
 * How long the worker watches for a free slot before it sleeps: the page
 * frees one every ~30 µs while it copies, and a wake-up costs far more.
 */
const SPIN_US = 200;
/**
 * Then it sleeps blocked this long at most (a futex wake-up is quick), and
 * after that asynchronously: a reader that stopped must not stop the
 * worker's other clients.
 */
const BLOCK_MS = 2;
/**
 * Slots read between two yields to the worker's other tasks (the ring
 * server's wake-ups): while the page keeps up, the stream never waits
 * asynchronously, and other clients' requests must not wait for its end.
 */
const YIELD_EVERY = 64;

/**
 * Reads [offset, offset + length) of the device in order into a read
 * stream's ring (protocol/read-stream.ts) as fast as the page frees its
 * slots. Slots the block status says read as zeros are marked, not read.
 * A write or discard carried out while it runs — from any client — makes
 * it fail with EBUSY: what it gave would mix old and new content. Stops
 * early, without error, when the page cancels. Either way the ring's
 * state says 'ended' (or 'cancelled') when it returns.
 */
export async function pushReads(
  dev: BlockDevice,
  sab: SharedArrayBuffer,
  offset: number,
  length: number,
): Promise<void> {
  const ring = readStreamRing(sab);
  const { ctrl } = ring;
  try {
    checkRange(offset, length, dev.size, 'readStream');
    const changes = dev.changes;
    const status = new StatusCursor(dev);
    const slots = Math.ceil(length / READ_STREAM_SLOT);
    for (let k = 0; k < slots; k++) {
      if (k > 0 && k % YIELD_EVERY === 0) await new Promise<void>((resolve) => nextTask(resolve));
      if (!(await room(ring, k))) return;
      const at = offset + k * READ_STREAM_SLOT;
      const n = Math.min(READ_STREAM_SLOT, offset + length - at);
      const run = await status.at(at);
      const zero = run.state !== 'data' && run.offset + run.length >= at + n;
      if (!zero) await dev.readInto(at, slotView(ring, k, n));
      if (dev.changes !== changes) {
        throw new DiskError(
          'EBUSY',
          'The disk was written while it was being read out as one image: the image would not be consistent. Stop the writers and export again.',
        );
      }
      ctrl[RS.zero + (k % READ_STREAM_SLOTS)] = zero ? 1 : 0;
      Atomics.store(ctrl, RS.produced, k + 1);
      Atomics.notify(ctrl, RS.produced);
    }
  } finally {
    Atomics.compareExchange(ctrl, RS.state, RS_STATE.running, RS_STATE.ended);
    Atomics.notify(ctrl, RS.produced);
  }
}

/** Waits until slot `k` has room (true), or the page cancelled the stream (false). */
async function room({ ctrl }: ReadStreamRing, k: number): Promise<boolean> {
  for (;;) {
    if (Atomics.load(ctrl, RS.state) === RS_STATE.cancelled) return false;
    const consumed = Atomics.load(ctrl, RS.consumed);
    if (k - consumed < READ_STREAM_SLOTS) return true;
    const until = performance.now() + SPIN_US / 1000;
    while (Atomics.load(ctrl, RS.consumed) === consumed && performance.now() < until) {
      // spin: the page is copying a slot out
    }
    if (Atomics.load(ctrl, RS.consumed) !== consumed) continue;
    if (Atomics.wait(ctrl, RS.consumed, consumed, BLOCK_MS) === 'timed-out') {
      await waitChange(ctrl, RS.consumed, consumed);
    }
  }
}
