// npm run bench:sqlite: SQLite commits per second (small inserts, one
// transaction each, synchronous=FULL) on webdisk/sqlite per cache mode
// (WebdiskVFS on the page, and in a worker on the async and JSPI builds;
// WebdiskSyncVFS in a worker on the sync build) beside wa-sqlite's
// OPFSCoopSyncVFS and AccessHandlePoolVFS, in one run of
// headless Chromium with a persistent profile (real OPFS on disk), journal
// modes DELETE and WAL. Short by design (SQLITE_BENCH_TX transactions or
// SQLITE_BENCH_MS per row, default 300 / 3000 ms). Prints a Markdown table.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium.mjs';

const port = Number(process.env.SQLITE_BENCH_PORT ?? 5197);
const opts = {
  transactions: Number(process.env.SQLITE_BENCH_TX ?? 300),
  maxMs: Number(process.env.SQLITE_BENCH_MS ?? 3000),
};
const modes = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'];
const journals = ['wal', 'delete'];
const server = spawn('node', ['scripts/static-server.mjs', '.', String(port)], { stdio: 'ignore' });
const profile = mkdtempSync(join(tmpdir(), 'webdisk-sqlite-bench-'));
try {
  await new Promise((r) => setTimeout(r, 500));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), args: CHROMIUM_ARGS });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`http://127.0.0.1:${port}/bench/sqlite/index.html`);
  await page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
  const rows = await page.evaluate((a) => window.benchSqlite(a), { modes, journals, opts });
  console.log(
    `Chromium ${ctx.browser()?.version() ?? ''}, OPFS, synchronous=FULL, one small insert per transaction ` +
      `(up to ${opts.transactions} or ${opts.maxMs} ms per row):\n`,
  );
  // The yardstick: webdisk's rows against the faster of wa-sqlite's own VFSes in the same journal mode
  // (both flush on every xSync: the durability of webdisk's modes but unsafe).
  const fastest = (journal) =>
    Math.max(...rows.filter((r) => r.journal === journal && !r.vfs.startsWith('webdisk')).map((r) => r.txPerSecond));
  console.log('| VFS | journal | commits/s | × fastest wa-sqlite VFS |\n|---|---|---|---|');
  for (const r of rows) {
    const ratio = r.vfs.startsWith('webdisk')
      ? `${(r.txPerSecond / fastest(r.journal)).toFixed(2)}×${r.vfs.includes('unsafe') ? ' (no durability)' : ''}`
      : '';
    console.log(`| ${r.vfs} | ${r.journal} | ${r.txPerSecond} | ${ratio} |`);
  }
  await ctx.close();
} finally {
  server.kill();
  rmSync(profile, { recursive: true, force: true });
}
