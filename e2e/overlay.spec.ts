// Overlays in a real browser over real storage (every engine × backend
// project): a disk over a base image the test server serves with Range
// requests (scripts/base-images.mjs counts them), or over a File.
import { expect, test } from './fixtures';
import { expectDiskError, installPageHelpers, type Outcome } from './helpers';

test.beforeEach(async ({ harness }) => installPageHelpers(harness));

const MiB = 1024 * 1024;

test('an overlay over a URL reads its base lazily, each byte fetched once, and keeps what it fetched across a reopen', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const MiB = 1024 * 1024;
    const name = 'ov-lazy';
    await webdisk.deleteDisk(name);
    await fetch(`/base-control/${name}?size=${4 * MiB}&seed=5`);
    const stats = async () => (await fetch(`/base-stats/${name}`)).json();
    const base = new Uint8Array(await (await fetch(`/base/${name}?peek=1`)).arrayBuffer());
    let disk = await webdisk.openDisk({ name, base: { url: `/base/${name}` } });
    const opened = { size: disk.size, base: disk.base, backend: disk.backend };
    const afterOpen = await stats();
    // One large read: one Range request for its 16 clusters.
    const big = t.diff(await disk.read(MiB, MiB), base.subarray(MiB, 2 * MiB));
    const afterBig = await stats();
    // All of it in 64 KiB reads, 8 at a time: nothing fetched twice.
    const problems: string[] = [];
    for (let off = 0; off < 4 * MiB; off += 8 * 65536) {
      const got = await Promise.all(Array.from({ length: 8 }, (_, i) => disk.read(off + i * 65536, 65536)));
      for (const [i, g] of got.entries()) {
        const at = off + i * 65536;
        const d = t.diff(g, base.subarray(at, at + 65536));
        if (d) problems.push(`at ${at}: ${d}`);
      }
    }
    const afterAll = await stats();
    const s = await disk.stats();
    await disk.close();
    // Reopened without base: the URL was recorded; every cluster is local now.
    disk = await webdisk.openDisk({ name });
    const again = t.diff(await disk.read(0, 4 * MiB), base);
    const afterReopen = await stats();
    await disk.close();
    await webdisk.deleteDisk(name);
    return {
      opened,
      afterOpen,
      big,
      afterBig,
      problems,
      afterAll: { requests: afterAll.requests, bytes: afterAll.bytes },
      fetched: s.baseBytesFetched,
      allocated: s.allocatedBytes,
      again,
      requestsAfterReopen: afterReopen.requests - afterAll.requests,
    };
  });
  expect(r.opened.size).toBe(4 * MiB);
  expect(r.opened.base).toMatch(/\/base\/ov-lazy$/);
  expect(r.afterOpen.ranges, 'creation asks for one byte (length and validators)').toEqual(['0-0']);
  expect(r.big).toBe('');
  expect(r.afterBig.ranges.slice(1), 'adjacent clusters in one request').toEqual([`${MiB}-${2 * MiB - 1}`]);
  expect(r.problems).toEqual([]);
  expect(r.afterAll.bytes, 'every byte of the base fetched exactly once').toBe(1 + 4 * MiB);
  expect(r.fetched).toBe(4 * MiB);
  expect(r.allocated, 'copy-on-read: the whole base is local').toBe(4 * MiB);
  expect(r.again).toBe('');
  expect(r.requestsAfterReopen, 'a reopened overlay reads its local copy').toBe(0);
});

test('writes stay local, a discard reads zeros, reset() returns to the base', async ({ harness }) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'ov-reset';
    await webdisk.deleteDisk(name);
    await fetch(`/base-control/${name}?size=${1 << 20}&seed=6`);
    const base = new Uint8Array(await (await fetch(`/base/${name}?peek=1`)).arrayBuffer());
    const disk = await webdisk.openDisk({ name, base: { url: `/base/${name}` }, cache: 'writeback' });
    const want = base.slice();
    const patch = t.pattern(5000, 1);
    await disk.write(70_000, patch);
    want.set(patch, 70_000);
    await disk.discard(200_000, 10_000);
    want.fill(0, 200_000, 210_000);
    await disk.discard(4 * 65536, 65536);
    want.fill(0, 4 * 65536, 5 * 65536);
    await disk.flush();
    const changed = t.diff(await disk.read(0, 1 << 20), want);
    const allocatedBefore = (await disk.stats()).allocatedBytes;
    await disk.reset();
    const afterReset = t.diff(await disk.read(0, 1 << 20), base);
    await disk.close();
    const again = await webdisk.openDisk({ name });
    const afterReopen = t.diff(await again.read(0, 1 << 20), base);
    await again.close();
    await webdisk.deleteDisk(name);
    const plain = await webdisk.openDisk({ name: 'ov-plain', size: 1 << 20 });
    const plainReset = await t.attempt(() => plain.reset());
    await plain.close();
    await webdisk.deleteDisk('ov-plain');
    return { changed, allocatedBefore, afterReset, afterReopen, plainReset };
  });
  expect(r.changed).toBe('');
  expect(r.allocatedBefore).toBeGreaterThan(0);
  expect(r.afterReset).toBe('');
  expect(r.afterReopen).toBe('');
  expectDiskError(r.plainReset, 'ENOTSUP', 'reset() of a disk without a base');
});

