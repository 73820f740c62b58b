import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { decodeMeta } from '../src/core/metadata';
import type { BlockStore } from '../src/core/store';
import { CACHE_MODES, type CacheMode } from '../src/core/types';
import { MemoryStore } from '../src/stores/memory-store';
import {
  type Backing,
  type MemoryBacking,
  newBacking,
  newBackingOf,
  openOn,
  pattern,
  rejectsWith,
  STORE_KINDS,
  sameBytes,
} from './helpers';

const MiB = 1024 * 1024;

describe.each(STORE_KINDS)('open and metadata (%s)', (kind) => {
  it('creates with a size, reopens without one, and remembers a clean close', async () => {
    const b = newBackingOf(kind);
    const d1 = await openOn(b, { size: MiB });
    expect(d1.uncleanShutdown).toBe(false);
    expect(d1.size).toBe(MiB);
    expect(d1.blockSize).toBe(4096);
    await d1.write(0, pattern(100, 1));
    await d1.close();
    const d2 = await openOn(b);
    expect(d2.size).toBe(MiB);
    expect(d2.uncleanShutdown).toBe(false);
    sameBytes(await d2.read(0, 100), pattern(100, 1));
    await d2.close();
  });

  it('reports an unclean shutdown when the previous session never closed', async () => {
    const b = newBackingOf(kind);
    const d1 = await openOn(b, { size: MiB, cache: 'writethrough' });
    await d1.write(512, pattern(512, 2));
    // The worker dies here: no close(). The flag was durable before the write.
    const d2 = await openOn(b);
    expect(d2.uncleanShutdown).toBe(true);
    sameBytes(await d2.read(512, 512), pattern(512, 2));
    await d2.close();
    expect((await openOn(b)).uncleanShutdown).toBe(false);
  });

  it('rejects a missing disk without size, and a size mismatch', async () => {
    await rejectsWith(openOn(newBackingOf(kind)), 'EINVAL');
    const b = newBackingOf(kind);
    await (await openOn(b, { size: MiB })).close();
    await rejectsWith(openOn(b, { size: 2 * MiB }), 'EINVAL');
    await rejectsWith(openOn(newBacking(), { size: 1000 }), 'EINVAL');
    await rejectsWith(openOn(newBacking(), { size: MiB, blockSize: 3000 }), 'EINVAL');
    await rejectsWith(openOn(newBacking(), { size: MiB, cacheSize: 100 }), 'EINVAL');
    await rejectsWith(openOn(newBacking(), { size: MiB, cache: 'volatile' as CacheMode }), 'EINVAL');
  });
});

describe('metadata and allocation on the memory store', () => {
  it('survives a torn metadata slot and reports ECORRUPT when both are bad', async () => {
    const b = newBacking();
    await (await openOn(b, { size: MiB })).close();
    // Tear the newest slot: the older one must win.
    const slots = new Uint8Array(1024);
    b.meta.read(0, slots);
    const [a, c] = [decodeMeta(slots.subarray(0, 512)), decodeMeta(slots.subarray(512))];
    expect(a && c).toBeTruthy();
    const newest = (a?.generation ?? 0) > (c?.generation ?? 0) ? 0 : 512;
    b.meta.write(newest + 20, new Uint8Array(20).fill(0xee));
    expect(
      decodeMeta(
        (() => {
          const t = new Uint8Array(512);
          b.meta.read(newest, t);
          return t;
        })(),
      ),
    ).toBeUndefined();
    const d = await openOn(b);
    expect(d.size).toBe(MiB);
    await d.close();
    b.meta.write(0, new Uint8Array(1024).fill(0xab));
    await rejectsWith(openOn(b), 'ECORRUPT');
  });

  it('opens a 64 GiB disk lazily: the store holds only what was written', async () => {
    const b = newBacking();
    const size = 64 * 1024 * MiB;
    const d = await openOn(b, { size, cache: 'none' });
    await d.write(size - 4096, pattern(4096, 3));
    await d.write(0, pattern(10, 4));
    sameBytes(await d.read(size - 4096, 4096), pattern(4096, 3));
    sameBytes(await d.read(size / 2, 4096), new Uint8Array(4096));
    expect(b.data.allocatedBytes()).toBeLessThanOrEqual(2 * 64 * 1024);
    await d.close();
  });
});

const KIND_MODES = STORE_KINDS.flatMap((kind) => CACHE_MODES.map((mode) => [kind, mode] as const));

