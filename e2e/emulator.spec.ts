// The emulator page (emulator.html, built into dist-demo/): the tiny guest
// (guests/disktest/disktest.asm, assembled with nasm here) boots in v86
// from SeaBIOS on a webdisk disk over real OPFS, through the v86 adapter.
// Boot, reload, boot again; then a power loss in writeback: what the guest
// flushed survives, and the disk reopens unclean.
import { existsSync, readFileSync } from 'node:fs';
import { expect, type Page, test } from '@playwright/test';
import { assembleGuest, GUEST_BINARY, missingGuestTools } from '../scripts/guest.mjs';
import { collectErrors, expectAccessible, launchProfile } from './page-checks';

const PAGE = '/dist-demo/emulator.html';
const missing = missingGuestTools();

test.beforeAll(() => {
  if (missing.length > 0 && process.env.CI === 'true') {
    throw new Error(`CI=true: the emulator page test needs ${missing.join(', ')}`);
  }
  if (!existsSync('dist-demo/emulator.html')) throw new Error('dist-demo/ is missing: run `npm run build:demo` first.');
});

async function waitPhase(page: Page, phase: string, timeout = 60_000): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-phase', phase, { timeout });
}

/** Boots the guest; its serial line. */
async function boot(page: Page): Promise<string> {
  await page.click('#boot');
  await waitPhase(page, 'booting');
  await waitPhase(page, 'open', 90_000);
  return (await page.textContent('#serial')) ?? '';
}

/** The counter on disk and how many of its boot's regions are damaged, as the page read them. */
async function onDisk(page: Page): Promise<{ counter: number; bad: number }> {
  const check = page.locator('#check');
  return {
    counter: Number(await check.getAttribute('data-counter')),
    bad: Number(await check.getAttribute('data-bad')),
  };
}

test('a v86 guest on a webdisk disk: its writes persist across reloads and a power loss, its flushes reach the disk', async ({
  baseURL,
}, testInfo) => {
  test.skip(missing.length > 0, `install ${missing.join(', ')}`);
  // The guest the page boots is the one nasm makes of the source.
  expect(Buffer.from(assembleGuest()).equals(readFileSync(GUEST_BINARY))).toBe(true);
  const context = await launchProfile(testInfo, baseURL);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = collectErrors(page);
    // The demo's main page links to it.
    await page.goto('/dist-demo/index.html');
    await page.getByRole('link', { name: /x86 guest in v86/ }).click();
    await expect(page).toHaveURL(/emulator\.html$/);
    await page.goto(`${PAGE}?disk=e2e-guest`);
    await waitPhase(page, 'open');
    // A fresh disk: start over in case an earlier run left one.
    await page.click('#wipe');
    await waitPhase(page, 'open');
    expect(await onDisk(page)).toEqual({ counter: 0, bad: 0 });
    await expectAccessible(page, 'emulator page, open');

    // Boot 1: every write path, two flushes, all of it read back by the guest.
    expect(await boot(page)).toMatch(/^DONE 00000001 .*W82=4020 .*W85=4020/);
    expect(await onDisk(page)).toEqual({ counter: 1, bad: 0 });
    const io = await page.evaluate(async () => {
      const p = (
        window as unknown as { emulatorPage: { hda: { counters: object }; disk: { stats(): Promise<object> } } }
      ).emulatorPage;
      return { adapter: p.hda.counters, disk: await p.disk.stats() };
    });
    expect(io.adapter).toMatchObject({ guestFlushes: 2, errors: 0 });
    expect(io.disk).toMatchObject({ flushes: 3 }); // the guest's two, after the one that installed it
    await expect(page.locator('#c-flushes')).toHaveText('2');
    await page.screenshot({ path: testInfo.outputPath('emulator.png'), fullPage: true });
    await expectAccessible(page, 'emulator page, after a boot');

    // A reload (the disk closes with the page's worker), then boot 2.
    await page.reload();
    await waitPhase(page, 'open');
    expect(await onDisk(page)).toEqual({ counter: 1, bad: 0 });
    expect(await boot(page)).toMatch(/^DONE 00000002 /);

    // Power loss in writeback right after the boot: the guest flushed, so it is all there.
    await expect(page.locator('#cache-mode')).toHaveValue('writeback');
    await page.click('#power');
    await waitPhase(page, 'power-lost');
    await page.click('#reopen');
    await waitPhase(page, 'open');
    await expect(page.locator('#status')).toContainText('not shut down cleanly');
    expect(await onDisk(page)).toEqual({ counter: 2, bad: 0 });

    // Phone width: still accessible.
    await page.setViewportSize({ width: 390, height: 844 });
    await expectAccessible(page, 'emulator page, phone width');
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
});
