import { expect, test } from './fixtures';

test('opens an OPFS disk, writes, reads back', async ({ harness }) => {
  const out = await harness.evaluate(async () => {
    const { openDisk, deleteDisk } = (window as any).webdisk;
    await deleteDisk('smoke');
    const disk = await openDisk({ name: 'smoke', size: 1 << 20 });
    await disk.write(100, new Uint8Array([1, 2, 3]));
    const back = Array.from(await disk.read(99, 5));
    const info = { backend: disk.backend, unclean: disk.uncleanShutdown, isolated: crossOriginIsolated };
    await disk.close();
    return { back, info };
  });
  expect(out.back).toEqual([0, 1, 2, 3, 0]);
  expect(out.info).toEqual({ backend: 'opfs', unclean: false, isolated: true });
});
