// The core API in a real browser over real storage (every engine × backend
// project): the five cache modes end to end, unaligned and concurrent I/O
// against a model, discard, runtime mode switches, lazy growth of a large
// disk, listing and deleting.
import type { DiskStats } from '../src/index';
import { ENGINE_FACTS } from './engines/facts';
import { expect, playwrightPage, test } from './fixtures';
import { installPageHelpers } from './helpers';

const MODES = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'] as const;
type Mode = (typeof MODES)[number];

test.beforeEach(async ({ harness }) => installPageHelpers(harness));

/**
 * What each mode's policy shows in the stats over the sequence the test
 * runs: write A, write B, flush, flush, FUA write C, flush. `syncs[i]` is
 * how many store syncs step i caused; `dirty` is the dirty bytes after the
 * two plain writes (4 KiB blocks: A touches two, B one).
 */
const POLICY: Record<Mode, { syncs: number[]; dirty: number; ignored: number[]; cachesReads: boolean }> = {
  // Writes stay in the cache; a flush with dirty data writes back and syncs once; FUA syncs.
  writeback: { syncs: [0, 0, 1, 0, 1, 0], dirty: 3 * 4096, ignored: [0, 0, 0, 0, 0, 0], cachesReads: true },
  // Writes go to the store unsynced; a flush syncs once; FUA syncs.
  none: { syncs: [0, 0, 1, 0, 1, 0], dirty: 0, ignored: [0, 0, 0, 0, 0, 0], cachesReads: false },
  // Every write is synced before it is acknowledged; flushes have nothing left to do.
  writethrough: { syncs: [1, 1, 0, 0, 1, 0], dirty: 0, ignored: [0, 0, 0, 0, 0, 0], cachesReads: true },
  directsync: { syncs: [1, 1, 0, 0, 1, 0], dirty: 0, ignored: [0, 0, 0, 0, 0, 0], cachesReads: false },
  // Never a sync before close: every flush and the FUA write count as ignored.
  unsafe: { syncs: [0, 0, 0, 0, 0, 0], dirty: 3 * 4096, ignored: [0, 0, 1, 2, 3, 4], cachesReads: true },
};

