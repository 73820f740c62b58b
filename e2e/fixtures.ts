import { test as base, expect, type Page } from '@playwright/test';

/** A page with the built library loaded as window.webdisk. */
export const test = base.extend<{ harness: Page }>({
  harness: async ({ page }, use) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto('/e2e/pages/harness.html');
    await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
    await use(page);
    expect(errors, 'uncaught page errors').toEqual([]);
  },
});
export { expect };
