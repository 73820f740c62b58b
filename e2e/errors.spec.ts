// Every DiskError code reachable from a page, in a real browser over real
// storage (every engine × backend project): each bad call rejects with a
// DiskError whose code a caller can act on and whose message a person can
// read, never hangs, and never harms the disk: the call after it works.
// ENOTSUP and EIO need Chromium-only machinery and run there only; ENOSPC
// shrinks the quota in Chromium (CDP) and Firefox (a profile preference).
import { chromium } from '@playwright/test';
import type { CacheMode, Disk, OpenDiskOptions } from '../src/index';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';
import { launchEngine } from './engines';
import { ChromiumPage } from './engines/chromium';
import { type EnginePage, expect, harnessPath, playwrightPage, type StorageBackend, test } from './fixtures';
import { expectDiskError, installPageHelpers, type Outcome } from './helpers';

test.beforeEach(async ({ harness }) => installPageHelpers(harness));

/** Each outcome is a DiskError of `code`. */
function expectAll(outcomes: Record<string, unknown>, code: string): void {
  for (const [what, o] of Object.entries(outcomes)) expectDiskError(o as Outcome, code, what);
}

/** A second tab of the same profile, with the harness loaded. */
async function secondTab(harness: EnginePage): Promise<EnginePage> {
  const tab = await harness.newTab();
  await installPageHelpers(tab);
  return tab;
}

test('EINVAL: bad openDisk/deleteDisk arguments reject; no disk is created; a good open still works', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const open = (o: unknown) => () => webdisk.openDisk(o as OpenDiskOptions);
    const ok = { name: 'err-open-ok', size: 1 << 20 };
    const cases: Record<string, () => unknown> = {
      'name a/b': open({ ...ok, name: 'a/b' }),
      'name empty': open({ ...ok, name: '' }),
      'name 65 chars': open({ ...ok, name: 'x'.repeat(65) }),
      'name ..': open({ ...ok, name: '..' }),
      'name with space': open({ ...ok, name: 'a b' }),
      'name not ASCII': open({ ...ok, name: 'disque-é' }),
      'name a number': open({ ...ok, name: 42 }),
      'name missing': open({ size: 1 << 20 }),
      'size 1000 (not a multiple of 512)': open({ ...ok, size: 1000 }),
      'size 0': open({ ...ok, size: 0 }),
      'size negative': open({ ...ok, size: -512 }),
      'size NaN': open({ ...ok, size: Number.NaN }),
      'size fractional': open({ ...ok, size: 1024.5 }),
      'size 2^53 (unsafe integer)': open({ ...ok, size: 2 ** 53 }),
      'size Infinity': open({ ...ok, size: Number.POSITIVE_INFINITY }),
      'size a string': open({ ...ok, size: '4096' }),
      'cache unknown': open({ ...ok, cache: 'bogus' }),
      'cache wrong case': open({ ...ok, cache: 'WriteBack' }),
      'backend unknown': open({ ...ok, backend: 'indexeddb' }),
      'backend wrong case': open({ ...ok, backend: 'OPFS' }),
      'blockSize not a power of two': open({ ...ok, blockSize: 3000 }),
      'blockSize 256': open({ ...ok, blockSize: 256 }),
      'blockSize 2 MiB': open({ ...ok, blockSize: 2 * 1024 * 1024 }),
      'cacheSize below one block': open({ ...ok, cacheSize: 100 }),
      // Only the worker knows the block size: it must refuse before leaving a disk behind.
      'cacheSize below the default 4 KiB block': open({ ...ok, cacheSize: 1024 }),
      'lockTimeoutMs negative': open({ ...ok, lockTimeoutMs: -1 }),
      'options null': open(null),
      'options a string': open('err-open-ok'),
      'memory disk without size': open({ name: 'err-open-mem', backend: 'memory' }),
      'missing disk without size': open({ name: 'err-open-missing' }),
      'deleteDisk a/b': () => webdisk.deleteDisk('a/b'),
      'deleteDisk empty': () => webdisk.deleteDisk(''),
    };
    const outcomes: Record<string, unknown> = {};
    for (const [what, fn] of Object.entries(cases)) outcomes[what] = await t.attempt(fn);
    const listedAfterBadCalls = await webdisk.listDisks();

    // An existing disk opened with another size: refused, and left as it was.
    const name = 'err-open-size';
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 1 << 20 });
    const marker = t.pattern(4096, 7);
    await disk.write(8192, marker);
    await disk.close();
    outcomes['size mismatch on an existing disk'] = await t.attempt(() => webdisk.openDisk({ name, size: 2 << 20 }));
    const again = await webdisk.openDisk({ name, size: 1 << 20 });
    const afterMismatch = {
      size: again.size,
      unclean: again.uncleanShutdown,
      marker: t.diff(await again.read(8192, 4096), marker),
    };
    await again.close();
    await webdisk.deleteDisk(name);

    const good = await webdisk.openDisk(ok);
    await good.write(1, new Uint8Array([9]));
    const goodRead = Array.from(await good.read(0, 3));
    await good.close();
    await webdisk.deleteDisk(ok.name);
    return { outcomes, listedAfterBadCalls, afterMismatch, goodRead };
  });
  expectAll(r.outcomes, 'EINVAL');
  expect(r.listedAfterBadCalls, 'bad calls created no disk').toEqual([]);
  expect(r.afterMismatch).toEqual({ size: 1 << 20, unclean: false, marker: '' });
  expect(r.goodRead).toEqual([0, 9, 0]);
});