for (const mode of MODES) {
  test(`${mode}: write, read, flush, close, reopen keeps the data; stats show the policy`, async ({
    harness,
    expectedBackend,
  }) => {
    const r = await harness.evaluate(async (mode) => {
      const { t, webdisk } = window;
      const name = `core-mode-${mode}`;
      await webdisk.deleteDisk(name);
      const disk = await webdisk.openDisk({ name, size: 1 << 20, cache: mode });
      const opened = {
        size: disk.size,
        backend: disk.backend,
        blockSize: disk.blockSize,
        cacheMode: disk.cacheMode,
        unclean: disk.uncleanShutdown,
      };
      const a = t.pattern(5000, 1); // 1000..6000: blocks 0 and 1
      const b = t.pattern(100, 2); // 20000..20100: block 4
      const c = t.pattern(512, 3); // 40960..41472: block 10
      const stats = [await disk.stats()];
      const step = async (p: Promise<unknown>) => {
        await p;
        stats.push(await disk.stats());
      };
      await step(disk.write(1000, a));
      await step(disk.write(20000, b));
      const readA = t.diff(await disk.read(1000, 5000), a);
      const afterRead = await disk.stats();
      await step(disk.flush());
      await step(disk.flush());
      await step(disk.write(40960, c, { fua: true }));
      await step(disk.flush());
      const before = [t.diff(await disk.read(1000, 5000), a), t.diff(await disk.read(20000, 100), b)];
      await disk.close();

      const again = await webdisk.openDisk({ name, cache: mode });
      const reopened = { size: again.size, cacheMode: again.cacheMode, unclean: again.uncleanShutdown };
      const after = [
        t.diff(await again.read(1000, 5000), a),
        t.diff(await again.read(20000, 100), b),
        t.diff(await again.read(40960, 512), c),
        t.diff(await again.read(0, 1000), new Uint8Array(1000)),
        t.diff(await again.read(6000, 14000), new Uint8Array(14000)),
      ];
      await again.close();
      await webdisk.deleteDisk(name);
      return { opened, readA, afterRead, stats, before, reopened, after };
    }, mode);

    const policy = POLICY[mode];
    expect(r.opened).toEqual({
      size: 1 << 20,
      backend: expectedBackend,
      blockSize: 4096,
      cacheMode: mode,
      unclean: false,
    });
    expect(r.readA).toBe('');
    expect(r.before).toEqual(['', '']);
    expect(r.reopened).toEqual({ size: 1 << 20, cacheMode: mode, unclean: false });
    expect(r.after).toEqual(['', '', '', '', '']);

    const s = r.stats;
    const syncs = s.slice(1).map((x, i) => x.storeSyncs - s[i].storeSyncs);
    expect(syncs, 'store syncs caused by: write, write, flush, flush, FUA write, flush').toEqual(policy.syncs);
    expect(s.slice(1).map((x) => x.ignoredFlushes)).toEqual(policy.ignored);
    expect(s[2].dirtyBytes, 'dirty bytes after two plain writes').toBe(policy.dirty);
    expect(s[3].dirtyBytes, 'dirty bytes after a flush').toBe(0);
    expect(s[6]).toMatchObject({ writes: 3, flushes: 3, fuaWrites: 1, bytesWritten: 5612, dirtyBytes: 0 });
    if (policy.dirty > 0) {
      // A write cache: nothing reached the store before the first flush.
      expect(s[2].storeWrites).toBe(0);
      expect(s[3].storeWrites).toBeGreaterThan(0);
    } else {
      // No write cache: each write reached the store at once, and nothing was ever dirty.
      expect(s[1].storeWrites).toBe(1);
      expect(s[2].storeWrites).toBe(2);
      expect(s.map((x) => x.dirtyBytes)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    }
    if (policy.cachesReads) {
      expect(r.afterRead.cachedBytes).toBeGreaterThan(0);
    } else {
      expect(r.afterRead.cachedBytes, 'direct modes bypass the cache').toBe(0);
      expect(r.afterRead.cacheHits).toBe(0);
    }
    if (mode === 'unsafe') expect(s[6].storeSyncs, 'unsafe never syncs before close').toBe(0);
  });
}

test('unaligned, multi-block and concurrent I/O match a model, in every mode', async ({ harness }) => {
  const results = await harness.evaluate(async (modes) => {
    const { t, webdisk } = window;
    const SIZE = 64 * 1024;
    const BS = 512;
    const out: { mode: string; problems: string[]; stats: DiskStats }[] = [];
    for (const mode of modes) {
      const name = `core-model-${mode}`;
      await webdisk.deleteDisk(name);
      // A cache of 4 blocks: most requests are larger than the whole cache.
      const disk = await webdisk.openDisk({ name, size: SIZE, cache: mode, blockSize: BS, cacheSize: 4 * BS });
      const model = new Uint8Array(SIZE);
      const problems: string[] = [];
      const write = async (offset: number, data: Uint8Array, fua = false) => {
        model.set(data, offset);
        await disk.write(offset, data, { fua });
      };
      const check = async (offset: number, length: number, what: string) => {
        const d = t.diff(await disk.read(offset, length), model.subarray(offset, offset + length));
        if (d) problems.push(`${what}: read(${offset}, ${length}): ${d}`);
      };

      // Odd offsets and lengths across block boundaries.
      await write(777, t.pattern(5000, 11)); // larger than the cache, starts and ends mid-block
      await write(511, t.pattern(3, 12)); // straddles one boundary
      await write(SIZE - 1, t.pattern(1, 13)); // the last byte
      await write(4095, t.pattern(2, 14));
      await check(0, SIZE, 'after unaligned writes');
      await check(511, 3, 'straddling read');
      await check(776, 5002, 'odd read');

      // A read that spans uncached blocks and then a cached one: blocks 0-9
      // are not cached, block 10 is the least recently used of four cached blocks.
      await disk.flush();
      for (const b of [10, 20, 21, 22]) await disk.read(b * BS + 7, 1);
      await check(0, 11 * BS, 'uncached blocks then a cached one');
      for (const b of [30, 31, 32, 33]) await disk.read(b * BS, 1);
      await disk.read(34 * BS, 1); // cache: 31, 32, 33, 34
      await check(31 * BS + 100, 10 * BS, 'cached blocks then uncached ones');
      await disk.read(30 * BS, 1); // cache: 39, 40, 41, 30
      await check(25 * BS + 3, 12 * BS, 'uncached, cached, uncached');

      // A random walk of writes, reads, discards and flushes.
      const rnd = t.rng(mode.length * 7919);
      const pick = (n: number) => Math.floor(rnd() * n);
      for (let i = 0; i < 150; i++) {
        const op = rnd();
        const offset = pick(SIZE);
        const length = Math.min(SIZE - offset, 1 + pick(3000));
        if (op < 0.45) await write(offset, t.pattern(length, 1000 + i), rnd() < 0.1);
        else if (op < 0.8) await check(offset, length, `random step ${i}`);
        else if (op < 0.9) {
          model.fill(0, offset, offset + length);
          await disk.discard(offset, length);
        } else await disk.flush();
      }
      await check(0, SIZE, 'after the random walk');

      // Many requests at once, not awaited: each read sees exactly the writes issued before it.
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 60; i++) {
        const offset = pick(SIZE - 2048);
        const length = 1 + pick(2048);
        if (i % 2 === 0) {
          const data = t.pattern(length, 5000 + i);
          model.set(data, offset);
          pending.push(disk.write(offset, data));
        } else {
          const expected = model.slice(offset, offset + length);
          pending.push(
            disk.read(offset, length).then((got) => {
              const d = t.diff(got, expected);
              if (d) problems.push(`concurrent read #${i} (${offset}, ${length}): ${d}`);
            }),
          );
        }
      }
      await Promise.all(pending);
      await check(0, SIZE, 'after concurrent requests');
      const stats = await disk.stats();
      await disk.close();

      const again = await webdisk.openDisk({ name });
      const d = t.diff(await again.read(0, SIZE), model);
      if (d) problems.push(`after reopen: ${d}`);
      await again.close();
      await webdisk.deleteDisk(name);
      out.push({ mode, problems, stats });
    }
    return out;
  }, MODES);

  expect(Object.fromEntries(results.map((r) => [r.mode, r.problems]))).toEqual(
    Object.fromEntries(MODES.map((m) => [m, []])),
  );
  for (const r of results) {
    // The cache stayed within its 4 blocks, and it was used where the mode has one.
    expect(r.stats.peakCachedBytes, r.mode).toBeLessThanOrEqual(4 * 512);
  }
  for (const mode of ['writeback', 'writethrough', 'unsafe']) {
    const s = results.find((r) => r.mode === mode)!.stats;
    expect(s.cacheHits, mode).toBeGreaterThan(0);
    expect(s.cacheMisses, mode).toBeGreaterThan(0);
  }
});

