// The demo page (npm start), built by `vite build --mode demo` into
// dist-demo/ and served by the e2e static server: a new user's path
// through it in real Chromium over real OPFS.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { chromium, type Page, expect as pwExpect, test } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';

const expect = pwExpect;
const DEMO = '/dist-demo/index.html';

test.beforeAll(() => {
  if (!existsSync('dist-demo/index.html')) throw new Error('dist-demo/ is missing: run `npm run build:demo` first.');
});

/** Console errors and uncaught exceptions of `page`, collected as they happen (except those matching `ignore`). */
function collectErrors(page: Page, ignore?: RegExp): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignore?.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${String(e)}`));
  return errors;
}

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
  // A persistent profile, as a user's browser: an off-the-record context keeps
  // OPFS in memory, 30-100x slower, which would misstate the modes' speeds.
  const context = await chromium.launchPersistentContext(testInfo.outputPath('profile'), {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    baseURL,
    viewport: { width: 1280, height: 800 },
  });
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
  await expect(page.locator('#backend-info')).toHaveText(/OPFS/);
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

  // 7. Close and Delete disk leave nothing behind.
  await page.click('#close');
  await waitPhase(page, 'closed');
  await page.click('#delete');
  await expect(page.locator('#status')).toContainText('deleted');
  expect(errors).toEqual([]);
}

test('surprising states are told in words: disk busy in another tab, OPFS missing, quota exceeded', async ({
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
    await expect(page.locator('#status')).toContainText('deleted');
  } finally {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  }
  expect(errors).toEqual([]);

  // OPFS missing: http://webdisk.test is not a secure context (127.0.0.1 is). The page says so and offers memory.
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP webdisk.test 127.0.0.1'],
  });
  try {
    const insecure = await browser.newPage();
    // Chromium itself reports that the server's isolation headers do not apply to an insecure origin.
    const errors3 = collectErrors(insecure, /Cross-Origin-Opener-Policy header has been ignored/);
    await insecure.goto(`http://webdisk.test:${new URL(baseURL as string).port}${DEMO}`);
    await waitPhase(insecure, 'closed');
    await expect(insecure.locator('#status')).toContainText('ENOTSUP');
    await expect(insecure.locator('#status')).toContainText('no origin-private file system');
    await insecure.getByRole('button', { name: 'Use a memory disk' }).click();
    await waitPhase(insecure, 'open');
    await expect(insecure.locator('#backend-info')).toContainText('because OPFS is missing');
    expect(errors3).toEqual([]);
  } finally {
    await browser.close();
  }
});
