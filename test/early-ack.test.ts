import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CACHE_POLICY } from '../src/core/cache-modes';
import type { CacheMode } from '../src/core/types';
import { diskOverRing, durableDevice, pattern, sameBytes, state } from './helpers';

// Early acknowledgement (issue 12): in writeback and unsafe a write is
// answered once it is in the shared ring. A Disk over both ends of the ring
// in one process; below the device a simulated disk cache, whose inner
// memory store is what a power cut keeps.

const KiB = 1024;
const BS = 4 * KiB;
const SIZE = 64 * BS;
const MODES: CacheMode[] = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'];

async function ringDisk(cache: CacheMode, start = true) {
  const { dev, durable } = await durableDevice({ size: SIZE, cache, cacheSize: 16 * BS });
  return { ...diskOverRing(dev, { start, name: 'early' }), durable };
}

describe('early acknowledgement', () => {
  for (const mode of MODES) {
    const early = CACHE_POLICY[mode].writeCache;
    it(`${mode}: a plain write is answered ${early ? 'before' : 'only after'} the worker takes it; a FUA write always after`, async () => {
      const { disk, server, run } = await ringDisk(mode, false);
      const plain = disk.write(0, pattern(BS, 1));
      const fua = disk.write(BS, pattern(BS, 2), { fua: true });
      expect(await state(plain)).toBe(early ? 'settled' : 'pending');
      expect(await state(fua)).toBe('pending');
      run();
      await Promise.all([plain, fua]);
      sameBytes(await disk.read(0, BS), pattern(BS, 1));
      server.stop();
    });
  }

  it('the mode in issue order decides: writes after a setCacheMode not answered yet are not acknowledged early', async () => {
    const { disk, durable, server, run } = await ringDisk('writeback', false);
    const before = disk.write(0, pattern(BS, 1));
    const toWritethrough = disk.setCacheMode('writethrough');
    const after = disk.write(BS, pattern(BS, 2));
    expect(await state(before), 'writeback, before the switch').toBe('settled');
    expect(await state(after), 'issued after a switch to writethrough').toBe('pending');
    run();
    await after;
    const kept = new Uint8Array(BS);
    durable.read(BS, kept);
    sameBytes(kept, pattern(BS, 2), 'writethrough: durable when answered');
    await toWritethrough;
    server.stop();

    // And back: a switch into writeback not answered yet gives no early ack either.
    const again = await ringDisk('writethrough', false);
    const toWriteback = again.disk.setCacheMode('writeback');
    const during = again.disk.write(0, pattern(BS, 3));
    expect(await state(during), 'the switch is not answered yet').toBe('pending');
    again.run();
    await Promise.all([toWriteback, during]);
    const now = again.disk.write(BS, pattern(BS, 4));
    expect(await state(now), 'writeback, known').toBe('settled');
    again.server.stop();
  });

  it('acks in any order, early or not: each answer keeps the contract of the mode in issue order', async () => {
    type Op =
      | { kind: 'write'; block: number; fua: boolean }
      | { kind: 'read'; block: number }
      | { kind: 'flush' }
      | { kind: 'mode'; mode: CacheMode };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ kind: fc.constant('write' as const), block: fc.nat(31), fua: fc.boolean() }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), block: fc.nat(31) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom(...MODES) }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...MODES),
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 16 }), { minLength: 1, maxLength: 6 }),
        async (initial, bursts) => {
          const { disk, durable, server } = await ringDisk(initial);
          const model = new Uint8Array(SIZE);
          /** Every write issued so far, per block, in order: a durable block holds one of them. */
          const history: Uint8Array[][] = Array.from({ length: SIZE / BS }, () => [new Uint8Array(BS)]);
          /** The mode each request meets in the worker: the last one asked for before it. */
          let mode = initial;
          let seed = 1;
          const durableFrom = (block: number, since: number, what: string) => {
            const kept = new Uint8Array(BS);
            durable.read(block * BS, kept);
            const ok = history[block].slice(since).some((h) => h.every((b, k) => b === kept[k]));
            expect(ok, `${what}: block ${block} not durable when answered`).toBe(true);
          };
          for (const burst of bursts) {
            const pending: Promise<void>[] = [];
            for (const op of burst) {
              if (op.kind === 'write') {
                const bytes = pattern(BS, seed++);
                model.set(bytes, op.block * BS);
                history[op.block].push(bytes);
                const index = history[op.block].length - 1;
                const policy = CACHE_POLICY[mode];
                const durableNeeded = policy.syncEachWrite || (op.fua && policy.syncOnFlush);
                const what = `${mode} write${op.fua ? ' (FUA)' : ''}`;
                pending.push(
                  disk.write(op.block * BS, bytes, { fua: op.fua }).then(() => {
                    if (durableNeeded) durableFrom(op.block, index, what);
                  }),
                );
              } else if (op.kind === 'read') {
                const want = model.slice(op.block * BS, (op.block + 1) * BS);
                pending.push(disk.read(op.block * BS, BS).then((got) => sameBytes(got, want)));
              } else if (op.kind === 'flush') {
                // A flush covers every write issued before it: each block holds its last one or a later one.
                const marks = history.map((h) => h.length - 1);
                const syncs = CACHE_POLICY[mode].syncOnFlush;
                pending.push(
                  disk.flush().then(() => {
                    if (syncs) for (const [b, m] of marks.entries()) durableFrom(b, m, `flush in ${mode}`);
                  }),
                );
              } else {
                mode = op.mode;
                pending.push(disk.setCacheMode(op.mode));
              }
            }
            await Promise.all(pending);
          }
          await disk.close();
          server.stop();
        },
      ),
      { numRuns: 120 },
    );
  });
});
