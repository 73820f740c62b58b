// Disk images in and out of a real browser over real OPFS (chromium-opfs):
// images qemu-img made import to exactly `qemu-img convert -O raw`'s bytes,
// exports pass `qemu-img check` and `qemu-img compare`, and an aborted or
// failed import leaves no disk. The test server serves the images
// (scripts/base-images.mjs, with Range requests) from test-results/images.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { baseBytes } from '../scripts/base-images.mjs';
import { expect, test } from './fixtures';
import { installPageHelpers } from './helpers';
import { collectErrors, expectAccessible, launchProfile } from './page-checks';

const DIR = 'test-results/images';
const MiB = 1024 * 1024;

function hasQemu(): boolean {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const QEMU = hasQemu();

test.beforeAll(() => {
  if (!QEMU && process.env.CI === 'true')
    throw new Error('CI=true: the image tests need qemu-img (apt-get install qemu-utils)');
  mkdirSync(DIR, { recursive: true });
});
test.beforeEach(async ({ harness }) => {
  test.skip(!QEMU, 'install qemu-utils (qemu-img)');
  await installPageHelpers(harness);
});

const qemu = (...args: string[]) => execFileSync('qemu-img', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A 6 MiB raw disk: data, compressible runs, a little data in mostly-zero clusters, zeros. */
function rawDisk(): Uint8Array {
  const raw = new Uint8Array(6 * MiB);
  let x = 12345;
  for (let c = 0; c < raw.length / 65536; c++) {
    const at = c * 65536;
    const kind = c % 4;
    if (kind === 0) {
      for (let i = 0; i < 65536; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        raw[at + i] = x & 0xff;
      }
    } else if (kind === 1) raw.fill(0x30 + (c % 40), at, at + 65536);
    else if (kind === 2) raw.fill(7, at + 100, at + 612);
  }
  return raw;
}

/** The page imports `source` (a served image's name) as a URL and as a Blob; reads each back whole. */
async function importBoth(harness: import('./fixtures').EnginePage, image: string) {
  return harness.evaluate(
    async ({ image }) => {
      const { webdisk } = window;
      const hex = async (b: Uint8Array) =>
        Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b.slice())), (x) =>
          x.toString(16).padStart(2, '0'),
        ).join('');
      const out: { how: string; size: number; sha: string; allocated: number; progress: number }[] = [];
      const spooled = async () => {
        const root = await navigator.storage.getDirectory();
        const dir = await root.getDirectoryHandle('webdisk-spool', { create: true });
        let n = 0;
        for await (const _ of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) n++;
        return n;
      };
      for (const how of ['url', 'blob', 'stream']) {
        const name = `img-${image}-${how}`;
        await webdisk.deleteDisk(name);
        const source =
          how === 'url'
            ? `/base/${image}`
            : how === 'blob'
              ? await (await fetch(`/base/${image}?peek=1`)).blob()
              : ((await fetch(`/base/${image}?peek=1`)).body as ReadableStream<Uint8Array>);
        let progress = 0;
        let whileImporting: Promise<number> | undefined;
        const disk = await webdisk.importDisk({
          name,
          source,
          onProgress: (p) => {
            progress = p.bytes / p.total;
            whileImporting ??= spooled();
          },
        });
        // Only the stream goes through a spool file in OPFS.
        const spoolFiles = await whileImporting;
        if (spoolFiles !== (how === 'stream' ? 1 : 0))
          throw new Error(`${spoolFiles} spool files during the ${how} import`);
        const bytes = await disk.read(0, disk.size);
        const stats = await disk.stats();
        out.push({ how, size: disk.size, sha: await hex(bytes), allocated: stats.allocatedBytes ?? -1, progress });
        await disk.close();
        await webdisk.deleteDisk(name);
        // A stream was spooled to an OPFS file while imported: gone now.
        if ((await spooled()) !== 0) throw new Error(`a spool file is left after the ${how} import`);
      }
      return out;
    },
    { image },
  );
}

