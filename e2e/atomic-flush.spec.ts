// IndexedDB's stronger promise (README, Backends): a writeback flush is one
// transaction, so a crash in the middle of it leaves every block it wrote
// back new, or every one old — never a mix, as OPFS may.
import { expect, test } from './fixtures';

test('a flush on IndexedDB is atomic: a crash mid-flush leaves all its blocks new or all old', async ({
  harness,
  expectedBackend,
}) => {
  test.skip(expectedBackend !== 'idb', 'the atomic flush is a promise of the IndexedDB backend only');
  const { out: outcomes, flushMs } = await harness.evaluate(async () => {
    const wd = window.webdisk;
    const name = 'atomic-flush';
    const BLOCKS = 192;
    const BLOCK = 4096;
    const SIZE = 16 << 20;
    // Scattered blocks, several per chunk and in many chunks: block records and folded chunks both.
    const offsetOf = (i: number) => ((i * 7919) % (SIZE / BLOCK)) * BLOCK;
    /** The generation every flushed block holds, or -1 when they differ (a torn flush). */
    const generation = async (disk: Awaited<ReturnType<typeof wd.openDisk>>) => {
      const blocks = await Promise.all(Array.from({ length: BLOCKS }, (_, i) => disk.read(offsetOf(i), BLOCK)));
      const g = blocks[0][0];
      return blocks.every((b) => b.every((x) => x === g)) ? g : -1;
    };
    await wd.deleteDisk(name);
    // How long such a flush takes here: the cuts are spread over 0–1.5× that.
    const probe = await wd.openDisk({ name, size: SIZE, cache: 'writeback' });
    for (let i = 0; i < BLOCKS; i++) await probe.write(offsetOf(i), new Uint8Array(BLOCK));
    const t0 = performance.now();
    await probe.flush();
    const flushMs = performance.now() - t0;
    await probe.close();
    const out: { outcome: 'new' | 'old' | 'mixed'; acked: boolean }[] = [];
    let gen = 0;
    for (let round = 0; round <= 16; round++) {
      const disk = await wd.openDisk({ name, size: SIZE, cache: 'writeback', lockTimeoutMs: 20_000 });
      if (round > 0) {
        const now = await generation(disk);
        out[round - 1].outcome = now === gen + 1 ? 'new' : now === gen ? 'old' : 'mixed';
        if (now >= 0) gen = now;
      }
      if (round === 16) {
        await disk.close();
        break;
      }
      for (let i = 0; i < BLOCKS; i++) await disk.write(offsetOf(i), new Uint8Array(BLOCK).fill(gen + 1));
      const result = { outcome: 'old' as 'new' | 'old' | 'mixed', acked: false };
      out.push(result);
      const flushed = disk.flush().then(
        () => {
          result.acked = true;
        },
        () => undefined,
      );
      // The plug is pulled a little later each round: from before the flush reaches the store to after it commits.
      await new Promise((r) => setTimeout(r, (round / 10) * flushMs));
      disk.powerLoss();
      await flushed;
    }
    await wd.deleteDisk(name);
    return { out, flushMs };
  });
  console.log(
    `atomic flush (${flushMs.toFixed(0)} ms), each crash: ${outcomes.map((o) => `${o.outcome}${o.acked ? ' (acked)' : ''}`).join(', ')}`,
  );
  expect(
    outcomes.filter((o) => o.outcome === 'mixed'),
    'torn flushes',
  ).toEqual([]);
  expect(
    outcomes.filter((o) => o.acked && o.outcome !== 'new'),
    'acknowledged flushes lost',
  ).toEqual([]);
  // The cut must fall on both sides of the commit, or this proves nothing.
  expect(new Set(outcomes.map((o) => o.outcome))).toEqual(new Set(['new', 'old']));
});