test('EINVAL: bad offsets, lengths, data and modes reject; the disk keeps working after each', async ({ harness }) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'err-args';
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 65536 });
    const bytes = new Uint8Array([1, 2, 3]);
    const cases: Record<string, () => unknown> = {};
    const bad: [string, unknown][] = [
      ['NaN', Number.NaN],
      ['-1', -1],
      ['1.5', 1.5],
      ['2^53', 2 ** 53],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['"0" (a string)', '0'],
      ['undefined', undefined],
    ];
    for (const [label, v] of bad) {
      const n = v as number;
      cases[`read offset ${label}`] = () => disk.read(n, 1);
      cases[`read length ${label}`] = () => disk.read(0, n);
      cases[`write offset ${label}`] = () => disk.write(n, bytes);
      cases[`discard offset ${label}`] = () => disk.discard(n, 1);
      cases[`discard length ${label}`] = () => disk.discard(0, n);
    }
    const badData: [string, unknown][] = [
      ['a plain array', [1, 2, 3]],
      ['an ArrayBuffer', new ArrayBuffer(3)],
      ['a string', 'abc'],
      ['null', null],
      ['undefined', undefined],
      ['an Int8Array', new Int8Array(3)],
      ['a Uint16Array', new Uint16Array(3)],
      ['a DataView', new DataView(new ArrayBuffer(3))],
    ];
    for (const [label, v] of badData) cases[`write data ${label}`] = () => disk.write(0, v as Uint8Array);
    cases['setCacheMode unknown'] = () => disk.setCacheMode('bogus' as CacheMode);
    cases['setCacheMode undefined'] = () => disk.setCacheMode(undefined as unknown as CacheMode);

    const outcomes: Record<string, unknown> = {};
    const broken: string[] = [];
    let n = 0;
    for (const [what, fn] of Object.entries(cases)) {
      outcomes[what] = await t.attempt(fn);
      // The very next calls work, and see the disk as it was plus their own write.
      const at = (n++ * 997) % 60000;
      const data = t.pattern(100, n);
      await disk.write(at, data);
      const d = t.diff(await disk.read(at, 100), data);
      if (d) broken.push(`after ${what}: ${d}`);
    }

    // A bad call in the middle of a batch of good ones, none awaited.
    const first = disk.write(0, new Uint8Array([5, 5]));
    const badInBatch = t.attempt(() => disk.write(Number.NaN, new Uint8Array([6])));
    const second = disk.write(1, new Uint8Array([7]));
    const read = disk.read(0, 3);
    await Promise.all([first, second]);
    const batch = { bad: await badInBatch, read: Array.from(await read) };

    const cacheMode = disk.cacheMode;
    await disk.close();
    await webdisk.deleteDisk(name);
    return { outcomes, broken, batch, cacheMode };
  });
  expectAll(r.outcomes, 'EINVAL');
  expect(r.broken).toEqual([]);
  expectDiskError(r.batch.bad, 'EINVAL', 'bad write inside a batch');
  expect(r.batch.read.slice(0, 2)).toEqual([5, 7]);
  expect(r.cacheMode, 'a refused setCacheMode changes nothing').toBe('writeback');
});