test('images qemu-img made (raw; qcow2 v2 and v3, zero and compressed clusters, 64 KiB and 2 MiB clusters) import to exactly what qemu-img reads', async ({
  harness,
}) => {
  const raw = rawDisk();
  writeFileSync(join(DIR, 'disk.raw'), raw);
  const variants: [string, string[]][] = [
    ['v2.qcow2', ['-o', 'compat=0.10,cluster_size=65536']],
    ['v3.qcow2', ['-o', 'compat=1.1,cluster_size=65536']],
    ['c.qcow2', ['-c', '-o', 'compat=1.1,cluster_size=65536']],
    ['big.qcow2', ['-o', 'compat=1.1,cluster_size=2097152']],
  ];
  for (const [file, opts] of variants)
    qemu('convert', '-f', 'raw', '-O', 'qcow2', ...opts, join(DIR, 'disk.raw'), join(DIR, file));
  // Zero clusters over data (v3's zero flag).
  execFileSync('qemu-io', ['-c', 'write -z 0 128k', join(DIR, 'v3.qcow2')], { stdio: 'ignore' });
  for (const file of ['disk.raw', ...variants.map(([f]) => f)]) {
    const wantFile = join(DIR, `${file}.out`);
    qemu('convert', '-O', 'raw', join(DIR, file), wantFile);
    const want = new Uint8Array(readFileSync(wantFile));
    await harness.evaluate(
      (f) => fetch(`/base-control/${f}?file=test-results/images/${f}`).then(() => undefined),
      file,
    );
    const got = await importBoth(harness, file);
    for (const g of got) {
      expect(g, `${file} from a ${g.how}`).toMatchObject({ size: want.length, sha: sha(want), progress: 1 });
      // Thin: the all-zero clusters (a quarter of them, and the zeroed 128 KiB) took no space.
      expect(g.allocated, `${file} from a ${g.how}: allocated bytes`).toBeLessThan(want.length * 0.8);
    }
  }
});

