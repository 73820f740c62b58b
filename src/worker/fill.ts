import type { BlockDevice } from '../core/block-device';
import { DiskError } from '../core/errors';
import { streamPieces } from '../images/source';
import { dataRuns, ZERO_GRAIN } from '../images/zeros';

/** Bytes read from the Blob and written at a time. */
const PIECE = 1 << 20;
/**
 * Pieces written and not yet complete while the next is read: reading
 * overlaps writing, and a thin disk's allocating writes share their map
 * commits. Memory: IN_FLIGHT + 1 pieces.
 */
const IN_FLIGHT = 4;
/** Progress is posted at most this often (bytes): a message each MiB would cost more than it tells. */
const PROGRESS_EVERY = 8 << 20;

/**
 * Writes a raw image Blob into the disk from inside the worker: the Blob
 * (a handle: the bytes stay with the browser) is read in order into a few
 * reused buffers and its data grains written straight to the device — no
 * copy into the page's ring, no hop per piece. All-zero grains are not
 * written (the disk stays thin). A buffer is refilled once its writes have
 * completed; up to IN_FLIGHT pieces are being written while the next is read.
 */
export async function fillFromBlob(dev: BlockDevice, blob: Blob, progress: (bytes: number) => void): Promise<void> {
  if (blob.size > dev.size) {
    throw new DiskError('EINVAL', `The image (${blob.size} bytes) is larger than the disk (${dev.size} bytes).`);
  }
  const buffers = new BufferPool(IN_FLIGHT + 1, PIECE);
  const writing = new Set<Promise<void>>();
  let failed: { error: unknown } | undefined;
  let at = 0;
  let written = 0;
  let reported = 0;
  for await (const bytes of streamPieces(blob.stream() as ReadableStream<Uint8Array>, PIECE, buffers.take)) {
    if (failed) break;
    const end = at + bytes.length;
    const writes = [...dataRuns(at, bytes, ZERO_GRAIN)].map(([from, to]) =>
      dev.write(at + from, bytes.subarray(from, to)),
    );
    const done = Promise.all(writes).then(
      () => {
        written = Math.max(written, end);
        if (written - reported >= PROGRESS_EVERY) {
          reported = written;
          progress(written);
        }
      },
      (error: unknown) => {
        failed ??= { error };
      },
    );
    const settled = done.then(() => {
      writing.delete(settled);
      buffers.give(bytes.buffer);
    });
    writing.add(settled);
    at = end;
  }
  await Promise.all(writing);
  if (failed) throw failed.error;
  if (at !== blob.size) throw new DiskError('EIO', `The image ended at byte ${at}, before its ${blob.size} bytes.`);
  progress(at);
}

/** `count` buffers of `size` bytes, taken and given back; take() waits while all are in use. */
class BufferPool {
  private readonly free: ArrayBuffer[];
  private readonly waiting: ((buffer: ArrayBuffer) => void)[] = [];

  constructor(count: number, size: number) {
    this.free = Array.from({ length: count }, () => new ArrayBuffer(size));
  }

  readonly take = (): ArrayBuffer | Promise<ArrayBuffer> =>
    this.free.pop() ?? new Promise<ArrayBuffer>((resolve) => this.waiting.push(resolve));

  give(buffer: ArrayBuffer): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(buffer);
    else this.free.push(buffer);
  }
}
