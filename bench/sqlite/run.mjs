// npm run bench:sqlite: SQLite commits per second (small inserts, one
// transaction each, synchronous=FULL) on webdisk/sqlite per cache mode
// (WebdiskVFS on the page, and in a worker on the async and JSPI builds;
// WebdiskSyncVFS in a worker on the sync build) beside wa-sqlite's
// OPFSCoopSyncVFS and AccessHandlePoolVFS, in one run of
// headless Chromium with a persistent profile (real OPFS on disk), journal
// modes DELETE and WAL. Each row: 200 commits unmeasured (workload.js), then
// SQLITE_BENCH_TX transactions or SQLITE_BENCH_MS, whichever ends first
// (default 2000 / 3000 ms), every row once per repeat
// (SQLITE_BENCH_REPEATS, default 3). Prints a Markdown table of medians.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium.mjs';

const port = Number(process.env.SQLITE_BENCH_PORT ?? 5197);
const opts = {
  transactions: Number(process.env.SQLITE_BENCH_TX ?? 2000),
  maxMs: Number(process.env.SQLITE_BENCH_MS ?? 3000),
};
const repeats = Number(process.env.SQLITE_BENCH_REPEATS ?? 3);
// SQLITE_BENCH_MODES / SQLITE_BENCH_JOURNALS (comma-separated) narrow a run to some rows.
const list = (env, all) => (env ? env.split(',').filter((x) => all.includes(x)) : all);
const modes = list(process.env.SQLITE_BENCH_MODES, ['writeback', 'none', 'writethrough', 'directsync', 'unsafe']);
const journals = list(process.env.SQLITE_BENCH_JOURNALS, ['wal', 'delete']);
const server = spawn('node', ['scripts/static-server.mjs', '.', String(port)], { stdio: 'ignore' });
const profile = mkdtempSync(join(tmpdir(), 'webdisk-sqlite-bench-'));
try {
  await new Promise((r) => setTimeout(r, 500));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), args: CHROMIUM_ARGS });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`http://127.0.0.1:${port}/bench/sqlite/index.html`);
  await page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
  const rows = await page.evaluate((a) => window.benchSqlite(a), { modes, journals, opts, repeats });
  console.log(
    `Chromium ${ctx.browser()?.version() ?? ''}, OPFS, synchronous=FULL, one small insert per transaction ` +
      `(up to ${opts.transactions} or ${opts.maxMs} ms per row), ${repeats} repeats of every row in turn: ` +
      'medians of commits/s, and of the ratio to the fastest wa-sqlite VFS (by its median) in the same repeat.\n',
  );
  // The yardstick: webdisk's rows against the faster of wa-sqlite's own VFSes in the same journal mode,
  // and against the faster of those as durable as webdisk's modes but unsafe. In DELETE mode the commit point
  // is the journal's delete, which OPFSCoopSyncVFS does as a truncate without a flush (a power loss can roll
  // back a returned COMMIT); AccessHandlePoolVFS flushes it. In WAL both flush every xSync.
  const durable = (vfs, journal) => !(journal === 'delete' && vfs.startsWith('OPFSCoopSyncVFS'));
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  // "The fastest" is the wa-sqlite VFS with the most commits/s over the run (its median), and each
  // webdisk row is compared with that VFS's row of the same repeat. Not the faster of the two in each
  // repeat: when the two are close (as they can be in WAL), the larger of two noisy figures is above
  // what either VFS does, and every ratio comes out low by as much (the run prints how much, below).
  const fastest = (journal, onlyDurable) => {
    const theirs = rows.filter(
      (r) => r.journal === journal && !r.vfs.startsWith('webdisk') && (!onlyDurable || durable(r.vfs, journal)),
    );
    const names = [...new Set(theirs.map((r) => r.vfs))];
    const perVfs = names.map((vfs) => [vfs, median(theirs.filter((r) => r.vfs === vfs).map((r) => r.txPerSecond))]);
    return perVfs.sort((a, b) => b[1] - a[1])[0][0];
  };
  const best = (journal, repeat, onlyDurable) =>
    rows.find((r) => r.journal === journal && r.repeat === repeat && r.vfs === fastest(journal, onlyDurable))
      .txPerSecond;
  console.log('| VFS | journal | commits/s | × fastest wa-sqlite VFS | × fastest as durable |\n|---|---|---|---|---|');
  const keys = [...new Set(rows.map((r) => `${r.journal}\t${r.vfs}`))];
  for (const key of keys) {
    const [journal, vfs] = key.split('\t');
    const mine = rows.filter((r) => r.journal === journal && r.vfs === vfs);
    const tx = Math.round(median(mine.map((r) => r.txPerSecond)));
    const ratio = (onlyDurable) =>
      `${median(mine.map((r) => r.txPerSecond / best(journal, r.repeat, onlyDurable))).toFixed(2)}×`;
    const webdisk = vfs.startsWith('webdisk');
    const unsafe = vfs.includes('unsafe') ? ' (no durability)' : '';
    const cells = webdisk
      ? [`${ratio(false)}${unsafe}`, unsafe ? '' : ratio(true)]
      : ['', durable(vfs, journal) ? '' : 'no durable delete'];
    console.log(`| ${vfs} | ${journal} | ${tx} | ${cells.join(' | ')} |`);
  }
  // How far the faster of wa-sqlite's VFSes in each repeat stands above the fastest VFS's own figure.
  const over = journals.map((journal) => {
    const theirs = rows.filter((r) => r.journal === journal && !r.vfs.startsWith('webdisk'));
    const repeatsRun = [...new Set(theirs.map((r) => r.repeat))];
    const lift = median(
      repeatsRun.map((k) => {
        const inRepeat = theirs.filter((r) => r.repeat === k).map((r) => r.txPerSecond);
        return Math.max(...inRepeat) / best(journal, k, false);
      }),
    );
    return `${journal} ${lift.toFixed(2)}× (fastest: ${fastest(journal, false)})`;
  });
  console.log(
    `\nThe faster wa-sqlite VFS of each repeat, against the fastest's own figure (median): ${over.join(', ')}.`,
  );
  await ctx.close();
} finally {
  server.kill();
  rmSync(profile, { recursive: true, force: true });
}