test('ERANGE: I/O past the end rejects and changes nothing; the last byte and empty requests at the end work', async ({
  harness,
}) => {
  const SIZE = 65536;
  const r = await harness.evaluate(async (SIZE) => {
    const { t, webdisk } = window;
    const name = 'err-range';
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: SIZE });
    const tail = t.pattern(16, 1);
    await disk.write(SIZE - 16, tail);
    const cases: Record<string, () => unknown> = {
      'read one byte over': () => disk.read(SIZE - 10, 11),
      'read at the end': () => disk.read(SIZE, 1),
      'read far away': () => disk.read(2 ** 40, 1),
      'write one byte over': () => disk.write(SIZE - 1, new Uint8Array([0xaa, 0xbb])),
      'write at the end': () => disk.write(SIZE, new Uint8Array([0xaa])),
      'write far away': () => disk.write(2 ** 52, new Uint8Array([0xaa])),
      'discard one byte over': () => disk.discard(SIZE - 1, 2),
      'discard at the end': () => disk.discard(SIZE, 1),
      'discard everything and more': () => disk.discard(0, SIZE + 512),
    };
    const outcomes: Record<string, unknown> = {};
    const broken: string[] = [];
    for (const [what, fn] of Object.entries(cases)) {
      outcomes[what] = await t.attempt(fn);
      const d = t.diff(await disk.read(SIZE - 16, 16), tail);
      if (d) broken.push(`after ${what}: ${d}`);
    }
    // The boundaries themselves are fine.
    const edges = {
      'write the last byte': await t.attempt(() => disk.write(SIZE - 1, new Uint8Array([0x42]))),
      'read the last byte': await t.attempt(() => disk.read(SIZE - 1, 1)),
      'read nothing at the end': await t.attempt(() => disk.read(SIZE, 0)),
      'write nothing at the end': await t.attempt(() => disk.write(SIZE, new Uint8Array(0))),
      'write nothing at 0': await t.attempt(() => disk.write(0, new Uint8Array(0))),
      'discard nothing at the end': await t.attempt(() => disk.discard(SIZE, 0)),
    };
    await disk.close();
    await webdisk.deleteDisk(name);
    return { outcomes, broken, edges };
  }, SIZE);
  expectAll(r.outcomes, 'ERANGE');
  expect(r.broken).toEqual([]);
  expect(r.edges).toEqual({
    'write the last byte': { ok: true },
    'read the last byte': { ok: true, value: [0x42] },
    'read nothing at the end': { ok: true, value: [] },
    'write nothing at the end': { ok: true },
    'write nothing at 0': { ok: true },
    'discard nothing at the end': { ok: true },
  });
});

test('ECLOSED after close(): requests issued before close complete, every later call rejects', async ({ harness }) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'err-closed';
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 1 << 20 });
    const data = t.pattern(5000, 1);
    // Issued, not awaited, then close: they run first, in issue order.
    const before = [t.attempt(() => disk.write(100, data)), t.attempt(() => disk.read(100, 4))];
    const closing = t.attempt(() => disk.close());
    const issuedBefore = await Promise.all(before);
    const closed = await closing;
    const after: Record<string, unknown> = {
      read: await t.attempt(() => disk.read(0, 1)),
      write: await t.attempt(() => disk.write(0, new Uint8Array(1))),
      flush: await t.attempt(() => disk.flush()),
      discard: await t.attempt(() => disk.discard(0, 1)),
      setCacheMode: await t.attempt(() => disk.setCacheMode('none')),
      stats: await t.attempt(() => disk.stats()),
      'close again': await t.attempt(() => disk.close()),
    };
    const again = await webdisk.openDisk({ name });
    const reopened = { unclean: again.uncleanShutdown, data: t.diff(await again.read(100, 5000), data) };
    await again.close();
    await webdisk.deleteDisk(name);
    return { issuedBefore, closed, isClosed: disk.closed, after, reopened, head: Array.from(data.subarray(0, 4)) };
  });
  expect(r.issuedBefore).toEqual([{ ok: true }, { ok: true, value: r.head }]);
  expect(r.closed).toEqual({ ok: true });
  expect(r.isClosed).toBe(true);
  expectAll(r.after, 'ECLOSED');
  expect(r.reopened).toEqual({ unclean: false, data: '' });
});

