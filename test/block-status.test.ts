import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BlockDevice, MAX_STATUS_RUNS } from '../src/core/block-device';
import { withData } from '../src/core/extents';
import type { Extent } from '../src/core/store';
import { newBackingOf, OVERLAY_KINDS, openOn, pattern, STORE_KINDS } from './helpers';

// blockStatus (QEMU's block_status) on every store kind, through the block
// core: the runs cover the range in order, and a byte that may be non-zero
// is never in a run said to read as zeros — dirty cached blocks included.

const KiB = 1024;
const SIZE = 2 * 1024 * KiB;

/** The device's answers, asked again from where each ends, as Disk.blockStatus does. */
async function statusOf(dev: BlockDevice, offset: number, length: number): Promise<Extent[]> {
  const out: Extent[] = [];
  for (let at = offset; at < offset + length; ) {
    const runs = await dev.blockStatus(at, offset + length - at);
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.length).toBeLessThanOrEqual(MAX_STATUS_RUNS);
    out.push(...runs);
    at = runs[runs.length - 1].offset + runs[runs.length - 1].length;
  }
  return out;
}

function checkCover(runs: Extent[], offset: number, length: number): void {
  let at = offset;
  for (const r of runs) {
    expect(r.offset).toBe(at);
    expect(r.length).toBeGreaterThan(0);
    at += r.length;
  }
  expect(at).toBe(offset + length);
}

type Op = { kind: 'write'; offset: number; length: number } | { kind: 'discard'; offset: number; length: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      offset: fc.integer({ min: 0, max: SIZE / 512 - 1 }).map((s) => s * 512),
      length: fc.integer({ min: 1, max: 160 }).map((s) => s * 512),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('discard' as const),
      offset: fc.integer({ min: 0, max: SIZE / (64 * KiB) - 1 }).map((c) => c * 64 * KiB),
      length: fc.integer({ min: 1, max: 4 }).map((c) => c * 64 * KiB),
    }),
  },
);

describe('blockStatus', () => {
  for (const kind of [...STORE_KINDS, ...OVERLAY_KINDS]) {
    it(`${kind}: runs cover the range in order; every non-zero byte is in a 'data' run`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: 1, maxLength: 25 }),
          fc.constantFrom('writeback', 'none') as fc.Arbitrary<'writeback' | 'none'>,
          fc.boolean(),
          fc.integer({ min: 0, max: SIZE - 1 }),
          async (ops, cache, flush, from) => {
            const backing = newBackingOf(kind);
            const dev = await openOn(backing, { size: SIZE, cache, cacheSize: 256 * KiB });
            const model = new Uint8Array(SIZE);
            if (backing.initial) model.set(backing.initial.subarray(0, SIZE));
            let seed = 1;
            for (const op of ops) {
              const length = Math.min(op.length, SIZE - op.offset);
              if (op.kind === 'write') {
                const bytes = pattern(length, seed++);
                await dev.write(op.offset, bytes);
                model.set(bytes, op.offset);
              } else {
                await dev.discard(op.offset, length);
                model.fill(0, op.offset, op.offset + length);
              }
            }
            if (flush) await dev.flush();
            const length = SIZE - from;
            const runs = await statusOf(dev, from, length);
            checkCover(runs, from, length);
            for (let i = 1; i < runs.length; i++) expect(runs[i].state).not.toBe(runs[i - 1].state);
            for (const r of runs) {
              if (r.state === 'data') continue;
              const nonZero = model.subarray(r.offset, r.offset + r.length).findIndex((b) => b !== 0);
              expect(nonZero, `${r.state} run at ${r.offset} holds data at +${nonZero}`).toBe(-1);
            }
            await dev.close();
          },
        ),
        { numRuns: kind.startsWith('idb') ? 15 : 60 },
      );
    });
  }

  for (const kind of STORE_KINDS) {
    it(`${kind}: what was never written is not 'data' (the answer is not just "all data")`, async () => {
      const dev = await openOn(newBackingOf(kind), { size: SIZE, cache: 'writeback' });
      await dev.write(128 * KiB, pattern(4 * KiB, 7)); // dirty in the cache only
      const before = await statusOf(dev, 0, SIZE);
      await dev.flush();
      const after = await statusOf(dev, 0, SIZE);
      for (const runs of [before, after]) {
        const data = runs.filter((r) => r.state === 'data');
        expect(data.length).toBe(1);
        expect(data[0].offset).toBeLessThanOrEqual(128 * KiB);
        expect(data[0].offset + data[0].length).toBeGreaterThanOrEqual(132 * KiB);
        expect(data[0].length).toBeLessThanOrEqual(64 * KiB);
      }
      await dev.close();
    });
  }

  it('withData: data ranges split and merge the runs they fall on', () => {
    const runs: Extent[] = [
      { offset: 0, length: 100, state: 'zero' },
      { offset: 100, length: 100, state: 'unallocated' },
    ];
    expect(
      withData(runs, [
        [10, 20],
        [90, 110],
        [190, 200],
      ]),
    ).toEqual([
      { offset: 0, length: 10, state: 'zero' },
      { offset: 10, length: 10, state: 'data' },
      { offset: 20, length: 70, state: 'zero' },
      { offset: 90, length: 20, state: 'data' },
      { offset: 110, length: 80, state: 'unallocated' },
      { offset: 190, length: 10, state: 'data' },
    ]);
  });

  it('a bad range is refused with a DiskError', async () => {
    const dev = await openOn(newBackingOf('memory'), { size: SIZE });
    await expect(dev.blockStatus(SIZE - 512, 1024)).rejects.toMatchObject({ code: 'ERANGE' });
    await expect(dev.blockStatus(-1, 1)).rejects.toMatchObject({ code: 'EINVAL' });
    await dev.close();
  });
});
