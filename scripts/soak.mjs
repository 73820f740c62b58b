// npm run soak [-- --crashes N]: the power-loss soak (e2e/soak.spec.ts) in
// headless Chromium over OPFS (the chromium-opfs project). N defaults to $SOAK_CRASHES or 1000; CRASH_SEED fixes
// the seeds. Prints the table and writes it to bench/soak-results.md.
import { spawnSync } from 'node:child_process';

const i = process.argv.indexOf('--crashes');
const crashes = i >= 0 ? process.argv[i + 1] : (process.env.SOAK_CRASHES ?? '1000');
if (!(Number(crashes) > 0)) {
  console.error(`--crashes ${crashes}: give a positive number`);
  process.exit(2);
}
const r = spawnSync('node', ['scripts/run-e2e.mjs', '--project=chromium-opfs', 'e2e/soak.spec.ts'], {
  stdio: 'inherit',
  env: { ...process.env, SOAK_CRASHES: crashes },
});
process.exit(r.status ?? 1);
