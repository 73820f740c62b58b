// Playwright Test fixtures for every engine: the specs get `harness`, an
// EnginePage showing e2e/pages/harness.html (window.webdisk = the built
// library, openDisk defaulting to the project's backend), and the project's
// engine and backend. playwright.config.ts makes one project per engine ×
// backend.
import { test as base, expect } from '@playwright/test';
import { type EngineBrowser, type EngineName, type EnginePage, launchEngine, missingMessage } from './engines';
import { ChromiumPage } from './engines/chromium';

export type { EngineName, EnginePage };
/** The backend the harness makes openDisk's default: 'auto' lets webdisk choose. */
export type StorageBackend = 'opfs' | 'idb' | 'auto';

export interface EngineOptions {
  engine: EngineName;
  /** Passed to the harness as ?backend=. */
  backend: StorageBackend;
  /** What disk.backend must say for a disk opened with the default backend. */
  expectedBackend: 'opfs' | 'idb';
}

export const BASE_URL = `http://127.0.0.1:${Number(process.env.WEBDISK_E2E_PORT ?? 5174)}`;

/** The harness page's path for `backend`, with more query parameters (e.g. isolation: 'off'). */
export function harnessPath(backend: StorageBackend, params: Record<string, string> = {}): string {
  return `/e2e/pages/harness.html?${new URLSearchParams({ backend, ...params })}`;
}

/**
 * Skips the running test (or the tests of a beforeAll) when `engine` is not
 * installed, naming the Debian package; under CI=true a missing engine fails.
 */
export function requireEngine(engine: EngineName): void {
  const msg = missingMessage(engine);
  if (!msg) return;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${msg}`);
  base.skip(true, msg);
}

/** The Playwright page behind a Chromium EnginePage, for Chromium-only machinery (CDP, routes). */
export function playwrightPage(page: EnginePage) {
  if (!(page instanceof ChromiumPage)) throw new Error(`${page.engine}: this test needs Chromium (Playwright's Page)`);
  return page.page;
}

export const test = base.extend<
  { harness: EnginePage; engineCheck: undefined },
  EngineOptions & { engineBrowser: () => Promise<EngineBrowser> }
>({
  engine: ['chromium', { option: true, scope: 'worker' }],
  backend: ['opfs', { option: true, scope: 'worker' }],
  expectedBackend: ['opfs', { option: true, scope: 'worker' }],

  /** Launched on first use, once per worker; each test's pages get storage of their own. */
  engineBrowser: [
    async ({ engine }, use, workerInfo) => {
      let launched: Promise<EngineBrowser> | undefined;
      const baseURL = workerInfo.project.use.baseURL ?? BASE_URL;
      await use(() => {
        launched ??= launchEngine(engine, { baseURL, isolated: true });
        return launched;
      });
      const browser = await launched?.catch(() => undefined);
      await browser?.close();
    },
    { scope: 'worker' },
  ],

  /** Every test: skipped (or, under CI=true, failed) when the project's engine is missing. */
  engineCheck: [
    async ({ engine }, use) => {
      requireEngine(engine);
      await use(undefined);
    },
    { auto: true },
  ],

  harness: async ({ engine, engineBrowser, backend }, use) => {
    requireEngine(engine);
    const page = await (await engineBrowser()).newPage();
    try {
      await page.goto(harnessPath(backend));
      await use(page);
    } finally {
      await page.close();
    }
    expect(page.errors, 'uncaught page errors').toEqual([]);
  },
});
export { expect };
