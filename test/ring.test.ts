import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingTransport } from '../src/client/ring-transport';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import type { DiskStats } from '../src/core/types';
import type { Request } from '../src/protocol/messages';
import { FIRST_LENT_BUFFER, ringViews } from '../src/protocol/ring';
import { MemoryStore } from '../src/stores/memory-store';
import { execute } from '../src/worker/execute';
import { RingServer } from '../src/worker/ring-server';
import { pattern, rejectsWith, sameBytes, state } from './helpers';

/**
 * Both ends of the shared-memory ring in one Node process, over a
 * memory-backed device. `fails`: writes at offsets it names fail in the
 * "worker" with that error. `start: false`: nothing is taken until run().
 */
async function ringDisk(
  size: number,
  arena: number,
  opts: { fails?: (offset: number) => DiskError | undefined; start?: boolean; staging?: number } = {},
) {
  const dev = await BlockDevice.open({ data: new MemoryStore(), meta: new MemoryStore(), size, cacheSize: 16 * 1024 });
  const client = new RingTransport(arena, opts.staging);
  const lent = new Map<number, Uint8Array>();
  const server = new RingServer(
    client.sab,
    (req, data) => {
      const bad = req.op === 'write' ? opts.fails?.(req.offset) : undefined;
      if (bad) throw bad;
      return execute(dev, req, data);
    },
    { lent: (id) => lent.get(id) },
  );
  let lends = FIRST_LENT_BUFFER - 1;
  if (opts.start !== false) void server.run();
  const call = (r: Request, data?: Uint8Array) => client.call(r, data);
  return {
    client,
    server,
    dev,
    /** A buffer lent to both ends, as disk.allocBuffer() makes one. */
    lend: (size: number) => {
      const buffer = new SharedArrayBuffer(size);
      lent.set(++lends, new Uint8Array(buffer));
      client.lend(buffer, lends);
      return new Uint8Array(buffer);
    },
    run: () => void server.run(),
    read: (offset: number, length: number) => call({ op: 'read', offset, length }) as Promise<Uint8Array>,
    write: (offset: number, data: Uint8Array, ackOnPublish = false, fua = false) =>
      client.call({ op: 'write', offset, length: data.length, at: 0, fua }, data, { ackOnPublish }),
    flush: () => call({ op: 'flush' }),
    close: () => call({ op: 'close' }),
    stats: () => call({ op: 'stats' }) as Promise<DiskStats>,
  };
}

