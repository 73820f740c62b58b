import { test as base, expect, type Page } from '@playwright/test';

/**
 * Loads the harness page (window.webdisk = the built library) into `page`;
 * returns the list its uncaught errors are collected in.
 */
export async function loadHarness(page: Page, url = '/e2e/pages/harness.html'): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
  return errors;
}

/** A page with the built library loaded as window.webdisk. */
export const test = base.extend<{ harness: Page }>({
  harness: async ({ page }, use) => {
    const errors = await loadHarness(page);
    await use(page);
    expect(errors, 'uncaught page errors').toEqual([]);
  },
});
export { expect };
