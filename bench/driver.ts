/**
 * The bench driver's plumbing: the static server, calls into the bench
 * page with a timeout, and heap samples of the page and its workers over CDP.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, CDPSession, Page } from '@playwright/test';
import type { BenchPage } from './bench-page';
import type { HeapSample } from './report';

/** The repository (this file runs as bench/dist/node/run.mjs). */
export const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const PAGE_PATH = '/bench/dist/page/page.html';

export async function startServer(port: number): Promise<ChildProcess> {
  const server = spawn(process.execPath, [join(REPO, 'scripts/static-server.mjs'), REPO, String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}${PAGE_PATH}`;
  for (let i = 0; i < 100; i++) {
    if (server.exitCode !== null) throw new Error(`static server exited (${server.exitCode}): is port ${port} taken?`);
    try {
      const r = await fetch(url);
      if (r.ok) return server;
      throw new Error(`${url}: HTTP ${r.status} (was the bench page built?)`);
    } catch (err) {
      if (err instanceof Error && err.message.includes('HTTP')) {
        server.kill();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  server.kill();
  throw new Error(`static server did not answer on ${url}`);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

type PageApi = BenchPage;

/** Calls window.bench[method](...args) in the page. */
export function call<K extends keyof PageApi>(
  page: Page,
  method: K,
  args: Parameters<PageApi[K]>,
  timeoutMs: number,
): Promise<Awaited<ReturnType<PageApi[K]>>> {
  return withTimeout(
    page.evaluate(
      ([m, a]) => {
        const api = (window as unknown as { bench: Record<string, (...x: unknown[]) => unknown> }).bench;
        return api[m as string](...(a as unknown[]));
      },
      [method, args] as const,
    ) as Promise<Awaited<ReturnType<PageApi[K]>>>,
    timeoutMs,
    `${String(method)}(${JSON.stringify(args).slice(0, 80)})`,
  );
}

/**
 * Heap usage of the page and of its dedicated workers over CDP. Worker
 * targets are reached with the (non-flattened) Target domain from a
 * session on the page.
 */
export class Heaps {
  private readonly workers = new Map<string, { url: string; title: string }>();
  private readonly pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  private seq = 1;
  private constructor(private readonly cdp: CDPSession) {
    cdp.on('Target.attachedToTarget', (e) => {
      if (e.targetInfo.type === 'worker') {
        this.workers.set(e.sessionId, { url: e.targetInfo.url, title: e.targetInfo.title });
      }
    });
    cdp.on('Target.detachedFromTarget', (e) => {
      if (e.sessionId) this.workers.delete(e.sessionId);
    });
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      const m = JSON.parse(e.message) as { id?: number; result?: unknown; error?: { message: string } };
      if (m.id === undefined) return;
      const done = this.pending.get(m.id);
      this.pending.delete(m.id);
      done?.(m);
    });
  }

  static async attach(context: BrowserContext, page: Page): Promise<Heaps> {
    const cdp = await context.newCDPSession(page);
    const h = new Heaps(cdp);
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    return h;
  }

  private async toWorker<T>(sessionId: string, method: string, params: object = {}): Promise<T> {
    const id = this.seq++;
    const answer = new Promise<{ result?: unknown; error?: { message: string } }>((r) => this.pending.set(id, r));
    await this.cdp.send('Target.sendMessageToTarget', {
      sessionId,
      message: JSON.stringify({ id, method, params }),
    });
    const m = await withTimeout(answer, 10_000, `worker ${method}`);
    if (m.error) throw new Error(m.error.message);
    return m.result as T;
  }

  async page(): Promise<HeapSample> {
    await this.cdp.send('HeapProfiler.collectGarbage');
    const u = await this.cdp.send('Runtime.getHeapUsage');
    return {
      usedBytes: u.usedSize,
      backingStorageBytes: (u as { backingStorageSize?: number }).backingStorageSize ?? 0,
    };
  }

  /** The newest worker whose URL contains `part`. */
  async worker(part: string): Promise<HeapSample | undefined> {
    const ids = [...this.workers].filter(([, w]) => w.url.includes(part)).map(([id]) => id);
    const id = ids.at(-1);
    if (!id) return undefined;
    await this.toWorker(id, 'HeapProfiler.collectGarbage');
    const u = await this.toWorker<{ usedSize: number; backingStorageSize?: number }>(id, 'Runtime.getHeapUsage');
    return { usedBytes: u.usedSize, backingStorageBytes: u.backingStorageSize ?? 0 };
  }
}
