import { DiskError } from '../core/errors';

/** Random access to an image: a Blob/File, bytes in memory, or a URL read with Range requests. */
export interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer only at the end). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * The whole source in order, `piece` bytes at a time (the last shorter),
   * each in the same reused buffer: valid until the next is asked for.
   */
  pieces(piece: number): AsyncGenerator<Uint8Array>;
  /** The Blob behind the source, if it is one: a disk worker can read it itself. */
  readonly blob?: Blob;
}

/** Pieces by read(): a source without a faster way in order. */
async function* readPieces(src: Pick<ByteSource, 'size' | 'read'>, piece: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < src.size; at += piece) {
    const bytes = await src.read(at, Math.min(piece, src.size - at));
    if (bytes.length === 0) return;
    yield bytes;
  }
}

/**
 * A byte stream's content in pieces: with a BYOB reader where the stream
 * is a byte stream, else copied from its chunks. Each piece is read into
 * a buffer of `piece` bytes from `take` (a pool, so several pieces can be
 * in use at once: the caller gives each piece's buffer back when done with
 * it); without `take`, into one reused buffer, each piece valid until the
 * next is asked for.
 */
export async function* streamPieces(
  stream: ReadableStream<Uint8Array>,
  piece: number,
  take?: () => ArrayBuffer | Promise<ArrayBuffer>,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let reused: ArrayBuffer | undefined;
  const next = async (): Promise<ArrayBuffer> => {
    if (take) return take();
    reused ??= new ArrayBuffer(piece);
    return reused;
  };
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: 'byob' });
  } catch {
    byob = undefined;
  }
  if (byob) {
    try {
      for (;;) {
        // A BYOB read hands the buffer back as a new one (the old is detached): the piece lives in that.
        let buf = await next();
        let filled = 0;
        let ended = false;
        while (filled < piece) {
          const { done, value } = await byob.read(new Uint8Array(buf, filled, piece - filled));
          if (value) buf = value.buffer as ArrayBuffer;
          if (done) {
            ended = true;
            break;
          }
          filled += value.byteLength;
        }
        if (!take) reused = buf;
        if (filled > 0) yield new Uint8Array(buf, 0, filled);
        if (ended || filled < piece) return;
      }
    } finally {
      byob.releaseLock();
    }
  }
  const reader = stream.getReader();
  let buf: Uint8Array<ArrayBuffer> | undefined;
  let filled = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let at = 0; at < value.length; ) {
        buf ??= new Uint8Array(await next());
        const n = Math.min(piece - filled, value.length - at);
        buf.set(value.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === piece) {
          yield buf;
          buf = undefined;
          filled = 0;
        }
      }
    }
    if (buf && filled > 0) yield buf.subarray(0, filled);
  } finally {
    reader.releaseLock();
  }
}

export function blobSource(blob: Blob): ByteSource {
  return {
    blob,
    size: blob.size,
    pieces: (piece) => streamPieces(blob.stream(), piece),
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, Math.min(blob.size, offset + length)).arrayBuffer());
    },
  };
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async *pieces(piece) {
      for (let at = 0; at < bytes.length; at += piece) yield bytes.subarray(at, at + piece);
    },
    async read(offset, length) {
      return bytes.subarray(offset, Math.min(bytes.length, offset + length));
    },
  };
}

/** A URL whose server answers Range requests (its length from a HEAD, or the first range's Content-Range). */
export async function urlSource(url: string, signal?: AbortSignal): Promise<ByteSource> {
  const fail = (why: string) => new DiskError('EIO', `Cannot read the image at ${url}: ${why}.`);
  const probe = await fetch(url, { headers: { Range: 'bytes=0-0' }, signal }).catch((err: Error) => {
    throw fail(err.message);
  });
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw fail(probe.ok ? 'the server does not answer Range requests (status 200, not 206)' : `status ${probe.status}`);
  }
  await probe.arrayBuffer();
  const total = Number(/\/(\d+)$/.exec(probe.headers.get('Content-Range') ?? '')?.[1]);
  if (!Number.isSafeInteger(total)) throw fail('no length in its Content-Range');
  const source: ByteSource = {
    size: total,
    pieces: (piece) => readPieces(source, piece),
    async read(offset, length) {
      const end = Math.min(total, offset + length);
      if (end <= offset) return new Uint8Array(0);
      const r = await fetch(url, { headers: { Range: `bytes=${offset}-${end - 1}` }, signal }).catch((err: Error) => {
        throw fail(err.message);
      });
      if (r.status !== 206) throw fail(`status ${r.status} for bytes ${offset}-${end - 1}`);
      return new Uint8Array(await r.arrayBuffer());
    },
  };
  return source;
}
