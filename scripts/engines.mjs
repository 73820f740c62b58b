// Which browser engines this machine can run the e2e suites in, and the
// Debian packages that bring a missing one. Shared by the Playwright config,
// the e2e engine adapters (e2e/engines/) and scripts/run-e2e.mjs.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromiumAvailable, chromiumPath } from './chromium.mjs';

/** @typedef {'chromium' | 'firefox' | 'webkit'} EngineName */

/** @type {EngineName[]} */
export const ENGINES = ['chromium', 'firefox', 'webkit'];

/**
 * The Playwright projects: every engine × storage backend (the harness page
 * makes `backend` openDisk's default; `expectedBackend` is what disk.backend
 * must then say). WebKitGTK has no OPFS: 'auto' falls back to IndexedDB.
 * @type {{ name: string, engine: EngineName, backend: 'opfs' | 'idb' | 'auto', expectedBackend: 'opfs' | 'idb' }[]}
 */
export const PROJECTS = [
  { name: 'chromium-opfs', engine: 'chromium', backend: 'opfs', expectedBackend: 'opfs' },
  { name: 'chromium-idb', engine: 'chromium', backend: 'idb', expectedBackend: 'idb' },
  { name: 'firefox-opfs', engine: 'firefox', backend: 'opfs', expectedBackend: 'opfs' },
  { name: 'firefox-idb', engine: 'firefox', backend: 'idb', expectedBackend: 'idb' },
  { name: 'webkit', engine: 'webkit', backend: 'auto', expectedBackend: 'idb' },
];

/**
 * The projects that Playwright's --project patterns select (case-insensitive,
 * `*` a wildcard, as Playwright matches them); no pattern selects all.
 * @param {string[]} patterns
 */
export function selectProjects(patterns) {
  if (patterns.length === 0) return PROJECTS;
  const res = patterns.map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'));
  return PROJECTS.filter((proj) => res.some((re) => re.test(proj.name)));
}

/** What installs each engine on Debian. */
export const PACKAGES = {
  chromium: ['chromium'],
  firefox: ['firefox-esr'],
  webkit: ['webkit2gtk-driver', 'xvfb', 'xauth'],
};

/** @param {string} file */
function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first executable `name` on $PATH, or undefined.
 * @param {string} name
 * @returns {string | undefined}
 */
export function which(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * $FIREFOX_PATH, then Debian's firefox-esr.
 * @returns {string | undefined}
 */
export function firefoxPath() {
  const fromEnv = process.env.FIREFOX_PATH;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  return which('firefox-esr') ?? (executable('/usr/bin/firefox-esr') ? '/usr/bin/firefox-esr' : undefined);
}

/** Where Debian's libwebkit2gtk-4.1-0 (a dependency of webkit2gtk-driver) keeps MiniBrowser. */
const MINIBROWSER_DIRS = [
  '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1',
  '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1',
  '/usr/lib/webkit2gtk-4.1',
];

/**
 * WebKitGTK's pieces: the WebDriver server, the browser it drives, and a
 * way to give that browser a display (xvfb-run, or an X server already
 * named by $DISPLAY).
 * @returns {{ driver?: string, miniBrowser?: string, xvfbRun?: string, display?: string }}
 * (xvfbRun only when xauth, which xvfb-run needs, is there too)
 */
export function webkitParts() {
  const miniBrowser =
    (process.env.MINIBROWSER_PATH && existsSync(process.env.MINIBROWSER_PATH)
      ? process.env.MINIBROWSER_PATH
      : undefined) ?? MINIBROWSER_DIRS.map((d) => join(d, 'MiniBrowser')).find(executable);
  return {
    driver: which('WebKitWebDriver'),
    miniBrowser,
    xvfbRun: which('xauth') ? which('xvfb-run') : undefined,
    display: process.env.DISPLAY || undefined,
  };
}

/**
 * Can `engine` run here? When not, `missing` says what is missing and
 * `packages` names the Debian packages to install.
 * @param {EngineName} engine
 * @returns {{ engine: EngineName, available: boolean, packages: string[], missing: string }}
 */
export function engineStatus(engine) {
  // WEBDISK_HIDE_ENGINES=firefox,webkit pretends those are missing: to check the skip and CI=true paths.
  if ((process.env.WEBDISK_HIDE_ENGINES ?? '').split(',').includes(engine)) {
    return { engine, available: false, packages: PACKAGES[engine], missing: 'hidden by WEBDISK_HIDE_ENGINES' };
  }
  if (engine === 'chromium') {
    const ok = chromiumAvailable();
    return {
      engine,
      available: ok,
      packages: ok ? [] : ['chromium'],
      missing: ok ? '' : 'no Chromium (/usr/bin/chromium or $CHROMIUM_PATH)',
    };
  }
  if (engine === 'firefox') {
    const ok = firefoxPath() !== undefined;
    return {
      engine,
      available: ok,
      packages: ok ? [] : ['firefox-esr'],
      missing: ok ? '' : 'no firefox-esr (or $FIREFOX_PATH)',
    };
  }
  const p = webkitParts();
  const packages = [];
  const missing = [];
  if (!p.driver || !p.miniBrowser) {
    packages.push('webkit2gtk-driver');
    missing.push(!p.driver ? 'no WebKitWebDriver' : 'no MiniBrowser');
  }
  if (!p.xvfbRun && !p.display) {
    if (!which('xvfb-run')) packages.push('xvfb');
    if (!which('xauth')) packages.push('xauth');
    missing.push('no xvfb-run with xauth (and no $DISPLAY)');
  }
  return { engine, available: packages.length === 0, packages, missing: missing.join(', ') };
}

/**
 * One sentence for a person: what is missing and the command that installs it.
 * @param {EngineName} engine
 */
export function missingMessage(engine) {
  const s = engineStatus(engine);
  if (s.available) return '';
  return `${engine} is not available here (${s.missing}): apt-get install -y ${s.packages.join(' ')}`;
}

export { chromiumPath };
