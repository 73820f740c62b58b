import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadStream } from '../src/client/read-stream';
import type { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { READ_STREAM_SLOT, readStreamBuffer, readStreamRing } from '../src/protocol/read-stream';
import { pushReads } from '../src/worker/read-stream';
import { newBackingOf, openOn, pattern, rejectsWith, STORE_KINDS, sameBytes } from './helpers';

// A raw export's path where memory is shared: the worker reads a range out
// into a ring on its own (pushReads), the page copies it out (ReadStream).
// Here both ends share one thread: the producer sleeps asynchronously once
// the ring is full, and the consumer runs.

const KiB = 1024;
const SLOT = READ_STREAM_SLOT;

function streamOf(dev: BlockDevice, offset: number, length: number) {
  const sab = readStreamBuffer();
  const done = pushReads(dev, sab, offset, length);
  return { stream: new ReadStream(readStreamRing(sab), length, done), done };
}

/** Everything the stream gives, read into buffers of `chunk` bytes. */
async function drain(stream: ReadStream, chunk: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const into = new Uint8Array(chunk);
  for (let n = await stream.next(into); n > 0; n = await stream.next(into)) parts.push(into.slice(0, n));
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('read streams', () => {
  it('give any range exactly as reads do, over every store, whatever the reader takes at a time', async () => {
    const size = 10 * SLOT + 3 * 4 * KiB; // the ring wraps: a zero slot may follow data in its place
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...STORE_KINDS),
        fc.array(
          fc.record({ offset: fc.nat(size - 1), length: fc.integer({ min: 1, max: SLOT + 7 }), discard: fc.boolean() }),
          { maxLength: 4 },
        ),
        fc.nat(size),
        fc.nat(size),
        fc.integer({ min: 1, max: 2 * SLOT }),
        async (kind, changes, a, b, chunk) => {
          const dev = await openOn(newBackingOf(kind), { size, cache: 'writeback' });
          for (const [i, c] of changes.entries()) {
            const length = Math.min(c.length, size - c.offset);
            if (c.discard) await dev.discard(c.offset, length);
            else await dev.write(c.offset, pattern(length, i + 1));
          }
          const offset = Math.min(a, b);
          const length = Math.max(a, b) - offset;
          const { stream, done } = streamOf(dev, offset, length);
          const got = await drain(stream, chunk);
          await done;
          sameBytes(got, await dev.read(offset, length));
          await dev.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('read no slot the block status says is zeros', async () => {
    const dev = await openOn(newBackingOf('thin'), { size: 8 * SLOT, cache: 'none' });
    const data = pattern(SLOT, 3);
    await dev.write(3 * SLOT, data);
    const before = (await dev.stats()).reads;
    const { stream, done } = streamOf(dev, 0, 8 * SLOT);
    const got = await drain(stream, 256 * KiB);
    await done;
    expect((await dev.stats()).reads - before).toBe(1);
    const want = new Uint8Array(8 * SLOT);
    want.set(data, 3 * SLOT);
    sameBytes(got, want);
    await dev.close();
  });

  it('fail with EBUSY when the disk is written while they run, and never end as if whole', async () => {
    for (const change of ['write', 'discard'] as const) {
      const dev = await openOn(newBackingOf('memory'), { size: 16 * SLOT, cache: 'writeback' });
      await dev.write(0, pattern(16 * SLOT, 9));
      const { stream, done } = streamOf(dev, 0, 16 * SLOT);
      const into = new Uint8Array(SLOT);
      expect(await stream.next(into)).toBe(SLOT);
      if (change === 'write') await dev.write(10 * SLOT, pattern(100, 1));
      else await dev.discard(10 * SLOT, 4096);
      let failed: unknown;
      try {
        while ((await stream.next(into)) > 0);
      } catch (err) {
        failed = err;
      }
      expect(failed).toBeInstanceOf(DiskError);
      expect((failed as DiskError).code).toBe('EBUSY');
      await rejectsWith(done, 'EBUSY');
      await dev.close();
    }
  });

  it('stop at the next slot when cancelled: the worker reads no further', async () => {
    const dev = await openOn(newBackingOf('memory'), { size: 64 * SLOT, cache: 'none' });
    await dev.write(0, pattern(64 * SLOT, 2));
    const before = (await dev.stats()).reads;
    const { stream, done } = streamOf(dev, 0, 64 * SLOT);
    expect(await stream.next(new Uint8Array(SLOT))).toBe(SLOT);
    stream.cancel();
    await done;
    // The ring's slots and the one in hand, at most.
    expect((await dev.stats()).reads - before).toBeLessThanOrEqual(6);
    await dev.close();
  });

  it('a range outside the disk, or a disk that goes away, rejects the reader: no hang', async () => {
    const dev = await openOn(newBackingOf('memory'), { size: 4 * SLOT, cache: 'none' });
    const outside = streamOf(dev, 3 * SLOT, 2 * SLOT);
    await rejectsWith(outside.stream.next(new Uint8Array(KiB)), 'ERANGE');
    await rejectsWith(outside.done, 'ERANGE');
    // The worker never answers, then dies: the reader waiting on the ring hears of it.
    let die: (err: DiskError) => void = () => undefined;
    const gone = new Promise<void>((_, reject) => {
      die = reject;
    });
    const orphan = new ReadStream(readStreamRing(readStreamBuffer()), SLOT, gone);
    const next = orphan.next(new Uint8Array(KiB));
    setTimeout(() => die(new DiskError('ECLOSED', 'the worker was terminated')), 20);
    await rejectsWith(next, 'ECLOSED');
    // Closed under a running stream: it fails, it does not hang.
    await dev.write(0, pattern(4 * SLOT, 4));
    const { stream, done } = streamOf(dev, 0, 4 * SLOT);
    await dev.close();
    await rejectsWith(drain(stream, SLOT), 'ECLOSED');
    await rejectsWith(done, 'ECLOSED');
  });
});
