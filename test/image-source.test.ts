import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { streamPieces } from '../src/images/source';
import { pattern, sameBytes } from './helpers';

// An import reads a stream (a Blob's) in pieces through one reused buffer:
// BYOB where the stream is a byte stream, copied from its chunks otherwise.

function chunked(bytes: Uint8Array, cuts: number[], bytesType: boolean): ReadableStream<Uint8Array> {
  const ends = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  ends.push(bytes.length);
  let i = 0;
  let at = 0;
  const next = () => {
    while (i < ends.length && ends[i] <= at) i++;
    const end = i < ends.length ? ends[i] : bytes.length;
    const chunk = bytes.slice(at, end);
    at = end;
    return chunk;
  };
  if (!bytesType) {
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) c.close();
        else c.enqueue(next());
      },
    });
  }
  return new ReadableStream({
    type: 'bytes',
    pull(c) {
      if (at >= bytes.length) {
        c.close();
        c.byobRequest?.respond(0);
        return;
      }
      const chunk = next();
      const req = c.byobRequest;
      if (req?.view) {
        const view = new Uint8Array(req.view.buffer, req.view.byteOffset, req.view.byteLength);
        const n = Math.min(view.length, chunk.length);
        view.set(chunk.subarray(0, n));
        at -= chunk.length - n; // the rest comes next time
        req.respond(n);
      } else c.enqueue(chunk);
    },
  });
}

describe('streamPieces', () => {
  it('gives the stream’s bytes in whole pieces (the last shorter), from byte streams and plain ones', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom(1, 7, 512, 1024),
        fc.boolean(),
        async (length, cuts, piece, bytesType) => {
          const bytes = pattern(length, length + 1);
          const got: number[] = [];
          const sizes: number[] = [];
          for await (const p of streamPieces(chunked(bytes, cuts, bytesType), piece)) {
            sizes.push(p.length);
            got.push(...p);
          }
          // With a pool, each piece in a buffer of its own: all still whole once the stream has ended.
          const kept: Uint8Array[] = [];
          for await (const p of streamPieces(chunked(bytes, cuts, bytesType), piece, () => new ArrayBuffer(piece)))
            kept.push(p);
          sameBytes(new Uint8Array(kept.flatMap((p) => [...p])), bytes, 'pooled pieces');
          sameBytes(new Uint8Array(got), bytes);
          for (const s of sizes.slice(0, -1)) expect(s).toBe(piece);
          expect(sizes.length).toBe(Math.ceil(length / piece));
        },
      ),
      { numRuns: 200 },
    );
  });
});
