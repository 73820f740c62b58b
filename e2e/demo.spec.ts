// The demo page (npm start), built by `vite build --mode demo` into
// dist-demo/ and served by the e2e static server: a new user's path
// through it in real Chromium over real OPFS and IndexedDB, checked for
// WCAG 2.1 AA with axe-core along the way.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { chromium, type Page, expect as pwExpect, test } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';
import { collectErrors, expectAccessible, launchProfile } from './page-checks';

const expect = pwExpect;
const DEMO = '/dist-demo/index.html';

test.beforeAll(() => {
  if (!existsSync('dist-demo/index.html')) throw new Error('dist-demo/ is missing: run `npm run build:demo` first.');
});

const writes = async (page: Page) => Number(((await page.textContent('#c-writes')) ?? '0').replace(/,/g, ''));

async function waitPhase(page: Page, phase: string, timeout = 60_000): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-phase', phase, { timeout });
}

/**
 * Runs the workload until at least `n` writes are acknowledged, and a
 * little longer so the chart (and the screenshot) shows a plateau.
 */
async function runUntil(page: Page, n: number): Promise<void> {
  await expect.poll(() => writes(page), { timeout: 60_000 }).toBeGreaterThanOrEqual(n);
  await page.waitForTimeout(1500);
}

/** Power loss, then Reopen & verify; returns the verdict's numbers. */
async function powerLossAndVerify(
  page: Page,
): Promise<{ intact: number; lost: number; violations: number; text: string }> {
  await page.click('#power');
  await waitPhase(page, 'power-lost');
  await expect(page.locator('#status')).toContainText('Power lost');
  await page.click('#verify');
  await waitPhase(page, 'open');
  const v = page.locator('#verdict');
  await expect(v).toBeVisible();
  return {
    intact: Number(await v.getAttribute('data-intact')),
    lost: Number(await v.getAttribute('data-lost')),
    violations: Number(await v.getAttribute('data-violations')),
    text: (await v.textContent()) ?? '',
  };
}

test('a new user: throughput, runtime mode switch, power loss and verdicts; unsafe loses data, writethrough none', async ({
  baseURL,
}, testInfo) => {
  // A persistent profile: off the record, OPFS would misstate the modes' speeds.
  const context = await launchProfile(testInfo, baseURL);
  try {
    await userJourney(
      context.pages()[0] ?? (await context.newPage()),
      testInfo.outputPath('demo.png'),
      testInfo.outputPath('demo-phone.png'),
    );
  } finally {
    await context.close();
  }
});

