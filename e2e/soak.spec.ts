// The power-loss soak: `npm run soak` (or SOAK_CRASHES=n with this file)
// runs n crash rounds — 80% random workloads spread evenly over every
// mode and crash model, 10% with runtime mode switches, 10% crashing
// inside close() — prints the table and writes it to bench/soak-results.md.
// Skipped unless SOAK_CRASHES is set. Runs in the chromium-opfs project only
// (playwright.config.ts), the engine and backend its table describes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { describeFailure, markdownTable, roundProblems, saveFailedLogs, summarize } from './crash-report';
import {
  baseSeed,
  DEFAULT_CONFIG,
  launchCrashBrowser,
  MODELS,
  MODES,
  type RoundSpec,
  runRounds,
  seedOf,
} from './crash-rounds';
import { expect, test } from './fixtures';

const CRASHES = Number(process.env.SOAK_CRASHES ?? 0);
const OUT = process.env.SOAK_OUT ?? 'bench/soak-results.md';

test('power-loss soak', async ({ engine, backend }) => {
  test.skip(!(CRASHES > 0), 'set SOAK_CRASHES (npm run soak)');
  test.setTimeout(0);
  const base = baseSeed();
  const combos = MODES.flatMap((mode) => MODELS.map((model) => ({ mode, model })));
  const nRandom = Math.round(CRASHES * 0.8);
  const nSwitch = Math.round(CRASHES * 0.1);
  const nClose = CRASHES - nRandom - nSwitch;
  const specs: RoundSpec[] = [];
  for (let i = 0; i < nRandom; i++)
    specs.push({ scenario: 'random', ...combos[i % combos.length], seed: seedOf(base, i) });
  for (let i = 0; i < nSwitch; i++) {
    specs.push({ scenario: 'switch', ...combos[i % combos.length], seed: seedOf(base, 1_000_000 + i) });
  }
  for (let i = 0; i < nClose; i++) {
    specs.push({ scenario: 'close', ...combos[i % combos.length], seed: seedOf(base, 2_000_000 + i) });
  }
  console.log(`soak: ${CRASHES} crashes, base seed ${base} (CRASH_SEED=${base} repeats them)`);

  const browser = await launchCrashBrowser(engine, backend);
  const version = browser.version;
  const started = Date.now();
  let shown = 0;
  const results = await runRounds(browser.page, specs, DEFAULT_CONFIG, (done) => {
    const bad = done.filter((r) => roundProblems(r, DEFAULT_CONFIG.size).length > 0).length;
    if (done.length - shown >= 100 || done.length === specs.length) {
      shown = done.length;
      console.log(
        `  ${done.length}/${specs.length} crashes, ${((Date.now() - started) / 1000).toFixed(0)} s, ${bad} bad`,
      );
    }
  });
  const errors = [...browser.page.errors];
  await browser.close();
  const seconds = (Date.now() - started) / 1000;

  const bad = results.filter((r) => roundProblems(r, DEFAULT_CONFIG.size).length > 0);
  const table = markdownTable(summarize(results));
  const closes = results.filter((r) => r.scenario === 'close');
  const cut = closes.filter((r) => r.unclean === true).length;
  const reopenMax = Math.max(...results.map((r) => r.reopenMs));
  const md = [
    '# Power-loss soak',
    '',
    `${results.length} crashes in ${seconds.toFixed(0)} s (${DEFAULT_CONFIG.lanes} disks at a time), ` +
      `${new Date().toISOString().slice(0, 10)}, ${version}, backend ${backend} in a persistent profile, ` +
      `base seed ${base}. Each round: a disk of ${DEFAULT_CONFIG.size >> 20} MiB, ${DEFAULT_CONFIG.requests} random requests ` +
      '(512 B–1 MiB writes, aligned and not, overlapping; flushes, FUA writes, discards; up to 32 in flight), ' +
      'the plug pulled at a random moment, reopened, read back whole and checked by the oracle.',
    '',
    table,
    '',
    `Crashes inside \`close()\`: ${cut} of ${closes.length} cut it short (the disk reopened unclean); the rest had ` +
      `completed it (clean, and the image was checked exactly). Slowest reopen: ${reopenMax} ms.`,
    '',
    bad.length === 0
      ? 'No violations.'
      : `**${bad.length} bad rounds:**\n\n${bad.map((r) => `- ${describeFailure(r)}`).join('\n')}`,
    '',
  ].join('\n');
  mkdirSync(OUT.replace(/\/[^/]*$/, ''), { recursive: true });
  writeFileSync(OUT, md);
  console.log(`\n${table}\n\nwritten to ${OUT}`);
  const files = saveFailedLogs(bad);
  expect(
    bad.map((r) => `${roundProblems(r, DEFAULT_CONFIG.size).join(', ')} — ${describeFailure(r)}`),
    files.length > 0 ? `logs of the failed rounds: ${files.join(', ')}` : undefined,
  ).toEqual([]);
  expect(errors, 'uncaught page errors').toEqual([]);
});
