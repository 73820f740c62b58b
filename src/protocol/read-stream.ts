/**
 * A read stream's shared memory: the worker reads a range of the disk in
 * order into a small ring of slots and the page copies them out, with no
 * request per piece (a raw export's path). Measured here (PLATFORM.md's
 * machine): requests for each MiB cost the export half its speed in
 * wake-ups; a ring the worker fills ahead on its own, both sides spinning
 * briefly before they sleep, reads 256 MiB about twice as fast.
 *
 * Layout: an Int32 control block, then SLOTS slots of SLOT bytes. Slot k
 * of the stream holds bytes [offset + k·SLOT, …) of the range, in ring
 * position k mod SLOTS. The worker publishes slots (`produced`), the page
 * frees them (`consumed`); each side waits on the other's counter.
 */
export const READ_STREAM_SLOT = 512 * 1024;
/** Four slots (2 MiB): the ring stays in the caches; more measured slower here. */
export const READ_STREAM_SLOTS = 4;

export const RS = {
  /** Slots published by the worker. */
  produced: 0,
  /** Slots the page has copied out (their room is the worker's again). */
  consumed: 1,
  /** RS_STATE: how the stream stands. */
  state: 2,
  /** Per slot (from here, SLOTS entries): 1 if it reads as zeros and was not written. */
  zero: 4,
} as const;

export const RS_STATE = {
  running: 0,
  /** The worker stopped: every slot is published, or it failed (its done message says which). */
  ended: 1,
  /** The page gave up on the stream: the worker stops at its next slot. */
  cancelled: 2,
} as const;

const CONTROL_BYTES = 64;

/** The two views of a read stream's memory. */
export interface ReadStreamRing {
  readonly ctrl: Int32Array;
  readonly data: Uint8Array;
}

export function readStreamBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES + READ_STREAM_SLOT * READ_STREAM_SLOTS);
}

export function readStreamRing(sab: SharedArrayBuffer): ReadStreamRing {
  return { ctrl: new Int32Array(sab, 0, CONTROL_BYTES / 4), data: new Uint8Array(sab, CONTROL_BYTES) };
}

/** Ready for a new stream: counters and state back to zero. */
export function resetReadStream(ring: ReadStreamRing): void {
  ring.ctrl.fill(0);
}

/** Where slot `k` (counted from the stream's start) lives in the ring. */
export function slotView(ring: ReadStreamRing, k: number, length = READ_STREAM_SLOT): Uint8Array {
  const at = (k % READ_STREAM_SLOTS) * READ_STREAM_SLOT;
  return ring.data.subarray(at, at + length);
}