async function userJourney(page: Page, shot: string, phoneShot: string): Promise<void> {
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(DEMO);
  await waitPhase(page, 'open');
  await expect(page.locator('#backend-info')).toHaveText(
    'OPFS, persistent — Auto’s first choice, available in this browser',
  );
  await expect(page.locator('input[name="cache"]')).toHaveCount(5);
  await expect(page.locator('input[name="cache"]:checked')).toHaveValue('writeback');
  await expect(page.locator('#crash-model')).toHaveValue('power');

  // 1. A workload in writeback: throughput on the chart and the counters.
  await page.click('#start');
  await waitPhase(page, 'running');
  await runUntil(page, 300);
  await expect.poll(async () => Number(await page.locator('#chart').getAttribute('data-peak-mbps'))).toBeGreaterThan(0);
  await expect(page.locator('#chart canvas')).toHaveCount(1);
  await expect(page.locator('#c-write-rate')).not.toHaveText(/^(–|0\.00 MB\/s)$/);

  // 2. Switch to writethrough while it runs (the switch flushes first), run on, pull the plug.
  await page.check('input[name="cache"][value="writethrough"]');
  await expect(page.locator('#status')).toContainText('Cache mode now writethrough');
  const atSwitch = await writes(page);
  await runUntil(page, atSwitch + 50);
  const wt = await powerLossAndVerify(page);
  expect(wt.violations, wt.text).toBe(0);
  expect(wt.lost, wt.text).toBe(0);
  expect(wt.intact).toBeGreaterThan(0);
  await expect(page.locator('#status')).toContainText('unclean shutdown');

  // 3. unsafe, chosen with the keyboard, under the power model: fast, and loses data.
  await page.focus('input[name="cache"][value="writethrough"]');
  await page.keyboard.press('ArrowDown'); // directsync
  await page.keyboard.press('ArrowDown'); // unsafe
  await expect(page.locator('input[name="cache"]:checked')).toHaveValue('unsafe');
  await expect(page.locator('#status')).toContainText('Cache mode now unsafe');
  await page.focus('#start');
  await page.keyboard.press('Enter');
  await waitPhase(page, 'running');
  await runUntil(page, 2000);
  const unsafe = await powerLossAndVerify(page);
  expect(unsafe.violations, unsafe.text).toBe(0);
  expect(unsafe.lost, unsafe.text).toBeGreaterThan(0);
  expect(unsafe.text).toContain('allowed by unsafe');

  // 4. The comparison table filled in as the modes were tried.
  const rows = page.locator('#compare tbody tr');
  await expect(rows).toHaveCount(3);
  for (const mode of ['writeback', 'writethrough', 'unsafe']) {
    await expect(page.locator(`#compare tr[data-mode="${mode}"]`)).toHaveCount(1);
  }
  await expect(page.locator('#compare tr[data-mode="writethrough"] td').nth(2)).toHaveText(/^0 \(0%\)/);
  await expect(page.locator('#compare tr[data-mode="unsafe"] td').nth(2)).not.toHaveText(/^(–|0 )/);
  await expect(page.locator('#legend li[data-state="lost"]')).not.toHaveAttribute('data-count', '0');
  await expect(page.locator('#legend li[data-state="violation"]')).toHaveAttribute('data-count', '0');

  // 5. The screenshot: a test artifact, and the README's picture.
  await page.locator('#start').blur();
  await page.screenshot({ path: shot });
  // The README's picture is refreshed on request only, so a test run leaves the tree clean.
  if (process.env.UPDATE_SCREENSHOT === '1') {
    mkdirSync('docs', { recursive: true });
    copyFileSync(shot, 'docs/demo.png');
  }
  expect(existsSync(shot)).toBe(true);
  await expectAccessible(page, 'desktop, after two verdicts');

  // 6. A phone-width screen: everything reachable, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await expect
    .poll(() => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth))
    .toBeLessThanOrEqual(0);
  for (const id of ['start', 'power', 'verify', 'flush', 'close', 'delete']) {
    const box = await page.locator(`#${id}`).boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= 390, `#${id} fits the screen`).toBe(true);
  }
  await page.screenshot({ path: phoneShot, fullPage: true });
  await expectAccessible(page, 'phone width, after two verdicts');

  // 7. Close and Delete disk leave nothing behind.
  await page.click('#close');
  await waitPhase(page, 'closed');
  await page.click('#delete');
  // Deleting waits for the disk's lock and both backends: patience on a busy machine, no timing claim.
  await expect(page.locator('#status')).toContainText('deleted', { timeout: 30_000 });
  expect(errors).toEqual([]);
}

test('IndexedDB: a disk stays where it was made; a run, a power loss and a verify on IndexedDB', async ({
  baseURL,
}, testInfo) => {
  const context = await launchProfile(testInfo, baseURL);
  try {
    await idbJourney(context.pages()[0] ?? (await context.newPage()), testInfo.outputPath('demo-idb.png'));
  } finally {
    await context.close();
  }
});

