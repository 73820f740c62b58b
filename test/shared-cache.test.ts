import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Disk } from '../src/client/disk';
import { BlockCache } from '../src/core/block-cache';
import { CACHE_MODES, type CacheMode } from '../src/core/types';
import { findSlot, SHARED_CTRL, sharedCacheViews } from '../src/protocol/shared-cache';
import { diskOverRing, durableDevice, pattern, sameBytes, state } from './helpers';

// The worker's block cache in shared memory (issue 12): the page serves a
// small read that hits it, with no crossing, under a sequence lock.

const KiB = 1024;
const BS = 4 * KiB;
const SIZE = 64 * BS;

/** Reads a Disk served on the page (its shared-cache reader's count). */
const servedOnPage = (disk: Disk) =>
  (disk as unknown as { sharedCache: { served: { reads: number } } }).sharedCache.served.reads;

describe('shared block cache: the index the page reads', () => {
  it('finds exactly the cached blocks, in their own slots, through inserts, removals and clears', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('insert' as const), block: fc.integer({ min: 0, max: 5000 }) }),
            fc.record({ op: fc.constant('remove' as const), block: fc.integer({ min: 0, max: 5000 }) }),
            fc.record({ op: fc.constant('big' as const), block: fc.constant(2 ** 40 + 7) }),
            fc.record({ op: fc.constant('clear' as const), block: fc.constant(0) }),
          ),
          { maxLength: 400 },
        ),
        (ops) => {
          const cache = new BlockCache(512, 32 * 512, { shared: true });
          const v = sharedCacheViews(cache.sharedBuffer as SharedArrayBuffer);
          const model = new Set<number>();
          for (const { op, block } of ops) {
            if (op === 'clear') {
              cache.clear();
              model.clear();
            } else if (op === 'remove') {
              cache.remove(block);
              model.delete(block);
            } else if (!model.has(block)) {
              if (cache.full) {
                const victim = cache.oldest() as number;
                cache.remove(victim);
                model.delete(victim);
              }
              cache.insert(block).fill(block & 0xff);
              model.add(block);
            }
          }
          for (const b of model) {
            const slot = findSlot(v, b);
            expect(slot, `block ${b}`).toBeGreaterThanOrEqual(0);
            // The slot the page finds is the cache's own memory for that block.
            const bytes = v.data.subarray(slot * 512, slot * 512 + 512);
            expect(bytes.byteOffset).toBe((cache.peek(b) as Uint8Array).byteOffset);
          }
          for (const b of [0, 1, 17, 4999, 5000, 2 ** 40 + 7]) {
            if (!model.has(b)) expect(findSlot(v, b), `block ${b} is not cached`).toBe(-1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** A Disk over both ends of the ring in one process, its device's cache shared as the worker's is. */
async function sharedDisk(cache: CacheMode, start = true) {
  const { dev } = await durableDevice({ size: SIZE, cache, cacheSize: 16 * BS, sharedCache: true });
  const seq = sharedCacheViews(dev.sharedCache as SharedArrayBuffer).ctrl;
  return { ...diskOverRing(dev, { start, sharedCache: dev.sharedCache, name: 'shared' }), dev, seq };
}

describe('shared block cache: reads served on the page', () => {
  it('a hit needs no worker; a miss, a read behind an unanswered call, or one while a request runs goes to the worker', async () => {
    const d = await sharedDisk('writeback', false);
    d.run();
    await d.disk.write(0, pattern(2 * BS, 1));
    await d.disk.write(2 * BS, pattern(BS, 2), { fua: true }); // answered by the worker: nothing unanswered after
    d.server.stop();
    await new Promise((r) => setTimeout(r, 5));
    // The worker is stopped: only the page can answer now.
    const hit = d.disk.read(100, BS + 50);
    expect(await state(hit), 'cached: served on the page').toBe('settled');
    sameBytes(await hit, pattern(2 * BS, 1).subarray(100, BS + 150));
    const into = new Uint8Array(BS);
    expect(await d.disk.readInto(2 * BS, into)).toBe(into);
    sameBytes(into, pattern(BS, 2));
    expect(await state(d.disk.read(10 * BS, 10)), 'not cached: the worker').toBe('pending');
    // Unanswered now (that read): the next hit waits its turn too.
    expect(await state(d.disk.read(0, 10)), 'behind an unanswered call').toBe('pending');
    // A write acknowledged early (in the ring, not yet taken): a read of its block after it must see it.
    const f = await sharedDisk('writeback');
    await f.disk.write(0, pattern(BS, 4));
    await f.disk.flush();
    await f.disk.read(0, BS); // cached, idle
    await f.disk.write(0, pattern(BS, 5)); // acknowledged at once
    sameBytes(await f.disk.read(0, BS), pattern(BS, 5), 'read after an early-acknowledged write');
    f.server.stop();
    const e = await sharedDisk('writeback');
    await e.disk.write(0, pattern(BS, 3));
    await e.disk.flush();
    Atomics.add(e.seq, SHARED_CTRL.seq, 1); // as if a SyncDisk's request were running
    e.server.stop();
    await new Promise((r) => setTimeout(r, 5));
    expect(await state(e.disk.read(0, 10)), 'while a request runs: the worker').toBe('pending');
  });

  for (const mode of CACHE_MODES) {
    it(`${mode}: reads match a model through writes (early or not), FUA, discards, flushes and mode switches; hits are counted`, async () => {
      let served = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              kind: fc.constantFrom('read', 'read', 'read', 'write', 'write', 'discard', 'flush', 'mode', 'settle'),
              // Mostly within the cache's 16 blocks: reads that hit.
              block: fc.integer({ min: 0, max: 18 }),
              within: fc.integer({ min: 0, max: BS - 1 }),
              length: fc.integer({ min: 1, max: 3 * BS }),
              fua: fc.boolean(),
              mode: fc.constantFrom(...CACHE_MODES),
              awaitIt: fc.boolean(),
            }),
            { minLength: 30, maxLength: 120 },
          ),
          async (ops) => {
            const d = await sharedDisk(mode);
            const model = new Uint8Array(SIZE);
            const pending: Promise<unknown>[] = [];
            for (const [i, o] of ops.entries()) {
              const offset = Math.min(o.block * BS + o.within, SIZE - 1);
              const length = Math.min(o.length, SIZE - offset);
              let p: Promise<unknown>;
              if (o.kind === 'read') {
                // Mostly within one block: a read the page can serve.
                const want = model.slice(offset, offset + Math.min(length, BS));
                const length1 = want.length;
                p = d.disk.read(offset, length1).then((got) => sameBytes(got, want, `op ${i}`));
              } else if (o.kind === 'write') {
                const data = pattern(length, i + 1);
                model.set(data, offset);
                p = d.disk.write(offset, data, { fua: o.fua });
              } else if (o.kind === 'discard') {
                model.fill(0, offset, offset + length);
                p = d.disk.discard(offset, length);
              } else if (o.kind === 'flush') {
                p = d.disk.flush();
              } else if (o.kind === 'settle') {
                // Everything answered: the next reads may be served on the page.
                p = Promise.all(pending);
              } else {
                p = d.disk.setCacheMode(o.mode);
              }
              pending.push(p);
              if (o.awaitIt) await p;
            }
            await Promise.all(pending);
            served += servedOnPage(d.disk);
            sameBytes(await d.disk.read(0, SIZE), model, 'final');
            d.server.stop();
          },
        ),
        { numRuns: 25 },
      );
      expect(served, 'the property exercised the page path').toBeGreaterThan(0);
      // Hits happen (and count): a cached block read back to back.
      const d = await sharedDisk(mode);
      await d.disk.write(0, pattern(BS, 9));
      await d.disk.flush();
      await d.disk.read(0, BS); // the worker reads it into the cache (modes that cache reads)
      const before = await d.disk.stats();
      for (let k = 0; k < 5; k++) sameBytes(await d.disk.read(0, BS), pattern(BS, 9));
      const after = await d.disk.stats();
      expect(after.reads - before.reads, 'every read counted').toBe(5);
      if (mode === 'none' || mode === 'directsync') expect(after.cacheHits - before.cacheHits).toBe(0);
      else expect(after.cacheHits - before.cacheHits, 'cache hits, on the page or not').toBe(5);
      d.server.stop();
      await new Promise((r) => setTimeout(r, 5));
      // With the worker stopped, only the page can answer: it does in the modes that cache reads.
      const alone = await state(d.disk.read(0, BS));
      expect(alone).toBe(mode === 'none' || mode === 'directsync' ? 'pending' : 'settled');
    });
  }
});
