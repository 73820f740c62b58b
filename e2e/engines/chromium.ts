// Chromium through Playwright (Debian's /usr/bin/chromium, see scripts/chromium.mjs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium.mjs';
import { BasePage } from './base';
import type { EngineBrowser, EnginePage, LaunchOptions } from './types';

export class ChromiumPage extends BasePage {
  readonly engine = 'chromium';

  /**
   * `page` is Playwright's: Chromium-only tests reach it through
   * playwrightPage() for what only Chromium offers (CDP, routes).
   */
  constructor(
    readonly page: Page,
    private readonly baseURL: string,
    private readonly ownContext?: BrowserContext,
  ) {
    super();
    page.on('pageerror', (e) => this.errors.push(String(e)));
  }

  protected run<R, A>(fn: (arg: A) => R | Promise<R>, arg: A | undefined): Promise<R> {
    return this.page.evaluate(fn as (arg: unknown) => R | Promise<R>, arg);
  }

  protected async navigate(path: string): Promise<void> {
    await this.page.goto(new URL(path, this.baseURL).href);
  }

  protected async doReload(): Promise<void> {
    await this.page.reload();
  }

  async newTab(): Promise<EnginePage> {
    const tab = new ChromiumPage(await this.page.context().newPage(), this.baseURL);
    await tab.goto(this.page.url());
    return tab;
  }

  async close(): Promise<void> {
    await this.page.close();
    await this.ownContext?.close();
  }
}

/** A persistent context has no Browser object to ask: ask the binary. */
function versionOf(executable: string): string {
  try {
    const out = execFileSync(executable, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /\d+(\.\d+)+/.exec(out)?.[0] ?? '?';
  } catch {
    return '?';
  }
}

export async function launchChromium(opts: LaunchOptions): Promise<EngineBrowser> {
  const launch = { headless: true, executablePath: chromiumPath(), args: CHROMIUM_ARGS };
  if (opts.isolated) {
    // Incognito contexts, as Playwright's own `page` fixture: OPFS kept in
    // memory (slower, fine for semantics), nothing shared between tests.
    const browser: Browser = await chromium.launch(launch);
    return {
      engine: 'chromium',
      version: `Chromium ${browser.version()}`,
      async newPage() {
        const context = await browser.newContext();
        return new ChromiumPage(await context.newPage(), opts.baseURL, context);
      },
      close: () => browser.close(),
    };
  }
  // A persistent profile in a temporary directory: OPFS on disk (an
  // incognito context keeps it in memory), as for a real user.
  const dir = mkdtempSync(join(tmpdir(), 'webdisk-chromium-'));
  const context = await chromium.launchPersistentContext(dir, launch);
  let first: Page | undefined = context.pages()[0];
  return {
    engine: 'chromium',
    version: `Chromium ${versionOf(chromiumPath() ?? chromium.executablePath())}`,
    async newPage() {
      const page = first ?? (await context.newPage());
      first = undefined;
      return new ChromiumPage(page, opts.baseURL);
    },
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
