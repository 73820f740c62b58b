// WebKitGTK through selenium-webdriver: classic WebDriver to Debian's
// WebKitWebDriver, which drives MiniBrowser in automation mode, on a
// virtual display (xvfb-run) since MiniBrowser needs one.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Builder, type WebDriver } from 'selenium-webdriver';
import { webkitParts } from '../../scripts/engines.mjs';
import { BasePage } from './base';
import type { EngineBrowser, EnginePage, LaunchOptions } from './types';

/**
 * How values cross classic WebDriver: JSON, plus undefined, NaN, ±Infinity
 * and -0 (which JSON would lose), so results compare as under Playwright.
 * Self-contained: its source is also sent into the page.
 */
export function makeCodec() {
  const TAG = '~webdisk~';
  return {
    encode(value: unknown): string {
      return JSON.stringify({ v: value }, (_key, x: unknown) => {
        if (x === undefined) return { [TAG]: 'undefined' };
        if (typeof x === 'number' && (!Number.isFinite(x) || Object.is(x, -0)))
          return { [TAG]: Object.is(x, -0) ? '-0' : String(x) };
        if (typeof x === 'bigint') return { [TAG]: 'bigint', n: String(x) };
        if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer || x instanceof Map || x instanceof Set) {
          throw new TypeError(
            `evaluate() passes JSON-able data only, not a ${Object.prototype.toString.call(x).slice(8, -1)} (use Array.from)`,
          );
        }
        return x;
      });
    },
    decode(text: string): unknown {
      return (
        JSON.parse(text, (_key, x: unknown) => {
          if (x === null || typeof x !== 'object' || !(TAG in x)) return x;
          const t = (x as Record<string, string>)[TAG];
          if (t === 'undefined') return undefined;
          if (t === 'bigint') return BigInt((x as Record<string, string>).n);
          return Number(t);
        }) as { v: unknown }
      ).v;
    },
  };
}

const codec = makeCodec();

/** What the page sends back from one evaluate. */
type Envelope =
  | { ok: true; value: unknown; errors: string[] }
  | { ok: false; error: { name: string; message: string; stack: string }; errors: string[] };

/** The executeAsyncScript body that runs `fnSource` on the decoded argument and answers with an Envelope. */
function evaluateScript(fnSource: string): string {
  return `
const done = arguments[arguments.length - 1];
const input = arguments[0];
const codec = (${makeCodec.toString()})();
const take = () => (Array.isArray(window.harnessErrors) ? window.harnessErrors.splice(0) : []);
new Promise((resolve) => resolve((${fnSource})(codec.decode(input)))).then(
  (value) => {
    try {
      done(codec.encode({ ok: true, value, errors: take() }));
    } catch (e) {
      done(codec.encode({ ok: false, error: { name: 'TypeError', message: String(e && e.message), stack: '' }, errors: take() }));
    }
  },
  (e) => {
    const error = { name: String((e && e.name) || 'Error'), message: String(e && e.message !== undefined ? e.message : e), stack: String((e && e.stack) || '') };
    done(codec.encode({ ok: false, error, errors: take() }));
  },
);`;
}

/** One WebDriver session; its commands run one at a time, each in the window of the page that sent it. */
class Session {
  private queue: Promise<unknown> = Promise.resolve();
  private current: string | undefined;

  constructor(readonly driver: WebDriver) {}

  /** Runs `fn` with the session switched to window `handle` (undefined: whichever is current). */
  use<T>(handle: string | undefined, fn: (d: WebDriver) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      if (handle !== undefined && handle !== this.current) {
        await this.driver.switchTo().window(handle);
        this.current = handle;
      }
      return fn(this.driver);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Opens a new tab and makes it current; returns its handle. */
  newTab(): Promise<string> {
    return this.use(undefined, async (d) => {
      await d.switchTo().newWindow('tab');
      this.current = await d.getWindowHandle();
      return this.current;
    });
  }

  /** Closes window `handle`; the last window is only blanked (closing it would end the session). */
  closeWindow(handle: string): Promise<void> {
    return this.use(handle, async (d) => {
      const all = await d.getAllWindowHandles();
      if (all.length <= 1) {
        await d.get('about:blank');
        return;
      }
      await d.close();
      this.current = all.find((h) => h !== handle);
      if (this.current) await d.switchTo().window(this.current);
    });
  }
}

class WebKitPage extends BasePage {
  readonly engine = 'webkit';
  private url = 'about:blank';

  constructor(
    private readonly session: Session,
    private readonly handle: string,
    private readonly baseURL: string,
    private readonly onClose: () => Promise<void>,
  ) {
    super();
  }

