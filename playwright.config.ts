import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './e2e/chromium';

const PORT = Number(process.env.WEBDISK_E2E_PORT ?? 5174);
// The crash suite's base seed: drawn once per run here, in the runner, so
// every worker (also one restarted after a failure) uses the same.
process.env.CRASH_SEED ||= String(Math.floor(Math.random() * 2 ** 32));

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  timeout: 120_000,
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
  },
  webServer: {
    command: `node scripts/static-server.mjs . ${PORT}`,
    url: `http://127.0.0.1:${PORT}/e2e/pages/harness.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 30_000,
  },
});
