// SQLite on webdisk (webdisk/sqlite) in real Chromium over real OPFS, in
// the variants of dist/sqlite.js: WebdiskVFS with wa-sqlite's async build
// on a plain page (e2e/pages/sqlite.html), WebdiskSyncVFS with the sync
// build in a worker of it, and WebdiskVFS with the JSPI build and
// WebdiskSyncVFS with the sync build in a worker with diskWorker: false
// (each disk's core on that worker's thread, called synchronously by the
// sync build; their power loss is the switch, not a terminated worker).
// Per variant, a smoke test per journal mode, then
// the crash suite: randomized insert/update/delete transactions with a checksum row,
// the plug pulled on every disk of the VFS at a random moment (both crash
// models), reopened: integrity_check must be ok and every transaction whose
// COMMIT returned present, in every cache mode but unsafe, whose losses are
// counted and printed. Runs in chromium-opfs only (playwright.config.ts).
//
// SQLITE_CRASHES crashes per cache mode and variant (default 8: 32 per mode
// over the four variants, spread evenly over journal modes DELETE and WAL
// and both crash models; npm run soak runs 100); CRASH_SEED fixes the seeds.
import { writeFileSync } from 'node:fs';
import { baseSeed, type CrashBrowser, launchCrashBrowser, MODELS, MODES, type Mode, seedOf } from './crash-rounds';
import { expect, test } from './fixtures';
import type { SqliteRound, SqliteRoundResult, SqliteVariant } from './sqlite-types';

const PAGE = '/e2e/pages/sqlite.html';
const JOURNALS = ['delete', 'wal'] as const;
/** The crash suite's variants; the JSPI build (WebdiskVFS as with the async build) gets the smoke tests. */
const VARIANTS: readonly SqliteVariant[] = ['async', 'sync', 'here', 'sync-here'];
/** Disk names are prefixed with the VFS's: each variant's own. */
const PREFIX: Record<SqliteVariant, string> = { async: '', sync: 's-', jspi: 'j-', here: 'h-', 'sync-here': 'sh-' };
const CRASHES_PER_MODE = Number(process.env.SQLITE_CRASHES ?? 8);
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

for (const variant of [...VARIANTS, 'jspi'] as const)
  for (const journal of JOURNALS) {
    test(`${variant}: smoke, journal mode ${journal}: create, insert, close, reopen, read back, integrity ok`, async () => {
      const vfsName = `${PREFIX[variant]}smoke-${journal}`;
      const r = await browser.page.evaluate(([v, a]) => window.sqliteLabs[v].smoke(a), [
        variant,
        { vfsName, journal, cache: 'writeback' as const },
      ] as const);
      const { disks, ...rest } = r;
      expect(rest).toEqual({ journalMode: journal, count: 200, bytes: (199 * 200) / 2, integrity: 'ok' });
      // One disk per file: the database, and its journal or WAL (a WAL database's first transaction still journals).
      expect(disks).toContain(`${vfsName}.smoke.db`);
      expect(disks).toContain(`${vfsName}.smoke.db-${journal === 'wal' ? 'wal' : 'journal'}`);
    });
  }

test("WebdiskSyncVFS on the page's main thread: ENOTSUP, saying to use a worker", async () => {
  const r = await browser.page.evaluate(() => window.syncVfsOnPage());
  expect(r).toMatchObject({ ok: false, code: 'ENOTSUP' });
  expect(r.message).toMatch(/worker/);
});

/** The rounds of one cache mode: journal modes and crash models in turn, random seeds and crash moments. */
function rounds(variant: SqliteVariant, mode: Mode, tag: number, n: number): SqliteRound[] {
  const base = seedOf(BASE, { async: 500, sync: 600, jspi: 650, here: 700, 'sync-here': 750 }[variant] + tag);
  return Array.from({ length: n }, (_, i): SqliteRound => {
    const seed = seedOf(base, i);
    return {
      vfsName: `${PREFIX[variant]}crash-${mode}-${i}`,
      journal: JOURNALS[i % JOURNALS.length],
      cache: mode,
      crashModel: MODELS[Math.floor(i / JOURNALS.length) % MODELS.length],
      seed,
      // Mostly mid-workload (a transaction takes milliseconds), sometimes before the first commit.
      crashAfterMs: 5 + (seed % 600),
      maxTransactions: 400,
    };
  });
}

interface Outcome {
  variant: SqliteVariant;
  spec: SqliteRound;
  r: SqliteRoundResult;
}