describe.each(KIND_MODES)('%s store, cache mode %s', (kind, mode) => {
  it('writes, reads, flushes, discards, closes and reopens with data intact', async () => {
    const b = newBackingOf(kind);
    const d = await openOn(b, { size: 4 * MiB, cache: mode, cacheSize: 64 * 1024 });
    const model = new Uint8Array(4 * MiB);
    const put = async (off: number, data: Uint8Array, fua = false) => {
      await d.write(off, data, { fua });
      model.set(data, off);
    };
    await put(0, pattern(4096, 1));
    await put(4095, pattern(3, 2)); // across a block boundary
    await put(10_000, pattern(300_000, 3)); // much larger than the cache
    await put(123, pattern(77, 4), true);
    sameBytes(await d.read(0, 8192), model.subarray(0, 8192));
    sameBytes(await d.read(9000, 302_000), model.subarray(9000, 311_000));
    await d.flush();
    await d.discard(20_000, 50_000);
    model.fill(0, 20_000, 70_000);
    sameBytes(await d.read(0, 400_000), model.subarray(0, 400_000));
    expect(d.cacheMode).toBe(mode);
    const s = await d.stats();
    expect(s.writes).toBe(4);
    expect(s.fuaWrites).toBe(1);
    expect(s.flushes).toBe(1);
    expect(s.discards).toBe(1);
    expect(s.bytesWritten).toBe(4096 + 3 + 300_000 + 77);
    expect(s.cachedBytes).toBeLessThanOrEqual(64 * 1024);
    await d.close();
    await rejectsWith(d.read(0, 1), 'ECLOSED');
    const again = await openOn(b, { cache: mode });
    expect(again.uncleanShutdown).toBe(false);
    sameBytes(await again.read(0, 400_000), model.subarray(0, 400_000));
    await again.close();
  });

  it('takes requests issued without awaiting in issue order', async () => {
    const d = await openOn(newBackingOf(kind), { size: MiB, cache: mode, cacheSize: 16 * 1024 });
    const ops: Promise<unknown>[] = [];
    const reads: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 50; i++) {
      ops.push(d.write((i % 7) * 1000, pattern(3000, i)));
      reads.push(d.read((i % 7) * 1000, 3000));
      if (i % 10 === 9) ops.push(d.flush());
    }
    await Promise.all(ops);
    const got = await Promise.all(reads);
    for (const [i, g] of got.entries()) sameBytes(g, pattern(3000, i));
    await d.close();
  });

  it('rejects every invalid call with the right code and keeps working', async () => {
    const d = await openOn(newBackingOf(kind), { size: MiB, cache: mode });
    const bad: [Promise<unknown>, string][] = [
      [d.read(-1, 10), 'EINVAL'],
      [d.read(Number.NaN, 10), 'EINVAL'],
      [d.read(1.5, 10), 'EINVAL'],
      [d.read(2 ** 53, 10), 'EINVAL'],
      [d.read(0, -5), 'EINVAL'],
      [d.read(0, 0.5), 'EINVAL'],
      [d.read('0' as unknown as number, 1), 'EINVAL'],
      [d.read(MiB - 1, 2), 'ERANGE'],
      [d.read(MiB + 1, 0), 'ERANGE'],
      [d.write(MiB, new Uint8Array(1)), 'ERANGE'],
      [d.write(0, [1, 2] as unknown as Uint8Array), 'EINVAL'],
      [d.write(0, new ArrayBuffer(4) as unknown as Uint8Array), 'EINVAL'],
      [d.write(-4, new Uint8Array(1)), 'EINVAL'],
      [d.discard(0, MiB + 1), 'ERANGE'],
      [d.discard(Number.POSITIVE_INFINITY, 1), 'EINVAL'],
      [d.setCacheMode('fast' as CacheMode), 'EINVAL'],
    ];
    for (const [p, code] of bad) await rejectsWith(p, code);
    await d.write(7, pattern(9, 9));
    sameBytes(await d.read(7, 9), pattern(9, 9));
    expect(d.cacheMode).toBe(mode);
    await d.close();
    await rejectsWith(d.write(0, new Uint8Array(1)), 'ECLOSED');
    await rejectsWith(d.flush(), 'ECLOSED');
    await rejectsWith(d.close(), 'ECLOSED');
  });
});

