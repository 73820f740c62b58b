// The block core alone, in Node over the memory store: no worker, no
// crossing, no OPFS. Beside `npm run bench` (the browser) and `npm run
// bench:floor` (the crossing with no webdisk code), it shows whether a
// regression is in the core. `npm run bench:core`.
import { bench, describe } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import type { CacheMode } from '../src/core/types';
import { MemoryStore } from '../src/stores/memory-store';

const MiB = 1 << 20;
const REGION = 256 * MiB;
const BLOCKS = REGION / 4096;

async function device(cache: CacheMode, cacheSize = 64 * MiB) {
  return BlockDevice.open({ data: new MemoryStore(), meta: new MemoryStore(), size: REGION, cache, cacheSize });
}

/** Random 4 KiB writes, `depth` issued together then awaited, `count` in all. */
async function randomWrites(dev: BlockDevice, depth: number, count: number, seed: number): Promise<void> {
  const buf = new Uint8Array(4096).fill(7);
  let x = seed;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % BLOCKS;
  };
  for (let i = 0; i < count; i += depth) {
    const batch: Promise<void>[] = [];
    for (let k = 0; k < depth; k++) batch.push(dev.write(next() * 4096, buf));
    await Promise.all(batch);
  }
}

describe('core: random 4 KiB writes, 4,096 per iteration', () => {
  for (const [mode, depth, cacheSize, label] of [
    ['writeback', 32, 64 * MiB, 'writeback, QD32, 256 MiB region over a 64 MiB cache (evicts)'],
    ['writeback', 32, 512 * MiB, 'writeback, QD32, the region fits the cache'],
    ['writeback', 1, 64 * MiB, 'writeback, QD1 (evicts)'],
    ['writethrough', 32, 64 * MiB, 'writethrough, QD32 (group commit)'],
    ['writethrough', 1, 64 * MiB, 'writethrough, QD1'],
  ] as const) {
    let dev: BlockDevice;
    let seed = 1;
    bench(label, async () => randomWrites(dev, depth, 4096, seed++), {
      time: 1000,
      setup: async () => {
        dev = await device(mode, cacheSize);
        // Warm: the cache full, so every write past it evicts.
        await randomWrites(dev, 32, 32 * 1024, 99);
      },
      teardown: async () => {
        await dev.close();
      },
    });
  }
});