test("write() copies the caller's buffer at once: mutating it before awaiting changes nothing", async ({ harness }) => {
  const results = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const out: Record<string, string[]> = {};
    for (const mode of ['writeback', 'none'] as const) {
      const name = `core-copy-${mode}`;
      await webdisk.deleteDisk(name);
      const disk = await webdisk.openDisk({ name, size: 1 << 20, cache: mode });
      const problems: string[] = [];

      // One write, buffer scribbled over right after the call.
      const data = t.pattern(3000, 1);
      const keep = data.slice();
      const w = disk.write(100, data);
      data.fill(0xee);
      await w;
      const d1 = t.diff(await disk.read(100, 3000), keep);
      if (d1) problems.push(`single write: ${d1}`);

      // One reused buffer for many writes in flight (what an emulator does).
      const buf = new Uint8Array(512);
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 8; i++) {
        buf.fill(i + 1);
        writes.push(disk.write(8192 + i * 512, buf));
      }
      buf.fill(0);
      await Promise.all(writes);
      const got = await disk.read(8192, 8 * 512);
      for (let i = 0; i < 8; i++) {
        const wrong = got.subarray(i * 512, (i + 1) * 512).findIndex((x) => x !== i + 1);
        if (wrong >= 0) problems.push(`reused buffer, write ${i}: byte ${wrong} is ${got[i * 512 + wrong]}`);
      }

      // A view into a larger buffer writes exactly its own bytes.
      const big = t.pattern(100, 2);
      const view = big.subarray(10, 30);
      await disk.write(20000, view);
      const d3 = t.diff(await disk.read(19999, 22), new Uint8Array([0, ...big.subarray(10, 30), 0]));
      if (d3) problems.push(`subarray write: ${d3}`);

      await disk.close();
      await webdisk.deleteDisk(name);
      out[mode] = problems;
    }
    return out;
  });
  expect(results).toEqual({ writeback: [], none: [] });
});