async function idbJourney(page: Page, shot: string): Promise<void> {
  const errors = collectErrors(page);
  const status = page.locator('#status');
  const backend = page.locator('#backend-info');
  await page.goto(DEMO);
  await waitPhase(page, 'open');
  await expect(page.locator('#disk-backend option')).toHaveText([
    'Auto (OPFS where available, else IndexedDB)',
    'OPFS',
    'IndexedDB',
    'memory (volatile)',
  ]);
  await expect(backend).toContainText('OPFS');

  // 1. “demo” was made in OPFS: asking for it in IndexedDB is told in words, with the way to where it is.
  await page.click('#close');
  await waitPhase(page, 'closed');
  await page.selectOption('#disk-backend', 'idb');
  await page.click('#open');
  await waitPhase(page, 'closed');
  await expect(status).toHaveAttribute('data-kind', 'error');
  await expect(status).toContainText('EINVAL');
  await expect(status).toContainText('Disk “demo” is kept in OPFS, not IndexedDB');
  await expectAccessible(page, 'an error on the status line');
  await page.getByRole('button', { name: 'Open it in OPFS' }).click();
  await waitPhase(page, 'open');
  await expect(page.locator('#disk-backend')).toHaveValue('auto');
  await expect(backend).toHaveText('OPFS, persistent — this disk already existed there');
  await page.click('#close');
  await waitPhase(page, 'closed');

  // 2. A new 16 MiB disk on IndexedDB, a short writeback run under the power-cut model.
  await page.fill('#disk-name', 'idb-demo');
  await page.selectOption('#disk-size', '16');
  await page.selectOption('#disk-backend', 'idb');
  await page.click('#open');
  await waitPhase(page, 'open');
  await expect(backend).toHaveText('IndexedDB, persistent — as chosen');
  await expect(page.locator('input[name="cache"]:checked')).toHaveValue('writeback');
  await page.click('#start');
  await waitPhase(page, 'running');
  await runUntil(page, 300);

  // 3. Pull the plug; reopen & verify reads the whole disk back from IndexedDB and checks every block.
  const v = await powerLossAndVerify(page);
  expect(v.violations, v.text).toBe(0);
  expect(v.intact + v.lost, v.text).toBeGreaterThan(0);
  await expect(status).toContainText('unclean shutdown');
  await expect(backend).toContainText('IndexedDB');
  await page.screenshot({ path: shot });
  await expectAccessible(page, 'desktop, a verdict on IndexedDB');
  await page.setViewportSize({ width: 390, height: 844 });
  await expectAccessible(page, 'phone width, a verdict on IndexedDB');
  await page.setViewportSize({ width: 1280, height: 800 });

  // 4. Delete removes it from IndexedDB too.
  await page.click('#delete');
  await expect(status).toContainText('deleted', { timeout: 30_000 });
  // Deleting empties the disk's database (deleteDatabase could wait forever on a killed worker's connection).
  const left = await page.evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const req = indexedDB.open('webdisk/idb-demo');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const stores = [...db.objectStoreNames];
          if (stores.length === 0) return resolve(0);
          const tx = db.transaction(stores, 'readonly');
          const counts = stores.map((s) => tx.objectStore(s).count());
          tx.oncomplete = () => resolve(counts.reduce((a, c) => a + c.result, 0));
        };
      }),
  );
  expect(left, "records left in the deleted disk's database").toBe(0);
  expect(errors).toEqual([]);
}

