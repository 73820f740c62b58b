import { MiB } from './config';

/**
 * Reads a byte stream to its end as a careful consumer does: a BYOB reader
 * and one reused 1 MiB buffer (fresh memory is slow to touch here), `each`
 * called with every chunk (valid until it returns). Resolves with the
 * bytes read.
 */
export async function readByob(
  stream: ReadableStream<Uint8Array>,
  each?: (chunk: Uint8Array) => void,
): Promise<number> {
  const reader = stream.getReader({ mode: 'byob' });
  let buf = new ArrayBuffer(MiB);
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(buf));
    if (value) buf = value.buffer as ArrayBuffer;
    if (done || !value) return got;
    each?.(value);
    got += value.byteLength;
  }
}