test('allocBuffer: writes from lent memory and reads into it match a model in every mode, survive a reopen; bad sizes are EINVAL', async ({
  harness,
}) => {
  const results = await harness.evaluate(async (modes) => {
    const { t, webdisk } = window;
    const out: Record<string, string[]> = {};
    for (const mode of modes) {
      const name = `core-lent-${mode}`;
      await webdisk.deleteDisk(name);
      const size = 8 << 20;
      let disk = await webdisk.openDisk({ name, size, cache: mode });
      const problems: string[] = [];
      const model = new Uint8Array(size);
      const lent = await disk.allocBuffer(3 << 20);
      if (disk.transportKind === 'shared-memory' && !(lent.buffer instanceof SharedArrayBuffer)) {
        problems.push('not shared memory');
      }
      // Big (unsplit) and small, unaligned, from parts of the buffer, several in flight, beside plain writes.
      lent.set(t.pattern(lent.length, 1));
      const writes = [
        disk.write(12345, lent.subarray(0, 2 << 20)),
        disk.write(3 << 20, lent.subarray(2 << 20, (2 << 20) + 777)),
        disk.write(5 << 20, t.pattern(4096, 2)),
      ];
      model.set(lent.subarray(0, 2 << 20), 12345);
      model.set(lent.subarray(2 << 20, (2 << 20) + 777), 3 << 20);
      model.set(t.pattern(4096, 2), 5 << 20);
      await Promise.all(writes);
      const into = (await disk.allocBuffer(size)).subarray(0, size);
      if ((await disk.readInto(0, into)) !== into) problems.push('readInto did not resolve with its buffer');
      const d1 = t.diff(into, model);
      if (d1) problems.push(`read into lent memory: ${d1}`);
      await disk.close();
      disk = await webdisk.openDisk({ name, cache: mode });
      const d2 = t.diff(await disk.read(0, size), model);
      if (d2) problems.push(`after reopen: ${d2}`);
      for (const bad of [0, -1, 1.5, (256 << 20) + 1, Number.NaN]) {
        const code = await disk.allocBuffer(bad).then(
          () => 'resolved',
          (e: { code?: string }) => e.code,
        );
        if (code !== 'EINVAL') problems.push(`allocBuffer(${bad}): ${code}`);
      }
      await disk.close();
      const closed = await disk.allocBuffer(10).then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
      if (closed !== 'ECLOSED') problems.push(`allocBuffer after close: ${closed}`);
      await webdisk.deleteDisk(name);
      out[mode] = problems;
    }
    return out;
  }, MODES);
  expect(results).toEqual(Object.fromEntries(MODES.map((m) => [m, []])));
});

test('cache hits are served on the page (shared memory): pageReads counts them in modes that cache reads, never in none', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const out: Record<string, { pageReads: number; ok: boolean; shared: boolean }> = {};
    for (const mode of ['writeback', 'writethrough', 'none'] as const) {
      const name = `core-page-${mode}`;
      await webdisk.deleteDisk(name);
      const disk = await webdisk.openDisk({ name, size: 1 << 20, cache: mode });
      const data = t.pattern(3 * 4096, 7);
      await disk.write(4096, data);
      await disk.flush();
      await disk.read(4096, data.length); // in the worker's cache now (modes that cache reads)
      const before = await disk.stats();
      let ok = true;
      const into = new Uint8Array(5000);
      for (let i = 0; i < 10; i++) {
        ok &&= t.diff(await disk.readInto(4096 + 100 * i, into), data.subarray(100 * i, 100 * i + 5000)) === '';
      }
      const after = await disk.stats();
      await disk.close();
      await webdisk.deleteDisk(name);
      out[mode] = { pageReads: after.pageReads - before.pageReads, ok, shared: disk.transportKind === 'shared-memory' };
    }
    return out;
  });
  for (const mode of ['writeback', 'writethrough', 'none']) {
    const m = r[mode];
    expect(m.ok, `${mode}: the bytes`).toBe(true);
    if (mode === 'none' || !m.shared) expect(m.pageReads, mode).toBe(0);
    else expect(m.pageReads, `${mode}: served on the page`).toBe(10);
  }
});

