// The demo's "SQLite on this disk" panel (dist-demo, built by
// `npm run build:demo`) in Chromium over OPFS: a run in writeback keeps
// every committed transaction through the power loss, a run in unsafe is
// reported whatever it lost, and the panel passes axe-core's WCAG 2.1 AA rules.
import { existsSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { collectErrors, expectAccessible, launchProfile } from './page-checks';

test('SQLite panel: run, pull the plug, reopen; writeback keeps every commit; accessible', async ({
  baseURL,
}, testInfo) => {
  test.skip(!existsSync('dist-demo/index.html'), 'dist-demo/ is missing: run `npm run build:demo` first.');
  const ctx = await launchProfile(testInfo, baseURL);
  try {
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    await page.goto('/dist-demo/index.html');
    const status = page.locator('#sqlite-status');
    await page.locator('#sqlite-mode').selectOption('writeback');
    await page.locator('#sqlite-journal').selectOption('wal');
    await page.locator('#sqlite-count').fill('60');
    await page.getByRole('button', { name: 'Run, pull the plug, reopen' }).click();
    await expect(status).toContainText('survived', { timeout: 60_000 });
    await expect(status).toHaveText(
      'writeback, WAL: 60 of 60 committed transactions survived the power loss; integrity_check: ok.',
    );
    await page.locator('#sqlite-mode').selectOption('unsafe');
    await page.locator('#sqlite-journal').selectOption('delete');
    await page.getByRole('button', { name: 'Run, pull the plug, reopen' }).click();
    await expect(status).toContainText('unsafe, DELETE:', { timeout: 60_000 });
    await expect(page.locator('#sqlite-results tbody tr')).toHaveCount(2);
    await expectAccessible(page, 'after two SQLite runs');
    expect(errors).toEqual([]);
  } finally {
    await ctx.close();
  }
});