test('ECLOSED after powerLoss(): pending and later calls reject, nothing hangs; reopen reports an unclean shutdown', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'err-powerloss';
    await webdisk.deleteDisk(name);
    // writethrough: every acknowledged write must survive.
    const disk = await webdisk.openDisk({ name, size: 1 << 20, cache: 'writethrough' });
    const acked = t.pattern(10000, 1);
    await disk.write(3000, acked);

    // Requests already on their way to the worker when the plug is pulled...
    const inFlight = [
      t.attempt(() => disk.write(20000, t.pattern(4096, 2))),
      t.attempt(() => disk.read(3000, 16)),
      t.attempt(() => disk.flush()),
    ];
    await new Promise((r) => setTimeout(r, 0));
    // ...and requests issued in the same turn as the power loss.
    const sameTurn = {
      write: t.attempt(() => disk.write(30000, t.pattern(4096, 3))),
      read: t.attempt(() => disk.read(0, 512)),
      flush: t.attempt(() => disk.flush()),
      discard: t.attempt(() => disk.discard(0, 512)),
      setCacheMode: t.attempt(() => disk.setCacheMode('none')),
      stats: t.attempt(() => disk.stats()),
    };
    disk.powerLoss();
    disk.powerLoss(); // twice is harmless
    const pendingOutcomes: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(sameTurn)) pendingOutcomes[k] = await p;
    const inFlightOutcomes = await Promise.all(inFlight);
    const later: Record<string, unknown> = {
      read: await t.attempt(() => disk.read(0, 1)),
      write: await t.attempt(() => disk.write(0, new Uint8Array(1))),
      flush: await t.attempt(() => disk.flush()),
      stats: await t.attempt(() => disk.stats()),
      close: await t.attempt(() => disk.close()),
    };

    // The same page reopens it at once.
    const again = await webdisk.openDisk({ name, cache: 'writethrough' });
    const reopened = { unclean: again.uncleanShutdown, acked: t.diff(await again.read(3000, 10000), acked) };
    await again.close();
    const third = await webdisk.openDisk({ name });
    const afterCleanClose = third.uncleanShutdown;
    await third.close();
    await webdisk.deleteDisk(name);
    return { pendingOutcomes, inFlightOutcomes, later, isClosed: disk.closed, reopened, afterCleanClose };
  });
  expectAll(r.pendingOutcomes, 'ECLOSED');
  expectAll(r.later, 'ECLOSED');
  // In flight: each either completed before the worker died or was rejected ECLOSED; none hung.
  for (const o of r.inFlightOutcomes as Outcome[]) {
    expect(o.hung).toBeFalsy();
    if (!o.ok) expectDiskError(o, 'ECLOSED', 'in flight at power loss');
  }
  expect(r.isClosed).toBe(true);
  expect(r.reopened).toEqual({ unclean: true, acked: '' });
  expect(r.afterCleanClose).toBe(false);
});

test('a raw export stopped midway by a write, an abort or powerLoss() errors at once (close() may let it end), never hangs; the disk keeps its data', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'err-export';
    const MiB = 1 << 20;
    const SIZE = 8 * MiB; // more than the export reads ahead of its reader
    await webdisk.deleteDisk(name);
    let disk = await webdisk.openDisk({ name, size: SIZE });
    const data = t.pattern(SIZE, 5);
    await disk.write(0, data);
    // Reads the first MiB, does `midway`, then reads on: 'ended', or the error.
    const exportAcross = (midway: () => unknown, signal?: AbortSignal) =>
      t.attempt(async () => {
        const reader = disk.export({ format: 'raw', signal }).getReader();
        let got = (await reader.read()).value?.length ?? 0;
        midway();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return got === SIZE ? 'ended' : `ended after ${got} bytes`;
          got += value.length;
        }
      });
    const ac = new AbortController();
    const out: Record<string, unknown> = {
      write: await exportAcross(() => void disk.write(5 * MiB, new Uint8Array(512))),
      abort: await exportAcross(() => ac.abort(new DOMException('stopped', 'AbortError')), ac.signal),
      quiet: await exportAcross(() => undefined),
    };
    let closing: Promise<void> | undefined;
    out.close = await exportAcross(() => {
      closing = disk.close();
    });
    out.closed = await t.attempt(() => closing);
    disk = await webdisk.openDisk({ name });
    out.powerLoss = await exportAcross(() => disk.powerLoss());
    // Without shared memory the worker ends between tasks: its lock may take a moment to go.
    disk = await webdisk.openDisk({ name, lockTimeoutMs: 20_000 });
    data.fill(0, 5 * MiB, 5 * MiB + 512);
    const whole = new Uint8Array(await new Response(disk.export({ format: 'raw' })).arrayBuffer());
    await disk.close();
    await webdisk.deleteDisk(name);
    return { out, kept: t.diff(whole, data) };
  });
  const { write, abort, quiet, close, powerLoss } = r.out as Record<string, Outcome>;
  expectDiskError(write, 'EBUSY', 'a write while exporting');
  expect(abort).toMatchObject({ ok: false, name: 'AbortError' });
  expect(quiet).toEqual({ ok: true, value: 'ended' });
  // close() queues behind the reads the export has started: it may end first (whole), or error.
  if (!close.ok) expectDiskError(close, 'ECLOSED', 'close() while exporting');
  else expect(close.value).toBe('ended');
  expect(r.out.closed).toEqual({ ok: true });
  expectDiskError(powerLoss, 'ECLOSED', 'powerLoss() while exporting');
  expect(r.kept).toBe('');
});