test('discard: the range reads back as zeros, in cached and direct modes, and stays so after reopen', async ({
  harness,
  expectedBackend,
}) => {
  const results = await harness.evaluate(
    async ({ modes, opfs }) => {
      const { t, webdisk } = window;
      const SIZE = 256 * 1024;
      const out: { mode: string; problems: string[]; discards: number; fileSize: number | null }[] = [];
      for (const mode of modes) {
        const name = `core-discard-${mode}`;
        await webdisk.deleteDisk(name);
        const disk = await webdisk.openDisk({ name, size: SIZE, cache: mode });
        const model = new Uint8Array(SIZE);
        const problems: string[] = [];
        const check = async (what: string) => {
          const d = t.diff(await disk.read(0, SIZE), model);
          if (d) problems.push(`${what}: ${d}`);
        };
        const first = t.pattern(65536, 1);
        model.set(first);
        await disk.write(0, first);
        await disk.flush(); // the store now holds 64 KiB
        await disk.read(0, 65536); // and the read cache (where there is one) holds it too
        const dirty = t.pattern(4096, 2);
        model.set(dirty, 12288);
        await disk.write(12288, dirty); // block 3: dirty in the write-cache modes

        const discard = async (offset: number, length: number) => {
          model.fill(0, offset, offset + length);
          await disk.discard(offset, length);
        };
        await discard(1000, 3000); // inside block 0
        await discard(8192, 8192); // whole blocks 2 and 3 (3 is dirty)
        await discard(30000, 5000); // across a block boundary
        await discard(60000, SIZE - 60000); // the stored tail
        await check('after discards');

        const late = t.pattern(777, 3);
        model.set(late, 62000);
        await disk.write(62000, late); // into the discarded tail
        await check('write after discard');
        const { discards } = await disk.stats();
        await disk.close();
        // The image file's size is a fact of the OPFS backend's layout.
        const fileSize = opfs ? await t.dataFileSize(name) : null;

        const again = await webdisk.openDisk({ name });
        const d = t.diff(await again.read(0, SIZE), model);
        if (d) problems.push(`after reopen: ${d}`);
        await again.close();
        await webdisk.deleteDisk(name);
        out.push({ mode, problems, discards, fileSize });
      }
      return out;
    },
    { modes: MODES, opfs: expectedBackend === 'opfs' },
  );
  for (const r of results) {
    expect(r.problems, r.mode).toEqual([]);
    expect(r.discards, r.mode).toBe(4);
    if (expectedBackend === 'opfs') {
      // Discarding the tail shrank the image; the later write regrew it only as far as needed.
      expect(r.fileSize, r.mode).toBeGreaterThanOrEqual(62777);
      expect(r.fileSize, r.mode).toBeLessThanOrEqual(65536);
    }
  }
});

test('setCacheMode switches the policy at runtime; leaving a write cache flushes first; data intact', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'core-setmode';
    const SIZE = 1 << 20;
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: SIZE, cache: 'writeback' });
    const model = new Uint8Array(SIZE);
    let seed = 1;
    const write = async (offset: number, length: number) => {
      const data = t.pattern(length, seed++);
      model.set(data, offset);
      await disk.write(offset, data);
    };
    const log: Record<string, { mode: string; syncs: number; dirty: number; cached: number; ignored: number }> = {};
    const snap = async (label: string) => {
      const s = await disk.stats();
      log[label] = {
        mode: disk.cacheMode,
        syncs: s.storeSyncs,
        dirty: s.dirtyBytes,
        cached: s.cachedBytes,
        ignored: s.ignoredFlushes,
      };
    };

    await write(100, 10000);
    await write(50000, 3);
    await snap('writeback, dirty');
    await disk.setCacheMode('writethrough'); // must write back and sync
    await snap('-> writethrough');
    await write(70000, 5000);
    await snap('writethrough write');

    await disk.setCacheMode('unsafe');
    await write(90112, 4000); // one block
    await snap('unsafe write');
    await disk.flush();
    await snap('unsafe flush');
    await write(99999, 2);
    await disk.setCacheMode('none'); // leaves a write cache: flushes, for real, once
    await snap('-> none');
    await write(120000, 100);
    await snap('none write');
    await disk.setCacheMode('directsync');
    await write(130000, 100);
    await snap('directsync write');
    await disk.setCacheMode('writeback');
    await write(140000, 100);
    await snap('writeback again');
    const live = t.diff(await disk.read(0, SIZE), model);
    await disk.close();
    const again = await webdisk.openDisk({ name });
    const reopened = { mode: again.cacheMode, diff: t.diff(await again.read(0, SIZE), model) };
    await again.close();
    await webdisk.deleteDisk(name);
    return { log, live, reopened };
  });

  const l = r.log;
  expect(l['writeback, dirty']).toMatchObject({ mode: 'writeback', syncs: 0, dirty: 4 * 4096 });
  expect(l['-> writethrough']).toMatchObject({ mode: 'writethrough', syncs: 1, dirty: 0 });
  expect(l['writethrough write']).toMatchObject({ syncs: 2, dirty: 0 });
  expect(l['unsafe write']).toMatchObject({ mode: 'unsafe', syncs: 2, dirty: 4096 });
  expect(l['unsafe flush']).toMatchObject({ syncs: 2, dirty: 0, ignored: 1 });
  expect(l['-> none']).toMatchObject({ mode: 'none', syncs: 3, dirty: 0, cached: 0 });
  expect(l['none write']).toMatchObject({ syncs: 3, dirty: 0, cached: 0 });
  // Switching to directsync first syncs the unsynced write made in none, then its own write syncs.
  expect(l['directsync write']).toMatchObject({ mode: 'directsync', syncs: 5, dirty: 0, cached: 0 });
  expect(l['writeback again']).toMatchObject({ mode: 'writeback', syncs: 5, dirty: 4096 });
  expect(r.live).toBe('');
  // The mode is a property of the open, not of the disk: a reopen gets the default.
  expect(r.reopened).toEqual({ mode: 'writeback', diff: '' });
});

