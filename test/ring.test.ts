import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingTransport } from '../src/client/ring-transport';
import { BlockDevice } from '../src/core/block-device';
import type { DiskStats } from '../src/core/types';
import type { Request } from '../src/protocol/messages';
import { MemoryStore } from '../src/stores/memory-store';
import { execute } from '../src/worker/execute';
import { RingServer } from '../src/worker/ring-server';
import { pattern, rejectsWith, sameBytes } from './helpers';

/** Both ends of the shared-memory ring in one Node process, over a memory-backed device. */
async function ringDisk(size: number, arena: number) {
  const dev = await BlockDevice.open({ data: new MemoryStore(), meta: new MemoryStore(), size, cacheSize: 16 * 1024 });
  const client = new RingTransport(arena);
  const server = new RingServer(client.sab, (req, data) => execute(dev, req, data));
  void server.run();
  const call = (r: Request, data?: Uint8Array) => client.call(r, data);
  return {
    client,
    server,
    read: (offset: number, length: number) => call({ op: 'read', offset, length }) as Promise<Uint8Array>,
    write: (offset: number, data: Uint8Array) =>
      call({ op: 'write', offset, length: data.length, at: 0, fua: false }, data),
    flush: () => call({ op: 'flush' }),
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
          }),
          { minLength: 1, maxLength: 700 },
        ),
        async (ops) => {
          const size = 65_536;
          const d = await ringDisk(size, 16 * 1024); // tiny arena: forces the backlog
          const model = new Uint8Array(size);
          const checks: Promise<void>[] = [];
          ops.forEach((o, i) => {
            const length = Math.min(o.length, size - o.offset);
            if (o.read) {
              const expected = model.slice(o.offset, o.offset + length);
              checks.push(d.read(o.offset, length).then((got) => sameBytes(got, expected, `op ${i}`)));
            } else {
              const data = pattern(length, i);
              checks.push(d.write(o.offset, data).then(() => undefined));
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