describe.each(STORE_KINDS)('the policy, as seen by the store counters (%s)', (kind) => {
  async function run(mode: CacheMode, body: (d: BlockDevice) => Promise<void>) {
    const b = newBackingOf(kind);
    const d = await openOn(b, { size: 16 * MiB, cache: mode });
    await body(d);
    return { stats: await d.stats(), d, b };
  }
  /** Syncs that reached the memory store itself (IndexedDB has no such counter). */
  const syncCount = (b: Backing) => (b.kind === 'memory' ? (b as MemoryBacking).data.syncCount : undefined);
  const tenWrites = async (d: BlockDevice) => {
    for (let i = 0; i < 10; i++) await d.write(i * 8192, pattern(4096, i));
  };

  it('writethrough and directsync sync once per write', async () => {
    for (const mode of ['writethrough', 'directsync'] as const) {
      const { stats } = await run(mode, async (d) => {
        await tenWrites(d);
        await d.flush(); // nothing left to do
      });
      expect(stats.storeWrites).toBe(10);
      expect(stats.storeSyncs).toBe(10);
      expect(stats.dirtyBytes).toBe(0);
    }
  });

  it('writethrough serves reads from its cache; directsync and none do not cache', async () => {
    const wt = await run('writethrough', async (d) => {
      await d.read(0, 4096);
      await d.read(0, 4096);
    });
    expect(wt.stats.cacheHits).toBe(1);
    expect(wt.stats.cacheMisses).toBe(1);
    for (const mode of ['none', 'directsync'] as const) {
      const { stats } = await run(mode, async (d) => {
        await tenWrites(d);
        await d.read(0, 4096);
        await d.read(0, 4096);
      });
      expect(stats.cachedBytes).toBe(0);
      expect(stats.storeReads).toBe(2);
    }
  });

  it('none writes straight to the store and syncs only on flush or FUA', async () => {
    const { stats } = await run('none', async (d) => {
      await tenWrites(d);
      await d.flush();
      await d.flush(); // no new work: no second sync
      await d.write(0, pattern(10, 1), { fua: true });
    });
    expect(stats.storeWrites).toBe(11);
    expect(stats.storeSyncs).toBe(2);
  });

  it('writeback acknowledges from cache, writes back coalesced and syncs once per flush with work', async () => {
    const { stats, b } = await run('writeback', async (d) => {
      for (let i = 15; i >= 0; i--) await d.write(i * 4096, pattern(4096, i)); // 16 contiguous blocks, backwards
      const before = await d.stats();
      expect(before.storeWrites).toBe(0);
      expect(before.dirtyBytes).toBe(16 * 4096);
      await d.flush();
      await d.flush();
    });
    expect(stats.storeWrites).toBe(1); // one coalesced run
    expect(stats.storeBytesWritten).toBe(16 * 4096);
    expect(stats.storeSyncs).toBe(1);
    expect(stats.dirtyBytes).toBe(0);
    if (kind === 'memory') expect(syncCount(b)).toBe(1);
  });

  it('writeback forces a FUA write to the store and syncs it', async () => {
    const { stats } = await run('writeback', async (d) => {
      await d.write(0, pattern(4096, 1));
      await d.write(100_000, pattern(100, 2), { fua: true });
    });
    expect(stats.fuaWrites).toBe(1);
    expect(stats.storeWrites).toBe(1); // only the FUA block, not the other dirty one
    expect(stats.storeSyncs).toBe(1);
    expect(stats.dirtyBytes).toBe(4096);
  });

  it('unsafe never syncs before close, even for flush and FUA, and close still syncs', async () => {
    const { stats, d, b } = await run('unsafe', async (d) => {
      await tenWrites(d);
      await d.flush();
      await d.write(0, pattern(1, 1), { fua: true });
      await d.flush();
    });
    expect(stats.storeSyncs).toBe(0);
    expect(stats.ignoredFlushes).toBe(3);
    expect(stats.storeWrites).toBeGreaterThan(0); // flush still pushed data down (flush_to_os)
    if (kind === 'memory') expect(syncCount(b)).toBe(0);
    await d.close();
    if (kind === 'memory') expect(syncCount(b)).toBe(1);
  });

  it('switching to a mode without a write cache flushes first', async () => {
    for (const to of ['none', 'writethrough', 'directsync'] as const) {
      const { d } = await run('unsafe', tenWrites);
      await d.setCacheMode(to);
      const s = await d.stats();
      expect(s.dirtyBytes).toBe(0);
      expect(s.storeSyncs).toBe(1);
      if (to !== 'writethrough') expect(s.cachedBytes).toBe(0);
      expect(d.cacheMode).toBe(to);
      sameBytes(await d.read(8192, 4096), pattern(4096, 1));
    }
    const { d } = await run('writeback', tenWrites);
    await d.setCacheMode('unsafe'); // write cache to write cache: no flush needed
    expect((await d.stats()).storeSyncs).toBe(0);
  });
});

