// npm run soak [-- --crashes N] [-- --sqlite M]: the power-loss soak
// (e2e/soak.spec.ts) and the SQLite crash suite (e2e/sqlite.spec.ts) in
// headless Chromium over OPFS (the chromium-opfs project). N defaults to
// $SOAK_CRASHES or 1000; M, SQLite crashes per cache mode, to
// $SOAK_SQLITE_CRASHES or 100 (CI runs 8 per variant, 32 per mode). CRASH_SEED fixes the seeds.
// Prints the tables and writes them to bench/soak-results.md and
// bench/sqlite-soak-results.md.
import { spawnSync } from 'node:child_process';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const crashes = arg('--crashes', process.env.SOAK_CRASHES ?? '1000');
const sqlite = arg('--sqlite', process.env.SOAK_SQLITE_CRASHES ?? '100');
for (const [flag, n] of [
  ['--crashes', crashes],
  ['--sqlite', sqlite],
]) {
  if (!(Number(n) > 0)) {
    console.error(`${flag} ${n}: give a positive number`);
    process.exit(2);
  }
}
const r = spawnSync(
  'node',
  ['scripts/run-e2e.mjs', '--project=chromium-opfs', 'e2e/soak.spec.ts', 'e2e/sqlite.spec.ts'],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      SOAK_CRASHES: crashes,
      SQLITE_CRASHES: sqlite,
      SQLITE_SOAK_OUT: process.env.SQLITE_SOAK_OUT ?? 'bench/sqlite-soak-results.md',
    },
  },
);
process.exit(r.status ?? 1);
