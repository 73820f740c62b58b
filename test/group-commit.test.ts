import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { durableDevice, pattern, sameBytes } from './helpers';

// Group commit (writethrough, directsync, FUA writes): requests issued
// together share one sync, and an acknowledgement still means durable.
// Below the device, a simulated disk cache: what the inner memory store
// holds is what a power cut keeps, so each ack is checked against it.

const KiB = 1024;
const BS = 4 * KiB;
const SIZE = 256 * BS;

function device(cache: 'writethrough' | 'directsync' | 'writeback') {
  return durableDevice({ size: SIZE, cache });
}

describe('group commit', () => {
  for (const cache of ['writethrough', 'directsync'] as const) {
    it(`${cache}: 32 writes issued together share one sync, and none is answered before it`, async () => {
      const { dev, durable } = await device(cache);
      const before = (await dev.stats()).storeSyncs;
      const acks = Array.from({ length: 32 }, (_, i) => {
        const bytes = pattern(BS, i + 1);
        return dev.write(i * 7 * BS, bytes).then(() => {
          // Answered: the bytes are in what survives a power cut.
          const kept = new Uint8Array(BS);
          durable.read(i * 7 * BS, kept);
          sameBytes(kept, bytes);
        });
      });
      await Promise.all(acks);
      expect((await dev.stats()).storeSyncs - before).toBe(1);
      await dev.close();
    });
  }

  it('writeback: FUA writes issued together share one sync', async () => {
    const { dev } = await device('writeback');
    const before = (await dev.stats()).storeSyncs;
    await Promise.all(Array.from({ length: 16 }, (_, i) => dev.write(i * BS, pattern(BS, i + 1), { fua: true })));
    expect((await dev.stats()).storeSyncs - before).toBe(1);
    await dev.close();
  });

  it('acks in any order: each write is durable when answered, each read sees what was issued before it', async () => {
    type Op = { kind: 'write'; block: number; fua: boolean } | { kind: 'read'; block: number } | { kind: 'flush' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({ kind: fc.constant('write' as const), block: fc.nat(63), fua: fc.boolean() }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), block: fc.nat(63) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('writethrough', 'directsync', 'writeback') as fc.Arbitrary<
          'writethrough' | 'directsync' | 'writeback'
        >,
        // Bursts: each is issued at once (as a ring wake-up hands them over); bursts one after another.
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        async (cache, bursts) => {
          const { dev, durable } = await device(cache);
          const model = new Uint8Array(SIZE);
          /** Every write issued to each block, in order. */
          const history: Uint8Array[][] = Array.from({ length: SIZE / BS }, () => []);
          let seed = 1;
          const answered: number[] = [];
          for (const burst of bursts) {
            const pending: Promise<void>[] = [];
            for (const [i, op] of burst.entries()) {
              if (op.kind === 'write') {
                const bytes = pattern(BS, seed++);
                model.set(bytes, op.block * BS);
                history[op.block].push(bytes);
                const index = history[op.block].length - 1;
                const durableNeeded = cache !== 'writeback' || op.fua;
                pending.push(
                  dev.write(op.block * BS, bytes, { fua: op.fua }).then(() => {
                    answered.push(i);
                    if (!durableNeeded) return;
                    const kept = new Uint8Array(BS);
                    durable.read(op.block * BS, kept);
                    // Durable: this write's bytes, or those of any later write to the block (issued
                    // in this burst: a later FUA write may have been synced over it, a plain one after).
                    const ok = history[op.block].slice(index).some((h) => h.every((b, k) => b === kept[k]));
                    expect(ok, `${cache}: block ${op.block} not durable when answered`).toBe(true);
                  }),
                );
              } else if (op.kind === 'read') {
                const want = model.slice(op.block * BS, (op.block + 1) * BS);
                pending.push(
                  dev.read(op.block * BS, BS).then((got) => {
                    answered.push(i);
                    sameBytes(got, want);
                  }),
                );
              } else {
                pending.push(dev.flush().then(() => void answered.push(i)));
              }
            }
            await Promise.all(pending);
          }
          await dev.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
