// Firefox ESR through puppeteer-core over WebDriver BiDi (Playwright's own
// Firefox BiDi mode fails on this ESR: emulation.setMediaFeaturesOverride
// is an unknown command there).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type BrowserContext, type Page } from 'puppeteer-core';
import { firefoxPath } from '../../scripts/engines.mjs';
import { BasePage } from './base';
import type { EngineBrowser, EnginePage, LaunchOptions } from './types';

class FirefoxPage extends BasePage {
  readonly engine = 'firefox';

  constructor(
    private readonly page: Page,
    private readonly baseURL: string,
    private readonly ownContext?: BrowserContext,
  ) {
    super();
    page.on('pageerror', (e) => this.errors.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e)));
  }

  protected run<R, A>(fn: (arg: A) => R | Promise<R>, arg: A | undefined): Promise<R> {
    return this.page.evaluate(fn as (arg: unknown) => Promise<unknown>, arg) as Promise<R>;
  }

  protected async navigate(path: string): Promise<void> {
    await this.page.goto(new URL(path, this.baseURL).href);
  }

  protected async doReload(): Promise<void> {
    await this.page.reload();
  }

  async newTab(): Promise<EnginePage> {
    const tab = new FirefoxPage(await this.page.browserContext().newPage(), this.baseURL);
    await tab.goto(this.page.url());
    return tab;
  }

  async close(): Promise<void> {
    await this.page.close();
    await this.ownContext?.close();
  }
}

export async function launchFirefox(opts: LaunchOptions): Promise<EngineBrowser> {
  // Always a profile on disk (OPFS on disk, as for a real user).
  const dir = mkdtempSync(join(tmpdir(), 'webdisk-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: firefoxPath(),
    headless: true,
    userDataDir: dir,
    extraPrefsFirefox: opts.firefoxPrefs,
    // A chunk of crash rounds is one long evaluate: the test's own timeout is the guard.
    protocolTimeout: 30 * 60_000,
  });
  const version = (await browser.version()).replace(/^firefox\//i, 'Firefox ');
  let first = true;
  return {
    engine: 'firefox',
    version,
    async newPage() {
      if (opts.isolated) {
        // A user context (a container): storage of its own, still in the on-disk profile.
        const context = await browser.createBrowserContext();
        return new FirefoxPage(await context.newPage(), opts.baseURL, context);
      }
      const existing = first ? (await browser.pages())[0] : undefined;
      first = false;
      return new FirefoxPage(existing ?? (await browser.newPage()), opts.baseURL);
    },
    async close() {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
