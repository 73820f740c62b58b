import { ENGINE_FACTS } from './engines/facts';
import { expect, harnessPath, test } from './fixtures';

// Needs no persistent disk: runs wherever the engine runs (WebKit too, today).
test('the page is cross-origin isolated, the disk worker starts, a memory disk writes and reads', async ({
  harness,
  engine,
}) => {
  const out = await harness.evaluate(async () => {
    const { openDisk } = window.webdisk;
    // (Sync access handles exist only in workers: the page sees the directory API.)
    const opfs = typeof navigator.storage?.getDirectory === 'function';
    const disk = await openDisk({ name: 'smoke-mem', size: 8 << 20, backend: 'memory', cacheSize: 64 * 1024 });
    const big = new Uint8Array(3 << 20).map((_, i) => (i * 13) & 0xff); // bigger than a ring chunk
    await Promise.all([disk.write(7, new Uint8Array([9, 8, 7])), disk.write(1 << 20, big)]);
    await disk.flush();
    const small = Array.from(await disk.read(5, 6));
    const back = await disk.read(1 << 20, big.length);
    const same = back.every((b, i) => b === big[i]);
    const stats = await disk.stats();
    const info = { backend: disk.backend, transport: disk.transportKind, unclean: disk.uncleanShutdown };
    await disk.close();
    return {
      isolated: crossOriginIsolated,
      sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
      waitAsync: typeof Atomics.waitAsync === 'function',
      opfs,
      small,
      same,
      bytesWritten: stats.bytesWritten,
      info,
      closed: disk.closed,
    };
  });
  expect(out.isolated, 'COOP/COEP make the page cross-origin isolated').toBe(true);
  expect(
    { sharedArrayBuffer: out.sharedArrayBuffer, opfs: out.opfs },
    `${engine}: as e2e/engines/facts.ts says`,
  ).toEqual({ sharedArrayBuffer: ENGINE_FACTS[engine].sharedArrayBuffer, opfs: ENGINE_FACTS[engine].opfs });
  expect(out.small).toEqual([0, 0, 9, 8, 7, 0]);
  expect(out.same).toBe(true);
  expect(out.bytesWritten).toBe(3 + (3 << 20));
  // Shared memory wherever the page can have it; batched messages otherwise.
  const transport = out.sharedArrayBuffer && out.waitAsync ? 'shared-memory' : 'messages';
  expect(out.info).toEqual({ backend: 'memory', transport, unclean: false });
  expect(out.closed).toBe(true);
});

// The same round trip on the project's storage backend, over both
// transports: the shared-memory ring (a cross-origin isolated page, where
// the engine has SharedArrayBuffer) and batched messages (a page that is not).
for (const isolated of [true, false]) {
  test(`opens a disk on the project's backend, writes, reads back, in a page ${isolated ? 'that is' : 'not'} cross-origin isolated`, async ({
    harness,
    engine,
    backend,
    expectedBackend,
  }) => {
    if (!isolated) await harness.goto(harnessPath(backend, { isolation: 'off' }));
    const out = await harness.evaluate(async () => {
      const { openDisk, deleteDisk } = window.webdisk;
      await deleteDisk('smoke');
      const disk = await openDisk({ name: 'smoke', size: 4 << 20, cacheSize: 64 * 1024 });
      const big = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff); // bigger than a ring chunk
      const writes = [disk.write(100, new Uint8Array([1, 2, 3])), disk.write(1000, big)];
      const reads = [disk.read(99, 5), disk.read(1000, big.length)];
      await Promise.all(writes);
      const [small, back] = await Promise.all(reads);
      const into = new Uint8Array(big.length);
      const viaInto = await disk.readInto(1000, into);
      const same = back.every((b, i) => b === big[i] && into[i] === b) && viaInto === into;
      const stats = await disk.stats();
      const info = {
        backend: disk.backend,
        unclean: disk.uncleanShutdown,
        isolated: crossOriginIsolated,
        transport: disk.transportKind,
      };
      await disk.close();
      await deleteDisk('smoke');
      return { small: Array.from(small), same, info, bytesWritten: stats.bytesWritten };
    });
    expect(out.small).toEqual([0, 1, 2, 3, 0]);
    expect(out.same).toBe(true);
    expect(out.bytesWritten).toBe(3 + (3 << 20));
    const transport = isolated && ENGINE_FACTS[engine].sharedArrayBuffer ? 'shared-memory' : 'messages';
    expect(out.info).toEqual({ backend: expectedBackend, unclean: false, isolated, transport });
  });
}
