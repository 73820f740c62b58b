/**
 * Where openDisk gets its disk worker. Starting a module worker costs
 * ~50–80 ms here (PLATFORM.md), most of it before the worker runs a line
 * of ours. A page that closes a disk, or pulls its plug, is likely to open
 * one again soon (the reopen after a power loss, the next import), so one
 * fresh worker is started then and kept idle: the next openDisk takes it
 * and skips the wait. A spare has never opened a disk — nothing carries
 * over from one disk to the next — and is ended after SPARE_IDLE_MS unused.
 */

/** How long a spare worker waits for an openDisk before it is ended. */
export const SPARE_IDLE_MS = 30_000;

interface Spare {
  worker: Worker;
  timer: ReturnType<typeof setTimeout>;
}

let spare: Spare | undefined;

function createWorker(): Worker {
  return new Worker(new URL('../worker/disk-worker.ts', import.meta.url), { type: 'module', name: 'webdisk' });
}

/** A worker for a disk about to open: the spare if one is ready, else a new one. */
export function takeWorker(): Worker {
  const s = spare;
  spare = undefined;
  if (!s) return createWorker();
  clearTimeout(s.timer);
  // Its load error, if one comes after this, goes to openDisk's handler.
  s.worker.onerror = null;
  return s.worker;
}

/** Starts a spare worker for the next openDisk, if none is waiting. */
export function keepSpare(): void {
  if (spare || typeof Worker === 'undefined') return;
  const worker = createWorker();
  const drop = () => {
    if (spare?.worker !== worker) return;
    clearTimeout(spare.timer);
    spare = undefined;
    worker.terminate();
  };
  // A spare that failed to load is dropped: the next openDisk starts its own and reports why.
  worker.onerror = (ev: ErrorEvent) => {
    ev.preventDefault?.();
    drop();
  };
  spare = { worker, timer: setTimeout(drop, SPARE_IDLE_MS) };
}