test('surprising states are told in words: disk busy in another tab, quota exceeded, OPFS or all storage missing', async ({
  page,
  baseURL,
}) => {
  const errors = collectErrors(page);
  await page.goto(DEMO);
  await waitPhase(page, 'open');

  // Busy: a second tab of the same browser cannot open the disk the first one holds.
  const tab2 = await page.context().newPage();
  const errors2 = collectErrors(tab2);
  await tab2.goto(DEMO);
  await waitPhase(tab2, 'closed');
  await expect(tab2.locator('#status')).toHaveAttribute('data-kind', 'error');
  await expect(tab2.locator('#status')).toContainText('EBUSY');
  await expect(tab2.locator('#status')).toContainText('open in another tab');
  await tab2.close();
  expect(errors2).toEqual([]);

  // Quota: with 24 MiB allowed, sequential 1 MiB writes to storage run out of space.
  const origin = new URL(baseURL as string).origin;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 24 * 1024 * 1024 });
  try {
    await page.check('input[name="cache"][value="writethrough"]');
    await page.selectOption('#pattern', 'sequential');
    await page.selectOption('#io-size', String(1024 * 1024));
    await page.click('#start');
    await expect(page.locator('#status')).toContainText('ENOSPC', { timeout: 60_000 });
    await expect(page.locator('#status')).toContainText('quota');
    await waitPhase(page, 'open');
    await page.click('#delete');
    await expect(page.locator('#status')).toContainText('deleted', { timeout: 30_000 });
  } finally {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  }
  expect(errors).toEqual([]);

  // No OPFS: http://webdisk.test is not a secure context (127.0.0.1 is), IndexedDB still works there.
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP webdisk.test 127.0.0.1'],
  });
  const insecureURL = `http://webdisk.test:${new URL(baseURL as string).port}${DEMO}`;
  // Chromium itself reports that the server's isolation headers do not apply to an insecure origin.
  const isolationIgnored = /Cross-Origin-Opener-Policy header has been ignored/;
  try {
    const insecure = await browser.newPage();
    const errors3 = collectErrors(insecure, isolationIgnored);
    const status = insecure.locator('#status');
    await insecure.goto(insecureURL);
    // Auto falls back to IndexedDB, and the page says why.
    await waitPhase(insecure, 'open');
    await expect(insecure.locator('#backend-info')).toHaveText(
      'IndexedDB, persistent — OPFS needs a secure page (https or localhost), so webdisk fell back to IndexedDB',
    );
    // OPFS asked for by name: ENOTSUP, and the way out is IndexedDB.
    await insecure.click('#close');
    await waitPhase(insecure, 'closed');
    await insecure.fill('#disk-name', 'opfs-please');
    await insecure.selectOption('#disk-backend', 'opfs');
    await insecure.click('#open');
    await waitPhase(insecure, 'closed');
    await expect(status).toContainText('ENOTSUP');
    await expect(status).toContainText('no origin-private file system (OPFS)');
    await insecure.getByRole('button', { name: 'Use IndexedDB' }).click();
    await waitPhase(insecure, 'open');
    await expect(insecure.locator('#backend-info')).toHaveText(
      'IndexedDB, persistent — OPFS is missing in this browser, so the page switched to IndexedDB',
    );
    await insecure.click('#delete');
    await expect(status).toContainText('deleted', { timeout: 30_000 });
    expect(errors3).toEqual([]);

    // Neither OPFS nor IndexedDB (IndexedDB hidden from the page and the disk worker): a memory disk is offered.
    const bare = await browser.newPage();
    const errors4 = collectErrors(bare, isolationIgnored);
    const hideIndexedDB = 'Object.defineProperty(globalThis, "indexedDB", { value: undefined });\n';
    await bare.addInitScript(hideIndexedDB);
    await bare.route('**/disk-worker-*.js', async (route) => {
      // The test runner resolves webdisk.test itself: fetch the script from where it really is.
      const response = await route.fetch({ url: route.request().url().replace('webdisk.test', '127.0.0.1') });
      await route.fulfill({ response, body: hideIndexedDB + (await response.text()) });
    });
    await bare.goto(insecureURL);
    await waitPhase(bare, 'closed');
    await expect(bare.locator('#status')).toContainText('ENOTSUP');
    await expect(bare.locator('#status')).toContainText('Neither OPFS nor IndexedDB is usable here');
    await bare.getByRole('button', { name: 'Use a memory disk' }).click();
    await waitPhase(bare, 'open');
    await expect(bare.locator('#backend-info')).toHaveText(
      'memory — volatile, because neither OPFS nor IndexedDB is usable here',
    );
    expect(errors4).toEqual([]);
  } finally {
    await browser.close();
  }
});
