import type { BlockDevice } from '../core/block-device';
import { DiskError } from '../core/errors';
import { streamPieces } from '../images/source';
import { dataRuns, ZERO_GRAIN } from '../images/zeros';

/** Bytes read from the Blob and written at a time. */
const PIECE = 1 << 20;
/** Progress is posted at most this often (bytes): a message each MiB would cost more than it tells. */
const PROGRESS_EVERY = 8 << 20;

/**
 * Writes a raw image Blob into the disk from inside the worker: the Blob
 * (a handle: the bytes stay with the browser) is read in order through
 * one reused buffer and its data grains written straight to the device —
 * no copy into the page's ring, no hop per piece. All-zero grains are not
 * written (the disk stays thin). Each write is awaited before the buffer
 * is refilled; while the store writes, the browser keeps filling the
 * Blob's pipe, so reading and writing overlap.
 */
export async function fillFromBlob(dev: BlockDevice, blob: Blob, progress: (bytes: number) => void): Promise<void> {
  if (blob.size > dev.size) {
    throw new DiskError('EINVAL', `The image (${blob.size} bytes) is larger than the disk (${dev.size} bytes).`);
  }
  let at = 0;
  let reported = 0;
  for await (const bytes of streamPieces(blob.stream() as ReadableStream<Uint8Array>, PIECE)) {
    for (const [from, to] of dataRuns(at, bytes, ZERO_GRAIN)) await dev.write(at + from, bytes.subarray(from, to));
    at += bytes.length;
    if (at - reported >= PROGRESS_EVERY) {
      reported = at;
      progress(at);
    }
  }
  if (at !== blob.size) throw new DiskError('EIO', `The image ended at byte ${at}, before its ${blob.size} bytes.`);
  progress(at);
}
