// SQLite on webdisk (webdisk/sqlite) in real Chromium over real OPFS:
// wa-sqlite's async build on a plain page (e2e/pages/sqlite.html) with the
// VFS of dist/sqlite.js. A smoke test per journal mode, then the crash
// suite: randomized insert/update/delete transactions with a checksum row,
// the plug pulled on every disk of the VFS at a random moment (both crash
// models), reopened: integrity_check must be ok and every transaction whose
// COMMIT returned present, in every cache mode but unsafe, whose losses are
// counted and printed. Runs in chromium-opfs only (playwright.config.ts).
//
// SQLITE_CRASHES crashes per cache mode (default 20, spread evenly over
// journal modes DELETE and WAL and both crash models); CRASH_SEED fixes the seeds.
import { baseSeed, type CrashBrowser, launchCrashBrowser, MODELS, MODES, type Mode, seedOf } from './crash-rounds';
import { expect, test } from './fixtures';
import type { SqliteRound, SqliteRoundResult } from './sqlite-types';

const PAGE = '/e2e/pages/sqlite.html';
const JOURNALS = ['delete', 'wal'] as const;
const CRASHES_PER_MODE = Number(process.env.SQLITE_CRASHES ?? 20);
const BASE = baseSeed();
let browser: CrashBrowser;

test.describe.configure({ timeout: 600_000 });

test.beforeAll(async ({ engine, backend }) => {
  browser = await launchCrashBrowser(engine, backend);
  await browser.page.goto(PAGE);
  console.log(`sqlite suite: ${browser.version}, base seed ${BASE} (CRASH_SEED=${BASE} repeats it)`);
});

test.afterAll(async () => {
  await browser?.close();
});

for (const journal of JOURNALS) {
  test(`smoke, journal mode ${journal}: create, insert, close, reopen, read back, integrity ok`, async () => {
    const r = await browser.page.evaluate((a) => window.sqliteLab.smoke(a), {
      vfsName: `smoke-${journal}`,
      journal,
      cache: 'writeback' as const,
    });
    const { disks, ...rest } = r;
    expect(rest).toEqual({ journalMode: journal, count: 200, bytes: (199 * 200) / 2, integrity: 'ok' });
    // One disk per file: the database, and its journal or WAL (a WAL database's first transaction still journals).
    expect(disks).toContain(`smoke-${journal}.smoke.db`);
    expect(disks).toContain(`smoke-${journal}.smoke.db-${journal === 'wal' ? 'wal' : 'journal'}`);
  });
}