  protected async run<R, A>(fn: (arg: A) => R | Promise<R>, arg: A | undefined): Promise<R> {
    const script = evaluateScript(fn.toString());
    const raw = await this.session.use(this.handle, (d) => d.executeAsyncScript<string>(script, codec.encode(arg)));
    const out = codec.decode(raw) as Envelope;
    this.errors.push(...out.errors);
    if (!out.ok) {
      // The page's frames first, then the test's: one stack, as the other engines show it.
      const err = new Error(`${out.error.name}: ${out.error.message}`);
      const pageFrames = out.error.stack
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => `    at (page) ${l.trim()}`);
      const [head, ...frames] = (err.stack ?? '').split('\n');
      err.stack = [head, ...pageFrames, ...frames].join('\n');
      throw err;
    }
    return out.value as R;
  }

  /** Uncaught errors the harness page collected since the last evaluate. */
  private async takeErrors(): Promise<void> {
    try {
      const got = await this.session.use(this.handle, (d) =>
        d.executeScript<string[]>('return Array.isArray(window.harnessErrors) ? window.harnessErrors.splice(0) : [];'),
      );
      this.errors.push(...got);
    } catch {
      // a page that is not the harness, or gone
    }
  }

  protected async navigate(path: string): Promise<void> {
    await this.takeErrors();
    this.url = new URL(path, this.baseURL).href;
    await this.session.use(this.handle, (d) => d.get(this.url));
  }

  protected async doReload(): Promise<void> {
    await this.takeErrors();
    await this.session.use(this.handle, (d) => d.navigate().refresh());
  }

  async newTab(): Promise<EnginePage> {
    const handle = await this.session.newTab();
    const tab = new WebKitPage(this.session, handle, this.baseURL, () => this.session.closeWindow(handle));
    await tab.goto(this.url);
    return tab;
  }

  async close(): Promise<void> {
    await this.takeErrors();
    await this.onClose();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** WebKitWebDriver on a free port, under xvfb-run (or on $DISPLAY); stopped with its whole process group. */
async function startDriver(): Promise<{ url: string; miniBrowser: string; stop(): Promise<void> }> {
  const parts = webkitParts();
  if (!parts.driver || !parts.miniBrowser || (!parts.xvfbRun && !parts.display)) {
    throw new Error('WebKitGTK is not available: apt-get install -y webkit2gtk-driver xvfb');
  }
  const port = await freePort();
  const cmd = parts.xvfbRun
    ? [parts.xvfbRun, '-a', '-s', '-screen 0 1280x1024x24', parts.driver, `--port=${port}`]
    : [parts.driver, `--port=${port}`];
  const proc: ChildProcess = spawn(cmd[0], cmd.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let alive = true;
  proc.once('exit', () => {
    alive = false;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!alive || proc.pid === undefined) return;
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        if (alive && proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/status`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (!alive || Date.now() > deadline) {
      await stop();
      throw new Error(`WebKitWebDriver did not start on port ${port}: ${output.trim() || '(no output)'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, miniBrowser: parts.miniBrowser, stop };
}

async function newSession(url: string, miniBrowser: string): Promise<Session> {
  const driver = await new Builder()
    .usingServer(url)
    .withCapabilities({
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: miniBrowser, args: ['--automation'] },
    })
    .build();
  // A chunk of crash rounds is one long script: the test's own timeout is the guard.
  await driver.manage().setTimeouts({ script: 30 * 60_000, pageLoad: 60_000 });
  return new Session(driver);
}

export async function launchWebKit(opts: LaunchOptions): Promise<EngineBrowser> {
  const server = await startDriver();
  const sessions = new Set<Session>();
  const quit = async (s: Session) => {
    sessions.delete(s);
    await s.driver.quit();
  };
  let shared: Session | undefined;
  let version = '?';
  try {
    // The shared session (and the version) up front: a broken setup fails at launch.
    const first = await newSession(server.url, server.miniBrowser);
    version = `WebKitGTK ${(await first.driver.getCapabilities()).getBrowserVersion()}`;
    if (opts.isolated) await first.driver.quit();
    else {
      shared = first;
      sessions.add(first);
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
  let firstWindowUsed = false;
  return {
    engine: 'webkit',
    version,
    async newPage() {
      if (opts.isolated) {
        // A session of its own: a new MiniBrowser, with storage of its own.
        const s = await newSession(server.url, server.miniBrowser);
        sessions.add(s);
        const handle = await s.use(undefined, (d) => d.getWindowHandle());
        return new WebKitPage(s, handle, opts.baseURL, () => quit(s));
      }
      const s = shared as Session;
      let handle: string;
      if (!firstWindowUsed) {
        firstWindowUsed = true;
        handle = await s.use(undefined, (d) => d.getWindowHandle());
      } else {
        handle = await s.newTab();
      }
      return new WebKitPage(s, handle, opts.baseURL, () => s.closeWindow(handle));
    },
    async close() {
      for (const s of [...sessions]) await quit(s).catch(() => undefined);
      await server.stop();
    },
  };
}