test('a base that changed or fails is EIO naming the URL; local clusters stay usable; a File base works', async ({
  harness,
}) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const name = 'ov-changed';
    await webdisk.deleteDisk(name);
    const url = `/base/${name}`;
    await fetch(`/base-control/${name}?size=${1 << 20}&seed=7`);
    let disk = await webdisk.openDisk({ name, base: { url }, cache: 'writethrough' });
    await disk.write(0, new Uint8Array(65536).fill(3));
    await disk.close();
    await fetch(`/base-control/${name}?size=${1 << 20}&seed=8`);
    disk = await webdisk.openDisk({ name });
    const changed = await t.attempt(() => disk.read(65536, 512));
    const local = (await disk.read(0, 4)).join(',');
    const whole = await t.attempt(() => disk.write(2 * 65536, new Uint8Array(65536).fill(4)));
    await fetch(`/base-control/${name}?size=${1 << 20}&seed=7&status=503`);
    const failing = await t.attempt(() => disk.read(3 * 65536, 512));
    await fetch(`/base-control/${name}?size=${1 << 20}&seed=7`);
    const recovered = await t.attempt(() => disk.read(3 * 65536, 512));
    await disk.close();
    await webdisk.deleteDisk(name);
    // A File the user picked.
    const bytes = t.pattern(300_000, 9);
    const file = new File([bytes as Uint8Array<ArrayBuffer>], 'image.img', { lastModified: 1_700_000_000_000 });
    const f = await webdisk.openDisk({ name: 'ov-file', base: { blob: file } });
    const fileDisk = {
      size: f.size,
      base: f.base,
      same: t.diff((await f.read(0, f.size)).subarray(0, 300_000), bytes),
    };
    await f.close();
    const withoutBlob = await t.attempt(() => webdisk.openDisk({ name: 'ov-file' }));
    await webdisk.deleteDisk('ov-file');
    return { url: new URL(url, location.href).href, changed, local, whole, failing, recovered, fileDisk, withoutBlob };
  });
  expectDiskError(r.changed, 'EIO', 'a changed base');
  expect(r.changed.message).toContain(r.url);
  expect(r.changed.message).toContain('changed');
  expect(r.local).toBe('3,3,3,3');
  expect(r.whole).toEqual({ ok: true });
  expectDiskError(r.failing, 'EIO', 'a failing base');
  expect(r.failing.message).toContain('503');
  expect((r.recovered as Outcome).ok).toBe(true);
  expect(r.fileDisk).toEqual({ size: Math.ceil(300_000 / 512) * 512, base: 'blob', same: '' });
  expectDiskError(r.withoutBlob, 'EINVAL', 'a Blob overlay reopened without its Blob');
});

test('openDisk refuses a bad base, and a base for a disk that has none', async ({ harness }) => {
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    await webdisk.deleteDisk('ov-bad');
    const plain = await webdisk.openDisk({ name: 'ov-bad', size: 1 << 20 });
    await plain.close();
    await fetch('/base-control/ov-bad?size=1000&seed=1');
    const out = {
      notAnOverlay: await t.attempt(() => webdisk.openDisk({ name: 'ov-bad', base: { url: '/base/ov-bad' } })),
      badSpec: await t.attempt(() => webdisk.openDisk({ name: 'ov-x', base: { nope: 1 } as never })),
      missing: await t.attempt(() => webdisk.openDisk({ name: 'ov-x', base: { url: '/base/does-not-exist' } })),
      listed: (await webdisk.listDisks()).map((d) => d.name).filter((n) => n.startsWith('ov-')),
    };
    await webdisk.deleteDisk('ov-bad');
    return out;
  });
  expectDiskError(r.notAnOverlay, 'EINVAL', 'base for a disk without one');
  expectDiskError(r.badSpec, 'EINVAL', 'a base that is neither url nor blob');
  expectDiskError(r.missing, 'EIO', 'a base URL that answers 404');
  expect(r.missing.message).toContain('404');
  expect(r.listed, 'a failed create leaves no disk').toEqual(['ov-bad']);
});
