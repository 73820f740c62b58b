// What the demo pages' specs check on any page: console errors, WCAG 2.1 AA
// with axe-core, and a persistent Chromium profile to load them in.
import { createRequire } from 'node:module';
import { type BrowserContext, chromium, expect, type Page, type TestInfo } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';

/** Console errors and uncaught exceptions of `page`, collected as they happen (except those matching `ignore`). */
export function collectErrors(page: Page, ignore?: RegExp): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignore?.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${String(e)}`));
  return errors;
}

const AXE_SCRIPT = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

/**
 * Runs axe-core's WCAG 2.0/2.1 A and AA rules (contrast included) on the
 * page as it is now; fails on any violation, of any impact, listing each
 * with the elements it found.
 */
export async function expectAccessible(page: Page, where: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE_SCRIPT });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: unknown }> } })
      .axe;
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations as AxeViolation[];
  });
  const found = violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`,
  );
  expect(found, `axe-core, ${where}`).toEqual([]);
}

/** A persistent profile, as a user's browser: an off-the-record context keeps OPFS in memory, 30-100x slower. */
export function launchProfile(testInfo: TestInfo, baseURL: string | undefined): Promise<BrowserContext> {
  return chromium.launchPersistentContext(testInfo.outputPath('profile'), {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    baseURL,
    viewport: { width: 1280, height: 800 },
  });
}
