import { test } from './fixtures';
import { installPageHelpers } from './helpers';

test('probe: near-end write of a 64 GiB disk; writes of nothing', async ({ harness, engine }) => {
  await installPageHelpers(harness);
  const r = await harness.evaluate(async () => {
    const { t, webdisk } = window;
    const out: Record<string, unknown> = {};
    const est = await navigator.storage.estimate();
    out.quota = est.quota;
    for (const cache of ['none', 'writeback', 'writethrough'] as const) {
      const name = `probe-64g-${cache}`;
      await webdisk.deleteDisk(name);
      const big = await webdisk.openDisk({ name, size: 68719476736, cache });
      out[`${cache} nearEnd`] = await t.attempt(() => big.write(68719476736 - 4096, new Uint8Array(4096).fill(1)));
      out[`${cache} flush`] = await t.attempt(() => big.flush());
      out[`${cache} start`] = await t.attempt(() => big.write(0, new Uint8Array([1, 2])));
      out[`${cache} back`] = Array.from(await big.read(0, 3));
      out[`${cache} close`] = await t.attempt(() => big.close());
      out[`${cache} del`] = await t.attempt(() => webdisk.deleteDisk(name));
    }
    const d = await webdisk.openDisk({ name: 'probe-zero', size: 65536, cache: 'none' });
    out.zero = await t.attempt(() => d.write(0, new Uint8Array(0)));
    out.zeroEnd = await t.attempt(() => d.write(65536, new Uint8Array(0)));
    await d.close();
    await webdisk.deleteDisk('probe-zero');
    return out;
  });
  console.log(engine, JSON.stringify(r, null, 1));
});