test('EBUSY: a disk open in this page or another tab cannot be opened or deleted; free again once closed', async ({
  harness,
  expectedBackend,
}) => {
  const name = 'err-busy';
  const first = await harness.evaluate(async (name) => {
    const { t, webdisk } = window;
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 1 << 20 });
    window.busyDisk = disk;
    await disk.write(0, new Uint8Array([1, 2, 3]));
    const twice = await t.attempt(() => webdisk.openDisk({ name, lockTimeoutMs: 200 }));
    const deleteOpen = await t.attempt(() => webdisk.deleteDisk(name));
    // The refused open and delete did not disturb the open disk.
    await disk.write(3, new Uint8Array([4]));
    const stillWorks = Array.from(await disk.read(0, 5));
    return { twice, deleteOpen, stillWorks };
  }, name);
  expectDiskError(first.twice, 'EBUSY', 'second open in the same page');
  expectDiskError(first.deleteOpen, 'EBUSY', 'deleteDisk while open');
  expect(first.stillWorks).toEqual([1, 2, 3, 4, 0]);

  const tab = await secondTab(harness);
  const refused = await tab.evaluate(async (name) => {
    const { t, webdisk } = window;
    return {
      open: await t.attempt(() => webdisk.openDisk({ name, lockTimeoutMs: 200 })),
      openWithSize: await t.attempt(() => webdisk.openDisk({ name, size: 1 << 20, lockTimeoutMs: 200 })),
      delete: await t.attempt(() => webdisk.deleteDisk(name)),
      listed: await webdisk.listDisks(),
    };
  }, name);
  expectDiskError(refused.open, 'EBUSY', 'open from a second tab');
  expectDiskError(refused.openWithSize, 'EBUSY', 'open with size from a second tab');
  expectDiskError(refused.delete, 'EBUSY', 'deleteDisk from a second tab');
  expect(refused.listed).toEqual([{ name, size: 1 << 20, backend: expectedBackend }]);

  await harness.evaluate(() => window.busyDisk?.close());
  const taken = await tab.evaluate(async (name) => {
    const { webdisk } = window;
    const disk = await webdisk.openDisk({ name });
    const out = { unclean: disk.uncleanShutdown, data: Array.from(await disk.read(0, 5)) };
    await disk.close();
    await webdisk.deleteDisk(name);
    return { ...out, listed: await webdisk.listDisks() };
  }, name);
  expect(taken).toEqual({ unclean: false, data: [1, 2, 3, 4, 0], listed: [] });
  await tab.close();
  expect(tab.errors, 'uncaught errors in the second tab').toEqual([]);
});

test('ECORRUPT: unreadable metadata is refused; one damaged copy is survived', async ({ harness, expectedBackend }) => {
  test.skip(
    expectedBackend !== 'opfs',
    'damages webdisk/<name>/meta.bin in OPFS; another backend keeps its metadata elsewhere and needs its own way to damage it',
  );
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'err-corrupt';
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 1 << 20 });
    const data = t.pattern(4096, 1);
    await disk.write(4096, data);
    await disk.close();
    const garbage = new Uint8Array(512).fill(0xab);

    // The metadata keeps two copies (512-byte slots): either one alone is enough.
    const oneCopy: Record<string, unknown> = {};
    for (const slot of [0, 1]) {
      await t.overwriteMeta(name, slot * 512, garbage);
      const d = await webdisk.openDisk({ name });
      oneCopy[`slot ${slot} damaged`] = { size: d.size, data: t.diff(await d.read(4096, 4096), data) };
      await d.close();
    }

    await t.overwriteMeta(name, 0, new Uint8Array(1024).fill(0xab));
    const corrupt = {
      open: await t.attempt(() => webdisk.openDisk({ name })),
      openWithSize: await t.attempt(() => webdisk.openDisk({ name, size: 1 << 20 })),
    };
    const listed = (await webdisk.listDisks()).map((e) => ({
      name: e.name,
      sizeIsNaN: Number.isNaN(e.size),
    }));
    // The failed opens left nothing locked: the disk can be deleted and made anew.
    await webdisk.deleteDisk(name);
    const fresh = await webdisk.openDisk({ name, size: 1 << 20 });
    const recreated = {
      unclean: fresh.uncleanShutdown,
      data: t.diff(await fresh.read(4096, 4096), new Uint8Array(4096)),
    };
    await fresh.close();
    await webdisk.deleteDisk(name);
    return { oneCopy, corrupt, listed, recreated };
  });
  expect(r.oneCopy).toEqual({
    'slot 0 damaged': { size: 1 << 20, data: '' },
    'slot 1 damaged': { size: 1 << 20, data: '' },
  });
  expectAll(r.corrupt, 'ECORRUPT');
  expect(r.listed).toEqual([{ name: 'err-corrupt', sizeIsNaN: true }]);
  expect(r.recreated).toEqual({ unclean: false, data: '' });
});

/** What the ENOSPC test saw in one cache mode. */
interface NoSpaceRun {
  acked: number;
  failure: Outcome | undefined;
  inPlace: Outcome;
  atEnd: Outcome;
  closed: Outcome;
  problems: string[];
}

