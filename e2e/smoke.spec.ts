import { expect, loadHarness, test } from './fixtures';

// The same round trip over both transports: the shared-memory ring (a
// cross-origin isolated page) and batched messages (a page that is not).
for (const [url, transport, isolated] of [
  ['/e2e/pages/harness.html', 'shared-memory', true],
  ['/e2e/pages/harness.html?isolation=off', 'messages', false],
] as const) {
  test(`opens an OPFS disk, writes, reads back over ${transport}`, async ({ page }) => {
    const errors = await loadHarness(page, url);
    const out = await page.evaluate(async () => {
      const { openDisk, deleteDisk } = (window as any).webdisk;
      await deleteDisk('smoke');
      const disk = await openDisk({ name: 'smoke', size: 4 << 20, cacheSize: 64 * 1024 });
      const big = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff); // bigger than a ring chunk
      const writes = [disk.write(100, new Uint8Array([1, 2, 3])), disk.write(1000, big)];
      const reads = [disk.read(99, 5), disk.read(1000, big.length)];
      await Promise.all(writes);
      const [small, back] = await Promise.all(reads);
      const into = new Uint8Array(big.length);
      const viaInto = await disk.readInto(1000, into);
      const same = back.every((b: number, i: number) => b === big[i] && into[i] === b) && viaInto === into;
      const stats = await disk.stats();
      const info = {
        backend: disk.backend,
        unclean: disk.uncleanShutdown,
        isolated: crossOriginIsolated,
        transport: disk.transportKind,
      };
      await disk.close();
      return { small: Array.from(small), same, info, bytesWritten: stats.bytesWritten };
    });
    expect(out.small).toEqual([0, 1, 2, 3, 0]);
    expect(out.same).toBe(true);
    expect(out.bytesWritten).toBe(3 + (3 << 20));
    expect(out.info).toEqual({ backend: 'opfs', unclean: false, isolated, transport });
    expect(errors).toEqual([]);
  });
}
