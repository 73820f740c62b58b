// InThreadDisk: a disk's block core on the caller's thread (WebdiskVFS's
// diskWorker: false). The core and stores are the disk worker's, so what is
// tested here is what differs: write() copying at once, the power loss by
// switch (stores stopped, files closed, lock given up) and a reopen after it.
import 'fake-indexeddb/auto';
import { describe, expect, it, vi } from 'vitest';
import { listDisks } from '../src/client/manage';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { CACHE_MODES, type CrashModel } from '../src/core/types';
import { MemoryStore } from '../src/stores/memory-store';
import { randomCrashPoint, runCrashTest, verifyDisk } from '../src/testing/crash-test';
import { InThreadDisk } from '../src/worker/in-thread-disk';
import { pattern, sameBytes } from './helpers';

const SIZE = 1024 * 1024;
let diskCount = 0;
const uniqueName = (tag: string) => `itd-${tag}-${diskCount++}`;

describe('InThreadDisk', () => {
  it('opened synchronous: blocking calls work and see the async ones; after powerLoss() they throw ECLOSED', async () => {
    const disk = await InThreadDisk.open(
      { name: uniqueName('sync'), size: SIZE, backend: 'memory' },
      { synchronous: true },
    );
    const a = pattern(5000, 7);
    disk.writeSync(1000, a, { fua: true });
    disk.flushSync();
    sameBytes(await disk.read(1000, 5000), a, 'an async read after writeSync');
    await disk.write(9000, pattern(100, 8));
    sameBytes(disk.readIntoSync(9000, new Uint8Array(100)), pattern(100, 8), 'readIntoSync after write()');
    disk.discardSync(1000, 5000);
    sameBytes(disk.readIntoSync(1000, new Uint8Array(5000)), new Uint8Array(5000), 'zeros after discardSync');
    disk.powerLoss();
    let thrown: unknown;
    try {
      disk.flushSync();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'ECLOSED', message: expect.stringMatching(/lost power/) });
    await disk.whenUnplugged();
  });

  it('opened synchronous on IndexedDB (completes later): ENOTSUP, and the disk is closed again', async () => {
    const name = uniqueName('sync-idb');
    await expect(InThreadDisk.open({ name, size: SIZE, backend: 'idb' }, { synchronous: true })).rejects.toMatchObject({
      code: 'ENOTSUP',
    });
    // Nothing holds it: a plain open works at once.
    const again = await InThreadDisk.open({ name, size: SIZE, backend: 'idb', lockTimeoutMs: 0 });
    await again.close();
    // 'auto' where OPFS is missing (here, as on a page's main thread) would make an IndexedDB disk: refused first.
    const other = uniqueName('sync-auto');
    await expect(InThreadDisk.open({ name: other, size: SIZE }, { synchronous: true })).rejects.toMatchObject({
      code: 'ENOTSUP',
    });
    expect((await listDisks()).map((d) => d.name)).not.toContain(other);
  });

  it('write() copies the bytes before it returns: the caller may reuse its buffer at once (as SQLite does)', async () => {
    const disk = await InThreadDisk.open({ name: uniqueName('copy'), size: SIZE, backend: 'memory' });
    const buf = pattern(8192, 1);
    const first = buf.slice();
    const done = disk.write(4096, buf);
    buf.set(pattern(8192, 2)); // before the core's queue has taken the write
    await done;
    await disk.flush();
    sameBytes(await disk.read(4096, 8192), first, 'what write() was given');
    await disk.close();
  });

  it('after close() or powerLoss() every call rejects ECLOSED, saying which', async () => {
    const closed = await InThreadDisk.open({ name: uniqueName('closed'), size: SIZE, backend: 'memory' });
    await closed.close();
    await expect(closed.read(0, 512)).rejects.toMatchObject({ code: 'ECLOSED', message: /is closed/ });
    const unplugged = await InThreadDisk.open({ name: uniqueName('unplugged'), size: SIZE, backend: 'memory' });
    const pending = unplugged.write(0, pattern(4096, 3), { fua: true });
    unplugged.powerLoss();
    await expect(pending).rejects.toBeInstanceOf(DiskError);
    await expect(unplugged.flush()).rejects.toMatchObject({ code: 'ECLOSED', message: /lost power/ });
    await expect(unplugged.close()).rejects.toMatchObject({ code: 'ECLOSED' });
    unplugged.powerLoss(); // a second pull changes nothing
    await unplugged.whenUnplugged();
  });

  it("a close() that fails still closes the disk's files (so it opens again) and throws the error", async () => {
    const disk = await InThreadDisk.open({ name: uniqueName('bad-close'), size: SIZE, backend: 'memory' });
    const failed = vi.spyOn(BlockDevice.prototype, 'close').mockRejectedValueOnce(new DiskError('ENOSPC', 'full'));
    const closes = vi.spyOn(MemoryStore.prototype, 'close');
    try {
      await expect(disk.close()).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(closes).toHaveBeenCalledTimes(2); // the data and metadata files
      await expect(disk.read(0, 512)).rejects.toMatchObject({ code: 'ECLOSED' });
    } finally {
      failed.mockRestore();
      closes.mockRestore();
    }
  });

  it('a flushed write survives a power loss, one only in the cache does not; the disk reopens unclean', async () => {
    const name = uniqueName('survive');
    const disk = await InThreadDisk.open({ name, size: SIZE, backend: 'idb', crashModel: 'power' });
    await disk.write(0, pattern(4096, 4));
    await disk.flush();
    await disk.write(65536, pattern(4096, 5)); // writeback: in the block cache only
    disk.powerLoss();
    await disk.whenUnplugged();
    const again = await InThreadDisk.open({ name, backend: 'idb' });
    expect(again.uncleanShutdown).toBe(true);
    sameBytes(await again.read(0, 4096), pattern(4096, 4), 'flushed');
    sameBytes(await again.read(65536, 4096), new Uint8Array(4096), 'never flushed');
    await again.close();
  });

  it.each<CrashModel>(['process', 'power'])(
    'random crash tests on IndexedDB (%s model), plug pulled anywhere, reopened: 0 violations in every mode',
    async (crashModel) => {
      let cachedLost = 0;
      for (const mode of CACHE_MODES) {
        for (let seed = 1; seed <= 4; seed++) {
          const name = uniqueName(`${crashModel}-${mode}`);
          const disk = await InThreadDisk.open({ name, size: SIZE, cache: mode, backend: 'idb', crashModel });
          const r = await runCrashTest(disk, {
            seed,
            size: SIZE,
            initialMode: mode,
            requests: 100,
            maxWrite: 64 * 1024,
            modeSwitchRate: 0.03,
            crash: randomCrashPoint(seed, 100),
            onCrash: () => disk.powerLoss(),
          });
          await disk.whenUnplugged();
          const again = await InThreadDisk.open({ name, backend: 'idb' });
          const report = await verifyDisk(again, r.log, SIZE);
          expect(report.violations, `${mode} seed ${seed}: ${JSON.stringify(report.details.slice(0, 3))}`).toBe(0);
          if (mode === 'writeback' || mode === 'unsafe') cachedLost += report.lost;
          await again.close();
        }
      }
      // The plug really cut something: writes acknowledged from a write cache, never flushed, are gone.
      expect(cachedLost).toBeGreaterThan(0);
    },
    120_000,
  );
});