/**
 * In a page whose origin may store only 10-24 MiB: writes 1 MiB at a time
 * past the quota in two modes, fills a writeback cache past it, and (on
 * OPFS) writes near the end of a 64 GiB disk. Runs in the page.
 */
async function fillPastQuota(opfs: boolean) {
  const { t, webdisk } = window;
  const MiB = 1024 * 1024;
  const modes: Record<string, NoSpaceRun> = {};
  for (const mode of ['none', 'writethrough'] as const) {
    const name = `err-nospc-${mode}`;
    await webdisk.deleteDisk(name);
    const disk = await webdisk.openDisk({ name, size: 64 * MiB, cache: mode });
    let acked = 0;
    let failure: Outcome | undefined;
    for (let i = 0; i < 40 && !failure; i++) {
      const o = await t.attempt(() => disk.write(i * MiB, t.pattern(MiB, i)));
      if (o.ok) acked++;
      else failure = o;
    }
    // Still working: an overwrite in place needs no more space.
    const patch = t.pattern(4096, 99);
    const inPlace = await t.attempt(() => disk.write(512, patch));
    const expected = (i: number) => {
      const bytes = t.pattern(MiB, i);
      if (i === 0 && inPlace.ok) bytes.set(patch, 512);
      return bytes;
    };
    const problems: string[] = [];
    const checkAcked = async (d: Disk, what: string) => {
      for (let i = 0; i < acked; i++) {
        const diff = t.diff(await d.read(i * MiB, MiB), expected(i));
        if (diff) problems.push(`${what}, MiB ${i}: ${diff}`);
      }
    };
    await checkAcked(disk, 'before close');
    const atEnd = await t.attempt(() => disk.write(64 * MiB - 512, new Uint8Array(512).fill(1)));
    const closed = await t.attempt(() => disk.close());
    const again = await webdisk.openDisk({ name });
    await checkAcked(again, 'after reopen');
    await again.close();
    await webdisk.deleteDisk(name);
    modes[mode] = { acked, failure, inPlace, atEnd, closed, problems };
  }
  // A large sparse disk: a write near its end (a GPT backup header) must not need a 64 GiB file.
  let bigDisk: { nearEnd: Outcome; start: Outcome; back: number[] } | null = null;
  if (opfs) {
    const name = 'err-nospc-64g';
    await webdisk.deleteDisk(name);
    const big = await webdisk.openDisk({ name, size: 68719476736, cache: 'none' });
    const nearEnd = await t.attempt(() => big.write(68719476736 - 4096, new Uint8Array(4096).fill(1)));
    const start = await t.attempt(() => big.write(0, new Uint8Array([1, 2])));
    const back = Array.from(await big.read(0, 3));
    await big.close();
    await webdisk.deleteDisk(name);
    bigDisk = { nearEnd, start, back };
  }

  // writeback: writes fit in the cache, so the flush is what runs out of
  // space, and then close() too, which ends the session all the same.
  const wb = 'err-nospc-writeback';
  await webdisk.deleteDisk(wb);
  const disk = await webdisk.openDisk({ name: wb, size: 64 * MiB, cache: 'writeback' });
  const flushed = t.pattern(MiB, 1);
  await disk.write(0, flushed);
  const firstFlush = await t.attempt(() => disk.flush());
  // 64 KiB writes stay in the cache (256 KiB and more would go around it to the store).
  for (let i = 1; i < 30; i++) {
    const bytes = t.pattern(MiB, 100 + i);
    for (let k = 0; k < 16; k++) await disk.write(i * MiB + k * 65536, bytes.subarray(k * 65536, (k + 1) * 65536));
  }
  const flush = await t.attempt(() => disk.flush());
  const close = await t.attempt(() => disk.close());
  const afterClose = await t.attempt(() => disk.read(0, 1));
  const again = await webdisk.openDisk({ name: wb });
  const writeback = {
    firstFlush,
    flush,
    close,
    afterClose,
    unclean: again.uncleanShutdown,
    flushedData: t.diff(await again.read(0, MiB), flushed),
  };
  await again.close();
  await webdisk.deleteDisk(wb);
  return { modes, big: bigDisk, writeback };
}

/**
 * Runs `fn` on a harness page whose origin has a small quota: in Chromium
 * the test's page with CDP's Storage.overrideQuotaForOrigin (24 MiB); in
 * Firefox a profile of its own whose temporary storage is capped at 50 MiB
 * (dom.quotaManager.temporaryStorage.fixedLimit), which leaves an origin 10 MiB.
 */