const problems = ({ r }: Outcome): string[] => [
  ...(r.workloadError ? [`workload failed before the crash: ${r.workloadError}`] : []),
  ...(r.reopenError ? [`reopen failed: ${r.reopenError}`] : []),
  ...(r.integrity !== null && r.integrity !== 'ok' ? [`integrity_check: ${r.integrity}`] : []),
  ...(r.mismatch ? [`not the state of one transaction: ${r.mismatch}`] : []),
  ...(r.lost > 0 ? [`lost ${r.lost} committed transactions (committed ${r.committed}, found ${r.found})`] : []),
];

const roundName = ({ variant, spec, r }: Outcome) =>
  `${variant} ${spec.cache}/${spec.journal}/${spec.crashModel} seed ${spec.seed} crash at ${spec.crashAfterMs} ms: ` +
  `committed ${r.committed}, started ${r.started}, found ${r.found}`;

const outcomes: Outcome[] = [];

async function runRounds(variant: SqliteVariant, specs: SqliteRound[]): Promise<Outcome[]> {
  const got: Outcome[] = [];
  for (const spec of specs) {
    const r = await browser.page.evaluate(([v, a]) => window.sqliteLabs[v].crashRound(a), [variant, spec] as const);
    const o = { variant, spec, r };
    if (process.env.CRASH_VERBOSE)
      console.log(`${roundName(o)}, lost ${r.lost}, reopen ${r.reopenMs} ms`, problems(o).join('; '));
    got.push(o);
  }
  outcomes.push(...got);
  return got;
}

/** Counts per variant × cache mode × journal mode × crash model: crashes, commits lost, integrity failures. */
function table(got: Outcome[]): string {
  const lines = [
    '| VFS | cache mode | journal | crash model | crashes | commits lost (rounds) | broken databases (integrity_check or open) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const variant of VARIANTS)
    for (const mode of MODES)
      for (const journal of JOURNALS)
        for (const model of MODELS) {
          const these = got.filter(
            (o) =>
              o.variant === variant &&
              o.spec.cache === mode &&
              o.spec.journal === journal &&
              o.spec.crashModel === model,
          );
          if (these.length === 0) continue;
          const lost = these.reduce((a, o) => a + o.r.lost, 0);
          const lostRounds = these.filter((o) => o.r.lost > 0).length;
          const broken = these.filter(
            (o) => o.r.reopenError || (o.r.integrity ?? 'ok') !== 'ok' || o.r.mismatch,
          ).length;
          lines.push(
            `| ${VFS_NAME[variant]} | ${mode} | ${journal} | ${model} | ${these.length} | ${lost} (${lostRounds}) | ${broken} |`,
          );
        }
  return lines.join('\n');
}

const VFS_NAME: Record<SqliteVariant, string> = {
  async: 'WebdiskVFS (async build)',
  sync: 'WebdiskSyncVFS (sync build)',
  jspi: 'WebdiskVFS (JSPI build)',
  here: 'WebdiskVFS (JSPI build, diskWorker: false)',
  'sync-here': 'WebdiskSyncVFS (sync build, diskWorker: false)',
};

for (const variant of VARIANTS)
  MODES.forEach((mode, mi) => {
    const safe = mode !== 'unsafe';
    const n = CRASHES_PER_MODE;
    test(`${variant}: ${mode}: ${n} crashes (DELETE and WAL, both crash models, synchronous=FULL): ${safe ? 'integrity ok, 0 lost commits' : 'losses counted'}`, async () => {
      const got = await runRounds(variant, rounds(variant, mode, mi, n));
      console.log(`${variant} ${mode}:\n${table(got)}`);
      // The crash must come mid-workload often enough to test something.
      expect(got.filter((o) => o.r.committed > 0).length, 'rounds that committed before the crash').toBeGreaterThan(
        got.length / 2,
      );
      if (safe) {
        expect(got.flatMap((o) => problems(o).map((p) => `${p} — ${roundName(o)}`))).toEqual([]);
      } else {
        // unsafe never syncs: a crash may lose commits or break the database; the workload itself must still run.
        expect(got.filter((o) => o.r.workloadError).map(roundName)).toEqual([]);
      }
      expect(browser.page.errors, 'uncaught page errors').toEqual([]);
    });
  });

test('summary: crashes per mode, lost commits, integrity failures (unsafe reported)', () => {
  test.skip(outcomes.length === 0, 'needs the crash rounds of this run');
  const md = table(outcomes);
  console.log(`\nSQLite on webdisk, ${outcomes.length} crashes:\n${md}\n`);
  if (process.env.SQLITE_SOAK_OUT) {
    const head = `# SQLite on webdisk: crash soak\n\n${new Date().toISOString().slice(0, 10)}, ${browser.version}, OPFS, base seed ${BASE} (CRASH_SEED=${BASE} repeats it), ${outcomes.length} crashes, synchronous=FULL.\n\n`;
    writeFileSync(process.env.SQLITE_SOAK_OUT, `${head}${md}\n`);
  }
});
