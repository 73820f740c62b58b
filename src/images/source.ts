import { DiskError } from '../core/errors';

/** Random access to an image: a Blob/File, bytes in memory, or a URL read with Range requests. */
export interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer only at the end). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, Math.min(blob.size, offset + length)).arrayBuffer());
    },
  };
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
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
  return {
    size: total,
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
}