async function withSmallQuota<T>(
  harness: EnginePage,
  backend: StorageBackend,
  baseURL: string,
  fn: (page: EnginePage) => Promise<T>,
): Promise<T> {
  if (harness.engine === 'chromium') {
    const page = playwrightPage(harness);
    const origin = new URL(baseURL).origin;
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 24 * 1024 * 1024 });
    try {
      return await fn(harness);
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
      await cdp.detach();
    }
  }
  const browser = await launchEngine(harness.engine, {
    baseURL,
    isolated: false,
    firefoxPrefs: { 'dom.quotaManager.temporaryStorage.fixedLimit': 50 * 1024 },
  });
  try {
    const page = await browser.newPage();
    await page.goto(harnessPath(backend));
    await installPageHelpers(page);
    const out = await fn(page);
    expect(page.errors, 'uncaught page errors').toEqual([]);
    return out;
  } finally {
    await browser.close();
  }
}

test('ENOSPC: writing past the storage quota rejects; acknowledged data survives; the disk keeps working', async ({
  harness,
  engine,
  backend,
  expectedBackend,
  baseURL,
}) => {
  test.skip(
    engine === 'webkit',
    'needs a smaller quota: CDP in Chromium, a profile preference in Firefox; WebKitGTK offers neither over WebDriver',
  );
  const r = await withSmallQuota(harness, backend, baseURL as string, (page) =>
    page.evaluate(fillPastQuota, expectedBackend === 'opfs'),
  );
  for (const mode of ['none', 'writethrough']) {
    const m = r.modes[mode];
    expect(m.acked, `${mode}: some writes fit`).toBeGreaterThan(0);
    expect(m.acked, `${mode}: the quota stopped the writes`).toBeLessThan(24);
    expectDiskError(m.failure ?? { ok: true }, 'ENOSPC', `${mode}: the write past the quota`);
    if (expectedBackend === 'opfs') {
      // A cluster overwritten in place needs no more space. A new one fits
      // only where the refused write's clusters (given back) have room.
      expect(m.inPlace, `${mode}: overwrite in place`).toEqual({ ok: true });
      if (!m.atEnd.ok) expectDiskError(m.atEnd, 'ENOSPC', `${mode}: a write that needs a new cluster`);
      expect(m.closed, `${mode}: close`).toEqual({ ok: true });
    } else {
      // IndexedDB stores every value anew, an overwrite too, and so may the
      // metadata close() writes: each works or says ENOSPC, never worse.
      for (const [what, o] of Object.entries({ inPlace: m.inPlace, closed: m.closed })) {
        if (!o.ok) expectDiskError(o, 'ENOSPC', `${mode}: ${what} (${o.message})`);
      }
    }
    expect(m.problems, mode).toEqual([]);
  }
  if (expectedBackend === 'opfs') {
    expect(r.big).not.toBeNull();
    // A thin disk: the last block of 64 GiB costs one cluster, well inside the quota.
    expect(r.big?.nearEnd, 'write near the end of a 64 GiB disk').toEqual({ ok: true });
    expect(r.big?.start).toEqual({ ok: true });
    expect(r.big?.back).toEqual([1, 2, 0]);
  }
  const wb = r.writeback;
  expect(wb.firstFlush).toEqual({ ok: true });
  expectDiskError(wb.flush, 'ENOSPC', 'writeback: flush past the quota');
  expectDiskError(wb.close, 'ENOSPC', 'writeback: close past the quota');
  expectDiskError(wb.afterClose, 'ECLOSED', 'writeback: after the failed close');
  // The session did not end cleanly; what a completed flush made durable is there.
  expect(wb.unclean).toBe(true);
  expect(wb.flushedData).toBe('');
});