test('thin: a 64 GiB disk written at its last block costs what was written; discard gives space back; allocatedBytes tracks it', async ({
  harness,
  engine,
  expectedBackend,
}) => {
  const SIZE = 68719476736;
  const r = await harness.evaluate(
    async ({ SIZE, opfs }) => {
      const { t, webdisk } = window;
      const name = 'core-thin-64g';
      // WebKitGTK has no navigator.storage.estimate (its StorageAPI is off): NaN there.
      const usage = async () => (await navigator.storage?.estimate?.())?.usage ?? Number.NaN;
      await webdisk.deleteDisk(name);
      const u0 = await usage();
      const disk = await webdisk.openDisk({ name, size: SIZE });
      const size = disk.size;
      const start = t.pattern(4096, 1);
      const middle = t.pattern(1000, 2);
      const end = t.pattern(4096, 3); // where a GPT backup header goes
      const MID = 3 * 1024 * 1024 + 123;
      await disk.write(0, start);
      await disk.write(MID, middle);
      await disk.write(SIZE - 4096, end);
      await disk.flush();
      const live = [
        t.diff(await disk.read(0, 4096), start),
        t.diff(await disk.read(MID, 1000), middle),
        t.diff(await disk.read(SIZE - 4096, 4096), end),
        t.diff(await disk.read(SIZE / 2, 65536), new Uint8Array(65536)), // never written
        t.diff(await disk.read(SIZE - 12288, 8192), new Uint8Array(8192)), // never written, near the end
      ];
      const u1 = await usage();
      const a1 = (await disk.stats()).allocatedBytes;
      // 64 clusters of 64 KiB spread over the disk, then discarded, then 64 others.
      const CL = 65536;
      // The second set sits next to the first: the same L2 tables of the map (a new one is a 4 KiB map page).
      const spot = (i: number, k: number) => ((i * 7919 * 104729) % (SIZE / CL / 2)) * CL + SIZE / 4 + k * CL;
      const fill = async (k: number) => {
        for (let i = 0; i < 64; i++) await disk.write(spot(i, k), t.pattern(CL, 100 + i));
        await disk.flush();
      };
      await fill(0);
      const a2 = (await disk.stats()).allocatedBytes;
      const u2 = await usage();
      for (let i = 0; i < 64; i++) await disk.discard(spot(i, 0), CL);
      await disk.flush();
      const a3 = (await disk.stats()).allocatedBytes;
      const discarded = t.diff(await disk.read(spot(5, 0), CL), new Uint8Array(CL));
      await fill(1);
      const a4 = (await disk.stats()).allocatedBytes;
      const u4 = await usage();
      await disk.close();
      const fileSize = opfs ? await t.dataFileSize(name) : null;
      const again = await webdisk.openDisk({ name });
      const reopened = {
        size: again.size,
        start: t.diff(await again.read(0, 4096), start),
        middle: t.diff(await again.read(MID, 1000), middle),
        end: t.diff(await again.read(SIZE - 4096, 4096), end),
        between: t.diff(await again.read(4096, MID - 4096), new Uint8Array(MID - 4096)),
        rewritten: t.diff(await again.read(spot(7, 1), CL), t.pattern(CL, 107)),
        allocated: (await again.stats()).allocatedBytes,
      };
      await again.close();
      await webdisk.deleteDisk(name);
      return { size, live, u0, u1, u2, u4, a1, a2, a3, a4, discarded, fileSize, reopened };
    },
    { SIZE, opfs: expectedBackend === 'opfs' },
  );
  const MiB = 1024 * 1024;
  console.log(
    `thin 64 GiB disk: usage +${((r.u1 - r.u0) / MiB).toFixed(2)} MiB after 3 small writes, ` +
      `+${((r.u2 - r.u0) / MiB).toFixed(2)} MiB with 4 MiB more, +${((r.u4 - r.u0) / MiB).toFixed(2)} MiB after discard and rewrite; ` +
      `allocatedBytes ${r.a1} → ${r.a2} → ${r.a3} → ${r.a4}`,
  );
  expect(r.size).toBe(SIZE);
  expect(r.live).toEqual(['', '', '', '', '']);
  const measured = !Number.isNaN(r.u0);
  expect(measured || !ENGINE_FACTS[engine].opfs, 'navigator.storage.estimate() is there (it is, where OPFS is)').toBe(
    true,
  );
  if (measured) expect(r.u1 - r.u0, 'usage of a 64 GiB disk written at its end').toBeLessThan(8 * MiB);
  // allocatedBytes: a few clusters (OPFS) or chunks and block records (IndexedDB), then 4 MiB more, back, and again.
  expect(r.a1).toBeGreaterThan(0);
  expect(r.a1).toBeLessThanOrEqual(3 * 65536);
  expect(r.a2 - r.a1).toBe(4 * MiB);
  expect(r.a3).toBe(r.a1);
  expect(r.a4).toBe(r.a2);
  expect(r.discarded).toBe('');
  if (expectedBackend === 'opfs') {
    // Discarded clusters are reused: rewriting does not grow the data file or the usage.
    expect(r.fileSize).toBeLessThanOrEqual(r.a2);
    expect(r.u4 - r.u0, 'usage after discard and rewrite').toBeLessThanOrEqual(r.u2 - r.u0 + 256 * 1024);
  }
  expect(r.reopened).toEqual({
    size: SIZE,
    start: '',
    middle: '',
    end: '',
    between: '',
    rewritten: '',
    allocated: r.a4,
  });
});

