// Where Chromium is and how to launch it, for every Node script that drives
// a browser (Playwright config, the benchmarks, the e2e runner).
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * $CHROMIUM_PATH, then Debian's /usr/bin/chromium; undefined lets
 * Playwright use its own browser, if it has one.
 * @returns {string | undefined}
 */
export function chromiumPath() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  return undefined;
}

/** Is there any Chromium to run, ours or Playwright's? */
export function chromiumAvailable() {
  if (chromiumPath()) return true;
  const dir = process.env.PLAYWRIGHT_BROWSERS_PATH ?? join(homedir(), '.cache', 'ms-playwright');
  return existsSync(dir) && readdirSync(dir).some((d) => d.startsWith('chromium'));
}

/** Headless flags for this machine: no sandbox as root, no GPU, no calls home. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