test('ENOTSUP: backend opfs where OPFS is missing (an insecure context): auto falls back to IndexedDB, memory still works', async ({
  baseURL,
  engine,
}) => {
  test.skip(engine !== 'chromium', 'maps a host name to 127.0.0.1 with a Chromium flag to get an insecure context');
  const port = new URL(baseURL as string).port;
  // http://webdisk.test is not a secure context (127.0.0.1 and localhost are).
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP webdisk.test 127.0.0.1'],
  });
  try {
    // The harness without ?backend=: openDisk's own default.
    const page = new ChromiumPage(await browser.newPage(), `http://webdisk.test:${port}`);
    await page.goto('/e2e/pages/harness.html');
    await installPageHelpers(page);
    const r = await page.evaluate(async () => {
      const { t, webdisk } = window;
      const refused = await t.attempt(() => webdisk.openDisk({ name: 'err-notsup', size: 1 << 20, backend: 'opfs' }));
      const auto = await webdisk.openDisk({ name: 'err-notsup', size: 1 << 20 });
      await auto.write(10, new Uint8Array([7, 8]));
      const fellBack = { backend: auto.backend, reason: auto.backendReason, data: Array.from(await auto.read(9, 4)) };
      await auto.close();
      // Once on IndexedDB, asking for OPFS by name is refused with the way out.
      const elsewhere = await t.attempt(() => webdisk.openDisk({ name: 'err-notsup', backend: 'opfs' }));
      const mem = await webdisk.openDisk({ name: 'err-notsup-mem', size: 1 << 20, backend: 'memory' });
      await mem.write(10, new Uint8Array([7, 8]));
      const memory = { backend: mem.backend, data: Array.from(await mem.read(9, 4)) };
      await mem.close();
      return {
        secure: isSecureContext,
        refused,
        fellBack,
        elsewhere,
        memory,
        listed: await webdisk.listDisks(),
        deleted: await t.attempt(() => webdisk.deleteDisk('err-notsup')),
        listedAfter: await webdisk.listDisks(),
      };
    });
    expect(r.secure, 'the premise: an insecure context').toBe(false);
    expectDiskError(r.refused, 'ENOTSUP', 'backend opfs');
    expect(r.fellBack).toEqual({ backend: 'idb', reason: 'fallback', data: [0, 7, 8, 0] });
    expectDiskError(r.elsewhere, 'EINVAL', 'opening an IndexedDB disk as OPFS');
    expect(r.elsewhere.message).toContain('already exists on idb');
    expect(r.memory).toEqual({ backend: 'memory', data: [0, 7, 8, 0] });
    expect(r.listed).toEqual([{ name: 'err-notsup', size: 1 << 20, backend: 'idb' }]);
    expect(r.deleted).toEqual({ ok: true });
    expect(r.listedAfter).toEqual([]);
    expect(page.errors).toEqual([]);
  } finally {
    await browser.close();
  }
});

test('ENOTSUP: neither OPFS nor IndexedDB in the disk worker; memory still works', async ({ harness }) => {
  await harness.goto(
    `/e2e/pages/harness.html?${new URLSearchParams({ backend: 'auto', hide: 'sync-handles,indexeddb' })}`,
  );
  await installPageHelpers(harness);
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const refused = {
      auto: await t.attempt(() => webdisk.openDisk({ name: 'err-notsup-all', size: 1 << 20 })),
      opfs: await t.attempt(() => webdisk.openDisk({ name: 'err-notsup-all', size: 1 << 20, backend: 'opfs' })),
      idb: await t.attempt(() => webdisk.openDisk({ name: 'err-notsup-all', size: 1 << 20, backend: 'idb' })),
    };
    const mem = await webdisk.openDisk({ name: 'err-notsup-all', size: 1 << 20, backend: 'memory' });
    await mem.write(0, new Uint8Array([5]));
    const memory = Array.from(await mem.read(0, 2));
    await mem.close();
    return { refused, memory };
  });
  expectAll(r.refused, 'ENOTSUP');
  expect(r.memory).toEqual([5, 0]);
});

test('EIO: the disk worker cannot start (its script fails to load); a later open works, and a spare that failed is not used', async ({
  harness,
  engine,
}) => {
  test.skip(engine !== 'chromium', "blocks the worker's script with a Playwright route: Chromium only");
  const page = playwrightPage(harness);
  const workerScript = '**/assets/disk-worker-*.js';
  await page.route(workerScript, (route) => route.abort());
  const failed = await harness.evaluate(() =>
    window.t.attempt(() => window.webdisk.openDisk({ name: 'err-eio', size: 1 << 20 })),
  );
  await page.unroute(workerScript);
  expectDiskError(failed, 'EIO', 'openDisk without its worker');
  await harness.evaluate(async () => {
    const disk = await window.webdisk.openDisk({ name: 'err-eio', size: 1 << 20 });
    await disk.write(0, new Uint8Array([1]));
    await disk.close();
  });
  // The spare worker a close starts fails to load too: it must be dropped,
  // not handed to the next open (which would wait for ever on a dead worker).
  let aborted = 0;
  await page.route(workerScript, (route) => {
    aborted++;
    return route.abort();
  });
  await harness.evaluate(async () => {
    const disk = await window.webdisk.openDisk({ name: 'err-eio' });
    await disk.close();
  });
  await expect.poll(() => aborted).toBeGreaterThanOrEqual(1);
  await harness.evaluate(() => new Promise((r) => setTimeout(r, 200))); // its error event comes in a task
  await page.unroute(workerScript);
  const after = await harness.evaluate(async () => {
    const { webdisk } = window;
    const disk = await webdisk.openDisk({ name: 'err-eio' });
    const back = Array.from(await disk.read(0, 2));
    await disk.close();
    await webdisk.deleteDisk('err-eio');
    return back;
  });
  expect(after).toEqual([1, 0]);
});
