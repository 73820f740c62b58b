import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './e2e/chromium';
import type { EngineOptions } from './e2e/fixtures';
import { missingMessage, PROJECTS, selectProjects } from './scripts/engines.mjs';

const PORT = Number(process.env.WEBDISK_E2E_PORT ?? 5174);
// The crash suite's base seed: drawn once per run here, in the runner, so
// every worker (also one restarted after a failure) uses the same.
process.env.CRASH_SEED ||= String(Math.floor(Math.random() * 2 ** 32));

// Once, in the runner (not in each worker): which engines of the chosen
// projects are missing (their tests skip, or fail under CI=true).
if (!process.env.TEST_WORKER_INDEX) {
  const patterns = process.argv.flatMap((a, i, all) =>
    a === '--project' ? [all[i + 1]] : a.startsWith('--project=') ? [a.slice('--project='.length)] : [],
  );
  for (const engine of new Set(selectProjects(patterns).map((p) => p.engine))) {
    const msg = missingMessage(engine);
    if (msg) console.warn(`${process.env.CI === 'true' ? 'FAIL' : 'SKIP'}: ${msg}`);
  }
}

/**
 * Specs that drive Chromium through Playwright's own page (locators, axe,
 * screenshots, CDP) as a whole: only in chromium-opfs.
 */
const CHROMIUM_ONLY = [
  '**/demo.spec.ts',
  '**/emulator.spec.ts',
  '**/images.spec.ts',
  '**/soak.spec.ts',
  '**/sqlite.spec.ts',
  '**/sqlite-demo.spec.ts',
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
  // One project per engine × storage backend (scripts/engines.mjs); the same specs run in each.
  projects: PROJECTS.map(({ name, engine, backend, expectedBackend }) => ({
    name,
    use: { engine, backend, expectedBackend },
    testIgnore: name === 'chromium-opfs' ? undefined : CHROMIUM_ONLY,
  })),
  webServer: {
    command: `node scripts/static-server.mjs . ${PORT}`,
    url: `http://127.0.0.1:${PORT}/e2e/pages/harness.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 30_000,
  },
});
