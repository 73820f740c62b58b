// Runs the Playwright suites when a Chromium is available. Without one, it
// skips them and says which package to install; under CI=true a missing
// browser is a failure, never a silent skip.
import { spawnSync } from 'node:child_process';
import { chromiumAvailable } from './chromium.mjs';

const found = chromiumAvailable();

if (!found) {
  const msg = "No Chromium found: browser tests need Debian's chromium (apt-get install -y chromium) or CHROMIUM_PATH.";
  if (process.env.CI === 'true') {
    console.error(`FAIL: ${msg}`);
    process.exit(1);
  }
  console.warn(`SKIPPED browser tests. ${msg}`);
  process.exit(0);
}

const r = spawnSync('npx', ['playwright', 'test', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