test('a raw disk of format 1 (no cluster map, made before thin disks) still opens as it is', async ({
  harness,
  expectedBackend,
}) => {
  test.skip(expectedBackend !== 'opfs', 'the raw layout is an OPFS layout');
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'core-raw-v1';
    await webdisk.deleteDisk(name);
    // Data only in the first 64 KiB: there a raw image and a thin disk's first cluster agree.
    const first = t.pattern(60_000, 5);
    const disk = await webdisk.openDisk({ name, size: 8 << 20, cache: 'writethrough' });
    await disk.write(100, first);
    await disk.close();
    await t.removeFile(name, 'map.bin'); // what a disk of format 1 looks like
    const raw = await webdisk.openDisk({ name });
    const back = t.diff(await raw.read(100, 60_000), first);
    const later = t.pattern(4096, 6);
    await raw.write(4 << 20, later); // a raw image grows to the highest written offset
    await raw.close();
    const fileSize = await t.dataFileSize(name);
    const again = await webdisk.openDisk({ name });
    const out = {
      back,
      later: t.diff(await again.read(4 << 20, 4096), later),
      fileSize,
      allocated: (await again.stats()).allocatedBytes,
    };
    await again.close();
    await webdisk.deleteDisk(name);
    return out;
  });
  expect(r).toEqual({ back: '', later: '', fileSize: (4 << 20) + 4096, allocated: (4 << 20) + 4096 });
});

test('listDisks lists created disks with their size and backend; deleteDisk removes them', async ({
  harness,
  expectedBackend,
}) => {
  const r = await harness.evaluate(async () => {
    const { webdisk } = window;
    const names = ['core-list.a', 'core-list_b', 'core-list-C9'];
    const sizes = [512, 1 << 20, 68719476736];
    for (const n of names) await webdisk.deleteDisk(n);
    const ours = async () => (await webdisk.listDisks()).filter((d) => names.includes(d.name) || d.name === 'core-mem');
    const empty = await ours();
    for (let i = 0; i < names.length; i++) {
      const d = await webdisk.openDisk({ name: names[i], size: sizes[i] });
      await d.close();
    }
    const mem = await webdisk.openDisk({ name: 'core-mem', size: 4096, backend: 'memory' });
    const open = await webdisk.openDisk({ name: names[1] });
    const listed = await ours(); // one of them is open right now, and a memory disk too
    await open.close();
    await mem.close();
    await webdisk.deleteDisk(names[1]);
    const afterDelete = await ours();
    const missing = await webdisk.deleteDisk('core-list-never-created').then(
      () => 'ok',
      (e: Error) => String(e),
    );
    const again = await webdisk.deleteDisk(names[1]).then(
      () => 'ok',
      (e: Error) => String(e),
    );
    for (const n of names) await webdisk.deleteDisk(n);
    const reopenDeleted = await webdisk.openDisk({ name: names[0] }).then(
      () => 'opened',
      (e: { code?: string }) => e.code,
    );
    return { empty, listed, afterDelete, missing, again, final: await ours(), reopenDeleted };
  });
  expect(r.empty).toEqual([]);
  // listDisks orders by code units (localeCompare's order differs between engines).
  const byName = (x: { name: string }, y: { name: string }) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  const backend = expectedBackend;
  expect(r.listed).toEqual(
    [
      { name: 'core-list-C9', size: 68719476736, backend },
      { name: 'core-list.a', size: 512, backend },
      { name: 'core-list_b', size: 1 << 20, backend },
    ].sort(byName),
  );
  expect(r.afterDelete).toEqual(
    [
      { name: 'core-list-C9', size: 68719476736, backend },
      { name: 'core-list.a', size: 512, backend },
    ].sort(byName),
  );
  expect(r.missing).toBe('ok');
  expect(r.again).toBe('ok');
  expect(r.final).toEqual([]);
  // A deleted disk is gone: opening it without a size does not recreate it.
  expect(r.reopenDeleted).toBe('EINVAL');
});