describe.each(STORE_KINDS)('bounded memory (%s)', (kind) => {
  it('never caches more than cacheSize, whatever is written or read', async () => {
    const b = newBackingOf(kind);
    const d = await openOn(b, { size: 32 * MiB, cacheSize: 256 * 1024 });
    for (let i = 0; i < 200; i++) {
      await d.write(((i * 7919) % 8000) * 4096, pattern(4096 + (i % 3) * 1000, i));
      if (i % 50 === 0) await d.read(0, 2 * MiB);
    }
    await d.write(MiB, pattern(4 * MiB, 5));
    const s = await d.stats();
    expect(s.cachedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(s.peakCachedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(s.cacheCapacityBytes).toBe(256 * 1024);
    sameBytes(await d.read(MiB, 4 * MiB), pattern(4 * MiB, 5));
    await d.close();
  });
});

/** A store that fails writes on demand, as a full quota would. */
class FlakyStore extends MemoryStore implements BlockStore {
  failWrites = false;
  override write(offset: number, src: Uint8Array): void {
    if (this.failWrites) {
      const e = new Error('quota');
      e.name = 'QuotaExceededError';
      throw e;
    }
    super.write(offset, src);
  }
}

describe('store failures', () => {
  it('a failed write-back reports ENOSPC and loses nothing acknowledged', async () => {
    const data = new FlakyStore();
    const meta = new MemoryStore();
    const d = await BlockDevice.open({ data, meta, size: MiB });
    await d.write(0, pattern(10_000, 1));
    data.failWrites = true;
    await rejectsWith(d.flush(), 'ENOSPC');
    sameBytes(await d.read(0, 10_000), pattern(10_000, 1));
    expect((await d.stats()).dirtyBytes).toBeGreaterThan(0);
    data.failWrites = false;
    await d.flush();
    expect((await d.stats()).dirtyBytes).toBe(0);
    await d.close();
    sameBytes(await (await BlockDevice.open({ data, meta })).read(0, 10_000), pattern(10_000, 1));
  });

  it('a full quota at open still opens an existing disk for reading; writes wait for space', async () => {
    const data = new FlakyStore();
    const meta = new FlakyStore();
    const first = await BlockDevice.open({ data, meta, size: MiB, cache: 'none' });
    await first.write(4096, pattern(100, 7));
    await first.close();
    meta.failWrites = true; // the unclean flag cannot be written: no space
    const d = await BlockDevice.open({ data, meta, cache: 'none' });
    expect(d.uncleanShutdown).toBe(false);
    sameBytes(await d.read(4096, 100), pattern(100, 7));
    await rejectsWith(d.write(0, pattern(10, 1)), 'ENOSPC');
    await rejectsWith(d.flush(), 'ENOSPC');
    await rejectsWith(d.discard(0, 4096), 'ENOSPC');
    expect(data.syncCount).toBe(1); // nothing of this session reached the data store
    meta.failWrites = false; // space again: the flag goes first, then the write
    await d.write(0, pattern(10, 1));
    sameBytes(await d.read(0, 10), pattern(10, 1));
    const crashed = await BlockDevice.open({ data, meta });
    expect(crashed.uncleanShutdown).toBe(true);
    sameBytes(await crashed.read(0, 10), pattern(10, 1));
    // A new disk cannot be created without its metadata.
    const full = new FlakyStore();
    full.failWrites = true;
    await rejectsWith(BlockDevice.open({ data: new MemoryStore(), meta: full, size: MiB }), 'ENOSPC');
  });

  it('a failed direct write rejects that write only', async () => {
    const data = new FlakyStore();
    const d = await BlockDevice.open({ data, meta: new MemoryStore(), size: MiB, cache: 'directsync' });
    await d.write(0, pattern(100, 1));
    data.failWrites = true;
    const err = await d.write(200, pattern(100, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskError);
    expect((err as DiskError).code).toBe('ENOSPC');
    data.failWrites = false;
    sameBytes(await d.read(0, 100), pattern(100, 1));
  });
});