test('exports: raw is the disk byte for byte; qcow2 passes qemu-img check and compares equal to it, for a small and a sparse 2 GiB disk', async ({
  harness,
}) => {
  const src = baseBytes(6 * MiB, 9);
  await harness.evaluate(() => fetch('/base-control/export-src.raw?size=6291456&seed=9').then(() => undefined));
  // Raw in, raw out: the same bytes.
  const roundTrip = await harness.evaluate(async () => {
    const { webdisk } = window;
    await webdisk.deleteDisk('img-round-trip');
    const blob = await (await fetch('/base/export-src.raw?peek=1')).blob();
    const disk = await webdisk.importDisk({ name: 'img-round-trip', source: blob, format: 'raw' });
    const out = new Uint8Array(await new Response(disk.export({ format: 'raw' })).arrayBuffer());
    await disk.close();
    await webdisk.deleteDisk('img-round-trip');
    const hex = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', out)), (x) =>
      x.toString(16).padStart(2, '0'),
    ).join('');
    return { length: out.length, sha: hex };
  });
  expect(roundTrip).toEqual({ length: src.length, sha: sha(src) });
  for (const size of [6 * MiB, 2048 * MiB]) {
    const got = await harness.evaluate(
      async ({ size }) => {
        const { webdisk } = window;
        const name = `export-${size}`;
        await webdisk.deleteDisk(name);
        const disk = await webdisk.openDisk({ name, size });
        const src = new Uint8Array(await (await fetch('/base/export-src.raw?peek=1')).arrayBuffer());
        // The 6 MiB of pattern at the start, and for the big disk a cluster at its end.
        await disk.write(0, src);
        if (size > src.length) await disk.write(size - 65536, src.subarray(0, 65536));
        const b64 = async (stream: ReadableStream<Uint8Array>) => {
          const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
          let s = '';
          for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          return { b64: btoa(s), length: bytes.length };
        };
        let qcowProgress = 0;
        let scanned = 0;
        const qcow2 = await b64(
          disk.export({
            format: 'qcow2',
            onProgress: (p) => {
              qcowProgress = p.phase === 'copy' ? p.bytes / p.total : 0;
              if (p.phase === 'scan') scanned = p.total;
            },
          }),
        );
        // The thin disk's map says where data may be: the scan reads only that.
        const status = await disk.blockStatus(0, size);
        const dataBytes = status.filter((r) => r.state === 'data').reduce((n, r) => n + r.length, 0);
        const raw = size <= 64 << 20 ? await b64(disk.export({ format: 'raw' })) : undefined;
        await disk.close();
        await webdisk.deleteDisk(name);
        return { qcow2, raw, qcowProgress, scanned, dataBytes };
      },
      { size },
    );
    expect(got.qcowProgress).toBe(1);
    expect(got.dataBytes).toBe(size > 6 * MiB ? 6 * MiB + 65536 : 6 * MiB);
    expect(got.scanned).toBe(got.dataBytes);
    const qfile = join(DIR, `export-${size}.qcow2`);
    writeFileSync(qfile, Buffer.from(got.qcow2.b64, 'base64'));
    qemu('check', qfile);
    const info = JSON.parse(qemu('info', '--output=json', qfile).toString()) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(size);
    const rfile = join(DIR, `export-${size}.raw`);
    if (got.raw) {
      expect(got.raw.length).toBe(size);
      writeFileSync(rfile, Buffer.from(got.raw.b64, 'base64'));
    } else {
      // Sparse: a few MiB of image for 2 GiB of disk. The raw to compare with, made here as a sparse file.
      expect(got.qcow2.length).toBeLessThan(16 * MiB);
      const fd = openSync(rfile, 'w');
      writeSync(fd, src, 0, src.length, 0);
      writeSync(fd, src, 0, 65536, size - 65536);
      closeSync(fd);
    }
    qemu('compare', '-f', 'raw', '-F', 'qcow2', rfile, qfile);
  }
});

test('an aborted import and a failed one (a truncated qcow2) leave no disk; an existing name is refused untouched', async ({
  harness,
}) => {
  const raw = rawDisk();
  writeFileSync(join(DIR, 'abort.raw'), raw);
  qemu('convert', '-f', 'raw', '-O', 'qcow2', join(DIR, 'abort.raw'), join(DIR, 'abort.qcow2'));
  const whole = readFileSync(join(DIR, 'abort.qcow2'));
  writeFileSync(join(DIR, 'cut.qcow2'), whole.subarray(0, whole.length - 70000));
  await harness.evaluate(async () => {
    await fetch('/base-control/abort.qcow2?file=test-results/images/abort.qcow2');
    await fetch('/base-control/cut.qcow2?file=test-results/images/cut.qcow2');
  });
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const listed = async (name: string) => (await webdisk.listDisks()).some((d) => d.name === name);
    await webdisk.deleteDisk('img-abort');
    await webdisk.deleteDisk('img-cut');
    const ac = new AbortController();
    const aborted = await t.attempt(() =>
      webdisk.importDisk({
        name: 'img-abort',
        source: '/base/abort.qcow2',
        signal: ac.signal,
        onProgress: () => ac.abort(new DOMException('the user stopped it', 'AbortError')),
      }),
    );
    const afterAbort = await listed('img-abort');
    // A raw Blob, which the disk's worker reads itself: aborted mid-way too.
    const big = new Blob([new Uint8Array(64 << 20).fill(3)]);
    const ac2 = new AbortController();
    const abortedFill = await t.attempt(() =>
      webdisk.importDisk({
        name: 'img-abort',
        source: big,
        format: 'raw',
        signal: ac2.signal,
        onProgress: (p) => {
          if (p.bytes < p.total) ac2.abort(new DOMException('the user stopped it', 'AbortError'));
        },
      }),
    );
    const afterFillAbort = await listed('img-abort');
    const cut = await t.attempt(() => webdisk.importDisk({ name: 'img-cut', source: '/base/cut.qcow2' }));
    const afterCut = await listed('img-cut');
    // A name in use: refused, and the disk there keeps its bytes.
    const keep = await webdisk.openDisk({ name: 'img-keep', size: 65536 });
    await keep.write(0, new Uint8Array(512).fill(9));
    await keep.close();
    const taken = await t.attempt(() => webdisk.importDisk({ name: 'img-keep', source: '/base/abort.qcow2' }));
    const again = await webdisk.openDisk({ name: 'img-keep' });
    const kept = (await again.read(0, 512)).every((b) => b === 9) && again.size === 65536;
    await again.close();
    await webdisk.deleteDisk('img-keep');
    return { aborted, afterAbort, abortedFill, afterFillAbort, cut, afterCut, taken, kept };
  });
  expect(r.aborted).toMatchObject({ ok: false, name: 'AbortError' });
  expect(r.afterAbort, 'no disk after an aborted import').toBe(false);
  expect(r.abortedFill).toMatchObject({ ok: false, name: 'AbortError' });
  expect(r.afterFillAbort, 'no disk after an aborted Blob import').toBe(false);
  expect(r.cut).toMatchObject({ ok: false, code: 'EINVAL', isDiskError: true });
  expect(r.cut.ok === false && r.cut.message).toMatch(/at byte \d+/);
  expect(r.afterCut, 'no disk after a failed import').toBe(false);
  expect(r.taken).toMatchObject({ ok: false, code: 'EINVAL' });
  expect(r.kept).toBe(true);
});

