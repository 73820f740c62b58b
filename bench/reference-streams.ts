import { MiB } from './config';

/**
 * Reference byte streams the export is measured beside (bench.imageIo).
 *
 * The handoff: bytes handed from a worker to the page through shared
 * memory, with no disk behind them — a cost any export from a disk worker
 * pays too. The worker writes each 512 KiB slot of a 2 MiB ring (as a read
 * from OPFS would) as soon as the page has freed it; the page copies slots
 * into the reader's buffer. Both sides spin while the other is busy, so no
 * wake-up is measured: only what it costs to move the bytes from one
 * thread to the other. (Measured here: two independent copies, one on
 * each thread, run side by side at full speed; this handoff does not.) A
 * reference, not a strict floor: a warm export has beaten it.
 */
const SLOT = 512 * 1024;
const SLOTS = 4;
/** The two counters on cache lines of their own: each side spins reading the other's. */
const PRODUCED = 0;
const CONSUMED = 16;
/** A side that waits longer than this for the other has lost it: fail, do not hang the bench. */
const STUCK_MS = 10_000;

function spinUntil(ready: () => boolean, what: string): void {
  const deadline = performance.now() + STUCK_MS;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`handoff: waited ${STUCK_MS} ms for ${what}`);
  }
}

export function handoffBuffer(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(128 + SLOT * SLOTS);
  new Uint8Array(sab).fill(1); // touched: fresh memory is slow here, and no part of what is measured
  new Int32Array(sab, 0, 32).fill(0);
  return sab;
}

const views = (sab: SharedArrayBuffer) => ({ ctrl: new Int32Array(sab, 0, 32), data: new Uint8Array(sab, 128) });

/** The worker's side: `size` bytes into the ring, in order, slot by slot. */
export function feedHandoff(sab: SharedArrayBuffer, size: number): void {
  const { ctrl, data } = views(sab);
  for (let k = 0; k * SLOT < size; k++) {
    spinUntil(() => k - Atomics.load(ctrl, CONSUMED) < SLOTS, 'the page to free a slot');
    const at = (k % SLOTS) * SLOT;
    data.fill(k & 0xff, at, at + Math.min(SLOT, size - k * SLOT));
    Atomics.store(ctrl, PRODUCED, k + 1);
  }
}

/**
 * A byte stream of `size` bytes, as an export gives them: `fill(view, at)`
 * puts the bytes from `at` into the reader's buffer and says how many.
 */
function sizedByteStream(size: number, fill: (view: Uint8Array, at: number) => number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type: 'bytes',
    autoAllocateChunkSize: MiB,
    pull(controller) {
      const req = controller.byobRequest as ReadableStreamBYOBRequest;
      const view = req.view as Uint8Array;
      if (at >= size) {
        controller.close();
        req.respond(0);
        return;
      }
      const n = fill(view, at);
      at += n;
      req.respond(n);
    },
  });
}

/**
 * The floor of any export through a stream: `size` bytes, each 1 MiB
 * copied from (already touched) shared memory into the reader's buffer —
 * the one copy an export from a worker needs — with no disk and no worker
 * behind it.
 */
export function sharedMemoryStream(size: number): ReadableStream<Uint8Array> {
  const shared = new Uint8Array(new SharedArrayBuffer(8 * MiB)).fill(1);
  return sizedByteStream(size, (view, at) => {
    const n = Math.min(view.byteLength, MiB, size - at);
    const from = at % shared.length;
    view.set(shared.subarray(from, from + n));
    return n;
  });
}

/** The page's side of the handoff: the ring's bytes, slot by slot. */
export function handoffStream(sab: SharedArrayBuffer, size: number): ReadableStream<Uint8Array> {
  const { ctrl, data } = views(sab);
  let slot = 0;
  let inSlot = 0;
  return sizedByteStream(size, (view, at) => {
    let n = 0;
    while (n < view.byteLength && at + n < size) {
      spinUntil(() => Atomics.load(ctrl, PRODUCED) > slot, 'the worker to fill a slot');
      const length = Math.min(SLOT, size - slot * SLOT);
      const m = Math.min(view.byteLength - n, length - inSlot);
      const from = (slot % SLOTS) * SLOT + inSlot;
      view.set(data.subarray(from, from + m), n);
      n += m;
      inSlot += m;
      if (inSlot === length) {
        inSlot = 0;
        slot++;
        Atomics.store(ctrl, CONSUMED, slot);
      }
    }
    return n;
  });
}
