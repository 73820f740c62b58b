import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './e2e/chromium';
import type { EngineOptions } from './e2e/fixtures';
import { ENGINES, missingMessage } from './scripts/engines.mjs';

const PORT = Number(process.env.WEBDISK_E2E_PORT ?? 5174);
// The crash suite's base seed: drawn once per run here, in the runner, so
// every worker (also one restarted after a failure) uses the same.
process.env.CRASH_SEED ||= String(Math.floor(Math.random() * 2 ** 32));

// Once, in the runner (not in each worker): which engines are missing.
if (!process.env.TEST_WORKER_INDEX) {
  for (const engine of ENGINES) {
    const msg = missingMessage(engine);
    if (msg) console.warn(`${process.env.CI === 'true' ? 'FAIL' : 'SKIP'}: ${msg}`);
  }
}

/**
 * Specs that drive Chromium through Playwright's own page (locators, axe,
 * screenshots, CDP) as a whole: only in chromium-opfs.
 */
const CHROMIUM_ONLY = ['**/demo.spec.ts', '**/soak.spec.ts'];

// One project per engine × storage backend; the same specs run in each.
// WebKitGTK has no OPFS: its disks come from backend 'auto', which falls
// back to IndexedDB.
const projects: { name: string; use: EngineOptions; only?: boolean }[] = [
  { name: 'chromium-opfs', use: { engine: 'chromium', backend: 'opfs', expectedBackend: 'opfs' }, only: true },
  { name: 'chromium-idb', use: { engine: 'chromium', backend: 'idb', expectedBackend: 'idb' } },
  { name: 'firefox-opfs', use: { engine: 'firefox', backend: 'opfs', expectedBackend: 'opfs' } },
  { name: 'firefox-idb', use: { engine: 'firefox', backend: 'idb', expectedBackend: 'idb' } },
  { name: 'webkit', use: { engine: 'webkit', backend: 'auto', expectedBackend: 'idb' } },
];

export default defineConfig<EngineOptions>({
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
    // Playwright's own browser, for the Chromium-only specs that use its `page`.
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
  },
  projects: projects.map(({ name, use, only }) => ({
    name,
    use,
    testIgnore: only ? undefined : CHROMIUM_ONLY,
  })),
  webServer: {
    command: `node scripts/static-server.mjs . ${PORT}`,
    url: `http://127.0.0.1:${PORT}/e2e/pages/harness.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 30_000,
  },
});
