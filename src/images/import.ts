import type { Disk } from '../client/disk';
import { deleteDisk, listDisks } from '../client/manage';
import { openDisk } from '../client/open-disk';
import { DiskError } from '../core/errors';
import type { BackendChoice, CacheMode } from '../core/types';
import { checkName } from '../core/validate';
import { isQcow2 } from './qcow2-format';
import { qcow2DataRuns, readQcow2Header } from './qcow2-read';
import { type ByteSource, blobSource, urlSource } from './source';
import { spool } from './spool';
import { dataRuns, ZERO_GRAIN } from './zeros';

export type ImageFormat = 'raw' | 'qcow2';

export interface ImportProgress {
  /** Bytes of the virtual disk done so far. */
  bytes: number;
  /** The virtual disk's size. */
  total: number;
}

export interface ImportDiskOptions {
  /** The new disk's name: no disk of that name may exist. */
  name: string;
  /**
   * A Blob or File, a stream of the image's bytes, or a URL (read with
   * Range requests when the server answers them). A stream, or a URL
   * without Range support, is kept in a temporary OPFS file while it is
   * imported (a Blob where the page cannot write OPFS files): memory stays bounded.
   */
  source: Blob | ReadableStream<Uint8Array> | string;
  /** Default 'auto': qcow2 when the image starts with the qcow2 magic, raw otherwise. */
  format?: ImageFormat | 'auto';
  cache?: CacheMode;
  backend?: BackendChoice;
  onProgress?: (progress: ImportProgress) => void;
  /** Aborting stops the import: the half-made disk is deleted and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Bytes of the image read and written at a time, and writes in flight at most: memory stays bounded. */
const PIECE = 1 << 20;
const IN_FLIGHT = 8;

/**
 * Makes a new disk from an image, streamed: memory stays bounded whatever
 * the image's size, and all-zero clusters are not written (the disk stays
 * thin). A failed or aborted import leaves no disk behind.
 */
export async function importDisk(opts: ImportDiskOptions): Promise<Disk> {
  if (typeof opts !== 'object' || opts === null) {
    throw new DiskError('EINVAL', 'importDisk needs an options object: { name, source }.');
  }
  const name = checkName(opts.name);
  const format = opts.format ?? 'auto';
  if (format !== 'raw' && format !== 'qcow2' && format !== 'auto') {
    throw new DiskError('EINVAL', `Image format ${String(format)} is invalid: give 'raw', 'qcow2' or 'auto'.`);
  }
  const { signal } = opts;
  signal?.throwIfAborted();
  if ((await listDisks()).some((d) => d.name === name)) {
    throw new DiskError('EINVAL', `A disk named "${name}" exists: delete it first, or import under another name.`);
  }
  const source = await toByteSource(opts.source, signal);
  try {
    return await importFrom(source.src, name, format, opts);
  } finally {
    await source.done();
  }
}

async function importFrom(
  src: ByteSource,
  name: string,
  format: ImageFormat | 'auto',
  opts: ImportDiskOptions,
): Promise<Disk> {
  const { signal } = opts;
  if (src.size === 0) throw new DiskError('EINVAL', 'The image is empty: there is nothing to import.');
  const head = await src.read(0, 4);
  const qcow2 = format === 'qcow2' || (format === 'auto' && isQcow2(head));
  const header = qcow2 ? await readQcow2Header(src) : undefined;
  const virtual = header ? header.size : src.size;
  if (virtual === 0) throw new DiskError('EINVAL', 'The image describes an empty disk: there is nothing to import.');
  const size = Math.ceil(virtual / 512) * 512;

  const disk = await openDisk({ name, size, cache: opts.cache, backend: opts.backend });
  let done = 0;
  const progress = (bytes: number) => {
    done = bytes;
    opts.onProgress?.({ bytes, total: virtual });
  };
  try {
    const writer = new Writes(disk, signal);
    if (header) {
      for await (const run of qcow2DataRuns(src, header)) {
        signal?.throwIfAborted();
        await writer.nonZero(run.offset, run.bytes);
        progress(run.offset + run.bytes.length);
      }
    } else if (src.blob) {
      // The disk's worker reads the Blob and writes it: the bytes never pass
      // through this page (no copy into the ring, no hop per piece). An
      // abort pulls the plug, which ends the fill.
      const stop = () => disk.powerLoss();
      signal?.addEventListener('abort', stop);
      try {
        await disk.fillFrom(src.blob, progress);
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    } else {
      // In order, through one reused buffer: fresh memory is slow to touch.
      let at = 0;
      for await (const bytes of src.pieces(PIECE)) {
        signal?.throwIfAborted();
        await writer.nonZero(at, bytes);
        at += bytes.length;
        progress(at);
      }
      if (at < virtual)
        throw new DiskError('EIO', `The image ended at byte ${at}, before its announced ${virtual} bytes.`);
    }
    await writer.settle();
    signal?.throwIfAborted();
    await disk.flush();
    if (done !== virtual) progress(virtual);
    return disk;
  } catch (err) {
    if (!disk.closed) disk.powerLoss();
    await removeSoon(name);
    throw signal?.aborted ? signal.reason : err;
  }
}

/** A disk's writes, a bounded number in flight; all-zero grains skipped. */
class Writes {
  private readonly inFlight = new Set<Promise<void>>();
  private failed: unknown;
  constructor(
    private readonly disk: Disk,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Writes the grains of `bytes` (at disk offset `offset`) that hold data. */
  async nonZero(offset: number, bytes: Uint8Array): Promise<void> {
    for (const [from, to] of dataRuns(offset, bytes, ZERO_GRAIN))
      await this.write(offset + from, bytes.subarray(from, to));
  }

  private async write(offset: number, data: Uint8Array): Promise<void> {
    while (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failed) throw this.failed;
    this.signal?.throwIfAborted();
    // write() copies the data at once: the source's buffer may be reused.
    const p = this.disk.write(offset, data).then(
      () => {
        this.inFlight.delete(p);
      },
      (err: unknown) => {
        this.inFlight.delete(p);
        this.failed ??= err;
      },
    );
    this.inFlight.add(p);
  }

  async settle(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failed) throw this.failed;
  }
}

/** Deletes the half-made disk, waiting a little for its killed worker's lock. */
async function removeSoon(name: string): Promise<void> {
  for (let tries = 0; ; tries++) {
    try {
      await deleteDisk(name);
      return;
    } catch (err) {
      if (tries >= 4) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * A random-access view of the source, and what to do once the import is
 * over. A Blob is read as it is; a URL with Range requests; a stream (or a
 * URL whose server ignores Range) is spooled to a file in OPFS first
 * (memory stays bounded) and that file removed afterwards.
 */
async function toByteSource(
  source: ImportDiskOptions['source'],
  signal?: AbortSignal,
): Promise<{ src: ByteSource; done(): Promise<void> }> {
  const none = async () => undefined;
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { src: blobSource(source), done: none };
  let stream: ReadableStream<Uint8Array>;
  if (typeof source === 'string') {
    try {
      return { src: await urlSource(source, signal), done: none };
    } catch (err) {
      if (!(err instanceof DiskError) || !/Range/.test(err.message)) throw err;
      const r = await fetch(source, { signal });
      if (!r.ok || !r.body) throw new DiskError('EIO', `Cannot read the image at ${source}: status ${r.status}.`);
      stream = r.body;
    }
  } else if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) {
    stream = source;
  } else {
    throw new DiskError(
      'EINVAL',
      'The image source must be a Blob or File, a ReadableStream of bytes, or a URL string.',
    );
  }
  const spooled = await spool(stream, signal);
  return { src: blobSource(spooled.blob), done: spooled.remove };
}
