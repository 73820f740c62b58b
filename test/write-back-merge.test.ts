import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { CACHE_MODES } from '../src/core/types';
import { MemoryStore } from '../src/stores/memory-store';
import { stackStores } from '../src/stores/stack';
import { randomCrashPoint, runCrashTest, verifyDisk } from '../src/testing/crash-test';
import { newBackingOf, openOn, pattern, sameBytes, stacked, unplugged } from './helpers';

// Write-back over a store with `mergeGap` (OPFS): dirty blocks a small gap
// apart go as one store write, the gap rewritten with the bytes it holds —
// only where the store's block status calls the gap 'data'.

const KiB = 1024;
const BS = 4 * KiB;
const SIZE = 1024 * KiB;

/** A thin disk (cluster map, 64 KiB clusters) over memory files whose data file merges gaps up to `mergeGap`. */
function thinFiles(mergeGap: number) {
  const files = { data: new MemoryStore(undefined, { mergeGap }), meta: new MemoryStore(), map: new MemoryStore() };
  return {
    files,
    async open(cacheSize?: number): Promise<BlockDevice> {
      for (const f of Object.values(files)) f.closed = false;
      const s = await stacked(files, SIZE);
      return BlockDevice.open({ ...s, size: SIZE, cacheSize });
    },
  };
}

/** Store writes and bytes the core issued while `fn` ran. */
async function storeWritesOf(
  d: BlockDevice,
  fn: () => Promise<void>,
): Promise<{ writes: number; bytes: number; gapBytes: number }> {
  const before = await d.stats();
  await fn();
  const after = await d.stats();
  return {
    writes: after.storeWrites - before.storeWrites,
    bytes: after.storeBytesWritten - before.storeBytesWritten,
    gapBytes: after.storeGapBytes - before.storeGapBytes,
  };
}

describe('write-back merges small gaps on a store that asks for it', () => {
  it('dirty blocks a block or two apart go as one write; the gaps keep their bytes', async () => {
    const thin = thinFiles(16 * KiB);
    const old = pattern(256 * KiB, 1);
    let d = await thin.open();
    await d.write(0, old);
    await d.close();
    d = await thin.open(); // nothing cached: the gaps are read from the store
    const model = old.slice();
    const put = async (offset: number, seed: number) => {
      const bytes = pattern(BS, seed);
      model.set(bytes, offset);
      await d.write(offset, bytes);
    };
    const w = await storeWritesOf(d, async () => {
      await put(0, 2);
      await put(2 * BS, 3); // one block apart
      await put(5 * BS, 4); // two blocks apart
      await d.flush();
    });
    expect(w).toEqual({ writes: 1, bytes: 6 * BS, gapBytes: 3 * BS });
    await d.close();
    d = await thin.open();
    sameBytes(await d.read(0, 256 * KiB), model, 'disk after reopen');
  });

  it('a gap wider than mergeGap is not filled', async () => {
    const thin = thinFiles(8 * KiB);
    let d = await thin.open();
    await d.write(0, pattern(256 * KiB, 1));
    await d.close();
    d = await thin.open();
    const w = await storeWritesOf(d, async () => {
      await d.write(0, pattern(BS, 2));
      await d.write(4 * BS, pattern(BS, 3)); // three blocks apart: 12 KiB > 8 KiB
      await d.flush();
    });
    expect(w).toEqual({ writes: 2, bytes: 2 * BS, gapBytes: 0 });
    await d.close();
  });

  it('a gap the cluster map has not allocated is neither filled nor allocated', async () => {
    const thin = thinFiles(128 * KiB);
    const d = await thin.open();
    const w = await storeWritesOf(d, async () => {
      await d.write(60 * KiB, pattern(BS, 2)); // cluster 0
      await d.write(132 * KiB, pattern(BS, 3)); // cluster 2: cluster 1 between stays a hole
      await d.flush();
    });
    expect(w.writes).toBe(2);
    expect(await d.blockStatus(64 * KiB, 64 * KiB)).toEqual([
      { offset: 64 * KiB, length: 64 * KiB, state: 'unallocated' },
    ]);
    expect((await d.stats()).allocatedBytes, 'two clusters, not three').toBe(2 * 64 * KiB);
    await d.close();
  });

  it('a dirty block in a gap goes along, from the cache, and is clean afterwards', async () => {
    const thin = thinFiles(16 * KiB);
    let d = await thin.open();
    await d.write(0, pattern(64 * KiB, 1));
    await d.close();
    // A cache of 8 blocks over a merging store writes back its 4 oldest
    // dirty blocks when it is full: 0, 2, 4 and 6, with block 1 (dirty,
    // newer) and blocks 3 and 5 (not cached) between them.
    d = await thin.open(8 * BS);
    const model = pattern(64 * KiB, 1);
    for (const [block, seed] of [
      [0, 10],
      [2, 11],
      [4, 12],
      [6, 13],
      [1, 14],
      [8, 15],
      [10, 16],
      [12, 17],
    ]) {
      const bytes = pattern(BS, seed);
      model.set(bytes, block * BS);
      await d.write(block * BS, bytes);
    }
    const w = await storeWritesOf(d, async () => {
      await d.write(14 * BS, pattern(BS, 18)); // the ninth block: room is made
    });
    model.set(pattern(BS, 18), 14 * BS);
    expect(w).toEqual({ writes: 1, bytes: 7 * BS, gapBytes: 2 * BS }); // blocks 0–6 as one write
    expect((await d.stats()).dirtyBytes, 'blocks 8, 10, 12 and 14').toBe(4 * BS);
    await d.close();
    d = await thin.open();
    sameBytes(await d.read(0, 64 * KiB), model, 'disk after reopen');
  });

  it('an overlay does not merge: its unallocated gaps read the base', async () => {
    const b = newBackingOf('overlay', SIZE);
    const d = await openOn(b);
    const w = await storeWritesOf(d, async () => {
      await d.write(0, pattern(BS, 2));
      await d.write(2 * BS, pattern(BS, 3));
      await d.flush();
    });
    expect(w.writes).toBe(2);
    await d.close();
  });

  it('crashes under the power model with merged write-backs: 0 violations in every mode', async () => {
    let merged = 0;
    for (const mode of CACHE_MODES) {
      for (let seed = 1; seed <= 6; seed++) {
        // Small writes in a small region, a cache of 8 blocks: write-backs merge often.
        const hardware = {
          data: new MemoryStore(undefined, { mergeGap: 32 * KiB }),
          meta: new MemoryStore(),
          map: new MemoryStore(),
        };
        const power = { off: false };
        const stores = await stackStores(hardware, {
          crashModel: 'power',
          deviceCacheSize: 16 * KiB,
          power,
          size: SIZE,
        });
        const d = await BlockDevice.open({ ...stores, size: SIZE, cache: mode, cacheSize: 8 * BS });
        const r = await runCrashTest(unplugged(d, power), {
          seed,
          size: 128 * KiB,
          initialMode: mode,
          requests: 120,
          crash: randomCrashPoint(seed, 120),
          onCrash: () => {
            power.off = true;
          },
        });
        merged += (await d.stats()).storeGapBytes;
        const frozen = new Uint8Array(128 * KiB);
        await (await stacked(hardware)).data.read(0, frozen);
        const report = await verifyDisk({ read: async () => frozen }, r.log, 128 * KiB);
        expect(report.violations, `${mode} seed ${seed}: ${JSON.stringify(report.details.slice(0, 3))}`).toBe(0);
      }
    }
    expect(merged, 'gaps were read to be filled').toBeGreaterThan(0);
  });
});