describe('shared-memory ring transport', () => {
  it('carries writes, reads, stats and errors; requests larger than a chunk are split', async () => {
    const d = await ringDisk(8 * 1024 * 1024, 4 * 1024 * 1024);
    const big = pattern(3 * 1024 * 1024 + 17, 1);
    await d.write(1000, big);
    sameBytes(await d.read(1000, big.length), big);
    // Into a caller's buffer, split into chunks too: resolves with that same buffer.
    const into = new Uint8Array(big.length);
    const got = await d.client.call({ op: 'read', offset: 1000, length: into.length }, into);
    expect(got).toBe(into);
    sameBytes(into, big);
    expect((await d.stats()).bytesWritten).toBe(big.length);
    await rejectsWith(d.read(8 * 1024 * 1024, 1), 'ERANGE');
    await rejectsWith(d.client.call({ op: 'setCacheMode', mode: 'fast' as never }) as Promise<unknown>, 'EINVAL');
    d.server.stop();
  });

  it('keeps issue order with hundreds in flight, a full arena and a backlog', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: 60_000 }),
            length: fc.integer({ min: 0, max: 5000 }),
            read: fc.boolean(),
            // A read held in the arena until its bytes are checked (the export's read-ahead).
            held: fc.boolean(),
            // From or into a lent buffer: no arena space, no copy, no early ack.
            lent: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
            // Acknowledged at publish or by the worker: reads see both the same.
            early: fc.boolean(),
            // Through write()/read() given as numbers (Disk's hot path) or call() with a request.
            numbers: fc.boolean(),
            flush: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
          }),
          // Hundreds: fast-check's default size would keep these arrays short.
          { minLength: 100, maxLength: 700 },
        ),
        fc.boolean(),
        async (ops, stagingSmall) => {
          const size = 65_536;
          // Tiny arena: forces the backlog; staging room for a few writes, or plenty.
          const d = await ringDisk(size, 16 * 1024, { staging: stagingSmall ? 12_000 : undefined });
          const model = new Uint8Array(size);
          const checks: Promise<void>[] = [];
          ops.forEach((o, i) => {
            const length = Math.min(o.length, size - o.offset);
            if (o.flush) {
              checks.push(d.flush().then(() => undefined));
            } else if (o.read && o.held) {
              const expected = model.slice(o.offset, o.offset + length);
              const held = d.client.readHeld(o.offset, length);
              checks.push(
                held.bytes.then((got) => {
                  sameBytes(got, expected, `held op ${i}`);
                  held.release();
                }),
              );
            } else if (o.read && o.lent) {
              const expected = model.slice(o.offset, o.offset + length);
              const into = d.lend(Math.max(1, length)).subarray(0, length);
              const read = d.client.call({ op: 'read', offset: o.offset, length }, into);
              checks.push(read.then((got) => sameBytes(got, expected, `lent op ${i}`)));
            } else if (o.read) {
              const expected = model.slice(o.offset, o.offset + length);
              const read = o.numbers ? d.client.read(o.offset, length) : d.read(o.offset, length);
              checks.push(read.then((got) => sameBytes(got, expected, `op ${i}`)));
            } else if (o.lent) {
              const data = d.lend(Math.max(1, length)).subarray(0, length);
              data.set(pattern(length, i));
              model.set(data, o.offset);
              checks.push(d.write(o.offset, data, o.early).then(() => undefined)); // untouched until settled
            } else {
              const data = pattern(length, i);
              const write = o.numbers
                ? d.client.write(o.offset, data, false, o.early)
                : d.write(o.offset, data, o.early);
              checks.push(write.then(() => undefined));
              model.set(data, o.offset);
              data.fill(0); // the caller's buffer is free at once
            }
          });
          await Promise.all(checks);
          sameBytes(await d.read(0, size), model, 'final');
          d.server.stop();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('ackOnPublish: a write is acknowledged once in the ring, before the worker takes it; FUA and backlogged ones are not; a backlogged copy waits in the staging area', async () => {
    // 16 KiB of arena, 10 KiB of staging area.
    const d = await ringDisk(65_536, 16 * 1024, { start: false, staging: 10 * 1024 });
    const staging = ringViews(d.client.sab).staging;
    const early = d.write(0, pattern(4096, 1), true);
    expect(await state(early), 'in the ring: acknowledged with no worker running').toBe('settled');
    const fua = d.write(4096, pattern(4096, 2), true, true);
    const late = d.write(8192, pattern(4096, 3), false);
    // Past the arena: its copy waits in the staging area, where the worker will read it.
    const staged = d.write(12_288, pattern(8192, 4), true);
    sameBytes(staging.subarray(0, 8192), pattern(8192, 4), 'copied into the staging area at once');
    // Past the staging area too: a plain copy.
    const backlogged = d.write(20_480, pattern(4096, 5), true);
    expect(
      staging.subarray(8192).every((b) => b === 0),
      'no room: not staged',
    ).toBe(true);
    const read = d.read(0, 24_576);
    expect(await state(fua), 'a FUA write waits for the worker').toBe('pending');
    expect(await state(late), 'a write without ackOnPublish waits').toBe('pending');
    expect(await state(staged), 'a backlogged write waits, staged or not').toBe('pending');
    expect(await state(backlogged), 'a backlogged write waits').toBe('pending');
    d.run();
    await Promise.all([fua, late, staged, backlogged]);
    // A read issued after them sees them all, the staged one read by the worker from the staging area: FIFO.
    const want = new Uint8Array(24_576);
    [pattern(4096, 1), pattern(4096, 2), pattern(4096, 3), pattern(8192, 4), pattern(4096, 5)].reduce((at, p) => {
      want.set(p, at);
      return at + p.length;
    }, 0);
    sameBytes(await read, want, 'read after early, staged and backlogged writes');
    await d.flush();
    d.server.stop();
  });

  it('ackOnPublish: an error the worker meets later rejects the next flush (once), then close; it is never dropped', async () => {
    const d = await ringDisk(65_536, 64 * 1024, {
      fails: (offset) => (offset === 8192 ? new DiskError('ENOSPC', 'no space left for this write') : undefined),
    });
    await d.write(0, pattern(4096, 1), true);
    await d.write(8192, pattern(4096, 2), true); // acknowledged: its failure comes later
    await d.write(16_384, pattern(4096, 3), true);
    const err = await d.flush().then(
      () => undefined,
      (e: DiskError) => e,
    );
    expect(err, 'the flush after the failed write').toBeInstanceOf(DiskError);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect(err?.message).toMatch(/acknowledged before the disk worker took it failed later: no space left/);
    await d.flush(); // reported once
    // The writes around it are there.
    sameBytes(await d.read(0, 4096), pattern(4096, 1));
    sameBytes(await d.read(16_384, 4096), pattern(4096, 3));
    // Not acknowledged early: the caller gets its own error, nothing is latched.
    await rejectsWith(d.write(8192, pattern(4096, 4), false), 'ENOSPC');
    await d.flush();
    // Latched before a close: the close reports it.
    await d.write(8192, pattern(4096, 5), true);
    await rejectsWith(d.close(), 'ENOSPC');
    d.server.stop();
  });

  it('write() and read() given as numbers (the page hot path) act as call(): early acks, waits, latched errors, results', async () => {
    const d = await ringDisk(65_536, 16 * 1024, {
      start: false,
      fails: (offset) => (offset === 8192 ? new DiskError('ENOSPC', 'no space left for this write') : undefined),
    });
    const early = d.client.write(0, pattern(4096, 1), false, true);
    expect(await state(early), 'in the ring: acknowledged with no worker running').toBe('settled');
    const failing = d.client.write(8192, pattern(4096, 2), false, true); // acknowledged: its failure comes later
    const fua = d.client.write(4096, pattern(4096, 3), true, true);
    const plain = d.client.write(12_288, pattern(4096, 4), false, false);
    const into = new Uint8Array(16_384);
    const read = d.client.read(0, 16_384, into);
    const copy = d.client.read(4096, 4096);
    expect(await state(fua), 'a FUA write waits for the worker').toBe('pending');
    expect(await state(plain), 'a write without ackOnPublish waits').toBe('pending');
    expect(await state(read)).toBe('pending');
    d.run();
    await Promise.all([early, failing, fua, plain]);
    expect(await read, 'resolves with the buffer given').toBe(into);
    const want = new Uint8Array(16_384);
    want.set(pattern(4096, 1), 0);
    want.set(pattern(4096, 3), 4096);
    want.set(pattern(4096, 4), 12_288);
    sameBytes(into, want);
    sameBytes(await copy, pattern(4096, 3));
    await rejectsWith(d.flush(), 'ENOSPC');
    // Without ackOnPublish the caller gets the error itself; past a chunk, split as call() does.
    await rejectsWith(d.client.write(8192, pattern(4096, 5), false, false), 'ENOSPC');
    const big = pattern(20_000, 6);
    await d.client.write(20_000, big, false, true);
    sameBytes(await d.client.read(20_000, big.length), big);
    await d.flush();
    d.server.stop();
  });

  it('readHeld: the bytes stay in the arena, reserving it, until released; released unread, they free it too', async () => {
    const d = await ringDisk(65_536, 16 * 1024); // 16 KiB arena, 8 KiB chunks
    const data = pattern(65_536, 9);
    await d.write(0, data);
    const a = d.client.readHeld(0, 8192);
    const bytes = await a.bytes;
    expect(bytes.buffer, 'a view of the shared arena, no copy').toBe(d.client.sab);
    sameBytes(bytes, data.subarray(0, 8192));
    const fits = d.read(8192, 8192);
    sameBytes(await fits, data.subarray(8192, 16_384), 'the arena’s other half is free');
    const b = d.read(16_384, 8192);
    expect(await state(b), 'the held window is not reused').toBe('pending');
    sameBytes(bytes, data.subarray(0, 8192), 'held bytes unchanged while held');
    a.release();
    a.release(); // idempotent
    sameBytes(await b, data.subarray(16_384, 24_576), 'released: the next read gets the space');
    // Released before its answer: a copy, and the arena is freed all the same.
    const early = d.client.readHeld(24_576, 8192);
    early.release();
    sameBytes(await early.bytes, data.subarray(24_576, 32_768));
    sameBytes(await d.read(0, 16_384), data.subarray(0, 16_384), 'the whole arena is free again');
    expect(() => d.client.readHeld(0, 8193)).toThrow(RangeError);
    d.server.stop();
  });

  it('lent buffers: no bytes through the arena, no chunks, never acknowledged early; one the worker does not hold is EINVAL', async () => {
    const d = await ringDisk(4 * 1024 * 1024, 16 * 1024, { start: false }); // 8 KiB chunks
    const arena = () => ringViews(d.client.sab).arena;
    const src = d.lend(1024 * 1024);
    src.set(pattern(src.length, 5));
    const write = d.write(4096, src, true);
    expect(await state(write), 'from a lent buffer: waits for the worker, even in a write-cache ring').toBe('pending');
    d.run();
    await write;
    const dst = d.lend(1024 * 1024 + 100);
    const into = dst.subarray(100);
    expect(await d.client.call({ op: 'read', offset: 4096, length: into.length }, into)).toBe(into);
    sameBytes(into, src, 'read back into a lent buffer');
    expect(
      arena().every((b) => b === 0),
      'the arena never saw the bytes',
    ).toBe(true);
    const s = await d.stats();
    expect([s.writes, s.reads], 'one request each, not 128 chunks').toEqual([1, 1]);
    // Named by the client, never given to the worker.
    const stranger = new SharedArrayBuffer(4096);
    d.client.lend(stranger, 99);
    await rejectsWith(d.write(0, new Uint8Array(stranger)), 'EINVAL');
    sameBytes(await d.read(4096, 8192), src.subarray(0, 8192), 'the ring goes on');
    d.server.stop();
  });

  it('rejects everything pending when the worker is gone', async () => {
    const d = await ringDisk(65_536, 16 * 1024);
    d.server.stop();
    const pending = [d.write(0, pattern(100, 1)), d.read(0, 100)];
    await new Promise((r) => setTimeout(r, 10));
    const { DiskError } = await import('../src/core/errors');
    d.client.fail(new DiskError('ECLOSED', 'gone'));
    for (const p of pending) await rejectsWith(p, 'ECLOSED');
    await rejectsWith(d.read(0, 1), 'ECLOSED');
  });
});