test('the demo page imports a file (picker, and drag and drop) as a new disk and exports it as a download qemu-img accepts', async ({
  baseURL,
}, testInfo) => {
  const raw = rawDisk();
  writeFileSync(join(DIR, 'demo.raw'), raw);
  const file = join(DIR, 'demo-image.qcow2');
  qemu('convert', '-f', 'raw', '-O', 'qcow2', '-c', join(DIR, 'demo.raw'), file);
  const context = await launchProfile(testInfo, baseURL);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = collectErrors(page);
    await page.goto('/dist-demo/index.html');
    await expect(page.locator('body')).toHaveAttribute('data-phase', 'open', { timeout: 60_000 });
    await page.setInputFiles('#import-file', file);
    const status = page.locator('#image-status');
    await expect(status).toContainText('Imported demo-image.qcow2 as disk “demo-image”', { timeout: 60_000 });
    await expect(status).toContainText('6 MiB');
    await expectAccessible(page, 'after an import');
    await page.selectOption('#export-disk', 'demo-image');
    await page.selectOption('#export-format', 'qcow2');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    expect(download.suggestedFilename()).toBe('demo-image.qcow2');
    const out = join(DIR, 'demo-export.qcow2');
    await download.saveAs(out);
    await expect(status).toContainText('Exported “demo-image”');
    qemu('check', out);
    qemu('compare', '-f', 'raw', '-F', 'qcow2', join(DIR, 'demo.raw'), out);
    // Drag and drop: the same file dropped on the drop zone, as a browser delivers a drop.
    const bytes = readFileSync(file).toString('base64');
    const dropped = await page.evaluateHandle((b64) => {
      const bin = atob(b64);
      const u8 = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([u8], 'dropped.qcow2'));
      return dt;
    }, bytes);
    await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dropped });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dropped });
    await expect(status).toContainText('Imported dropped.qcow2 as disk “dropped”', { timeout: 60_000 });
    // What the drop made is the image's disk: its raw download is qemu-img's raw, byte for byte.
    await page.selectOption('#export-disk', 'dropped');
    await page.selectOption('#export-format', 'raw');
    const [rawDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const rawOut = join(DIR, 'demo-dropped.raw');
    await rawDownload.saveAs(rawOut);
    expect(readFileSync(rawOut).equals(raw)).toBe(true);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
});