test('auto falls back to IndexedDB where the worker has no OPFS sync access handles; the disk persists across a reload', async ({
  harness,
}) => {
  const page = `/e2e/pages/harness.html?${new URLSearchParams({ backend: 'auto', hide: 'sync-handles' })}`;
  await harness.goto(page);
  const name = 'core-fallback';
  const first = await harness.evaluate(async (name) => {
    const { webdisk } = window;
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 8 << 20 });
    const opened = { backend: disk.backend, reason: disk.backendReason };
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 13 + 1) & 0xff);
    await disk.write(123_456, bytes);
    await disk.flush();
    // No close: the page goes away with the disk open.
    return opened;
  }, name);
  expect(first).toEqual({ backend: 'idb', reason: 'fallback' });
  await harness.reload();
  const again = await harness.evaluate(async (name) => {
    const { webdisk } = window;
    const disk = await webdisk.openDisk({ name, lockTimeoutMs: 10_000 });
    const back = await disk.read(123_456, 70_000);
    const same = back.every((b, i) => b === ((i * 13 + 1) & 0xff));
    const out = {
      backend: disk.backend,
      reason: disk.backendReason,
      unclean: disk.uncleanShutdown,
      same,
      listed: (await webdisk.listDisks()).filter((d) => d.name === name),
    };
    await disk.close();
    await webdisk.deleteDisk(name);
    return out;
  }, name);
  expect(again).toEqual({
    backend: 'idb',
    reason: 'existing',
    unclean: true,
    same: true,
    listed: [{ name, size: 8 << 20, backend: 'idb' }],
  });
});

test('a closed disk leaves one spare worker; the next open takes it instead of starting one', async ({
  harness,
  engine,
}) => {
  test.skip(engine !== 'chromium', "counts the page's workers with Playwright: Chromium only");
  const page = playwrightPage(harness);
  const started: { ended: boolean }[] = [];
  page.on('worker', (w) => {
    if (!/disk-worker/.test(w.url())) return;
    const entry = { ended: false };
    started.push(entry);
    w.on('close', () => {
      entry.ended = true;
    });
  });
  await harness.evaluate(async () => {
    const { webdisk } = window;
    await webdisk.deleteDisk('spare-worker');
    const disk = await webdisk.openDisk({ name: 'spare-worker', size: 1 << 20 });
    await disk.write(0, new Uint8Array([7]));
    await disk.close();
  });
  // The disk's worker, then the spare its close started.
  await expect.poll(() => started.length).toBe(2);
  const back = await harness.evaluate(async () => {
    const disk = await window.webdisk.openDisk({ name: 'spare-worker' });
    const bytes = Array.from(await disk.read(0, 2));
    (window as unknown as { spareDisk: unknown }).spareDisk = disk;
    return bytes;
  });
  expect(back).toEqual([7, 0]);
  // A worker the open had started would have been reported by now.
  await harness.evaluate(() => new Promise((r) => setTimeout(r, 300)));
  expect(started.length, 'disk workers started: the open took the spare').toBe(2);
  expect(started.map((w) => w.ended)).toEqual([true, false]);
  await harness.evaluate(async () => {
    await (window as unknown as { spareDisk: { close(): Promise<void> } }).spareDisk.close();
    await window.webdisk.deleteDisk('spare-worker');
  });
});
