/**
 * `npm run bench`: drives headless Chromium (persistent profile in a temp
 * dir: incognito contexts keep OPFS in memory) against the statically
 * served bench page, runs every workload on every cache mode × backend and
 * on the raw baselines in the same run, then prints a table and writes
 * bench/results/<date>.json and bench/results.md.
 *
 * Built by `vite build -c bench/vite.config.ts --mode driver`; run with
 * `node bench/dist/node/run.mjs [flags]` (see --help).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BrowserContext, type CDPSession, chromium, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../e2e/chromium';
import { CACHE_MODES } from '../src/core/types';
import type { BenchPage } from './bench-page';
import type { ImageIoResult, OverlayReadResult } from './config';
import {
  BACKENDS,
  type BenchConfig,
  type CaseResult,
  GiB,
  KiB,
  MiB,
  RAW_BASELINES,
  type TargetSpec,
  WORKLOADS,
  type Workload,
} from './config';
import {
  checkTargets,
  fmtBytes,
  type HeapSample,
  imageLine,
  type MemoryRow,
  overlayLine,
  type RunInfo,
  renderMarkdown,
  renderText,
  summarize,
  syncSummary,
  type TargetRecord,
} from './report';

const HELP = `npm run bench -- [flags]

  --size <bytes>     region every workload addresses, e.g. 256M, 1G (default 256M)
  --time <seconds>   issuing time per run; then drain and final flush (default 0.5)
  --repeats <n>      runs per case; median and spread reported (default 3)
  --depth <list>     requests in flight, comma-separated (default 1,32)
  --filter <regex>   only cases whose "<workload> <target>" matches, e.g. "rand-write (writeback/opfs|raw-opfs$)"
  --no-memory        skip the memory measurements (small and 64 GiB disk)
  --no-overlay       skip the overlay read (cold read of a URL base against a plain fetch)
  --no-images        skip image import/export (a 256 MiB raw Blob against raw OPFS sequential I/O)
  --no-sqlite        skip SQLite commits/s (npm run bench:sqlite's table: webdisk/sqlite per mode beside wa-sqlite's OPFS VFSes)
  --idb-chunk <n>    chunk size of the raw IndexedDB baseline (default 64K)
  --port <n>         static server port (default 5192)

Defaults take about 6-7 minutes on this 2-core VM.`;

const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const PAGE_PATH = '/bench/dist/page/page.html';

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(s)}: use e.g. 4096, 64K, 256M, 1G`);
  const mult = { '': 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

function options() {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '256M' },
      time: { type: 'string', default: '0.5' },
      repeats: { type: 'string', default: '3' },
      depth: { type: 'string', default: '1,32' },
      filter: { type: 'string' },
      'no-memory': { type: 'boolean', default: false },
      'no-overlay': { type: 'boolean', default: false },
      'no-images': { type: 'boolean', default: false },
      'no-sqlite': { type: 'boolean', default: false },
      'idb-chunk': { type: 'string', default: '64K' },
      port: { type: 'string', default: '5192' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const region = parseSize(values.size);
  if (region < 16 * MiB || region % MiB !== 0) throw new Error('--size must be a whole number of MiB, at least 16M');
  const depths = values.depth.split(',').map((d) => Number(d));
  if (depths.some((d) => !Number.isInteger(d) || d < 1 || d > 256)) throw new Error('--depth: integers 1..256');
  const idbChunk = parseSize(values['idb-chunk']);
  if (idbChunk < 4 * KiB || (idbChunk & (idbChunk - 1)) !== 0 || idbChunk > MiB)
    throw new Error('--idb-chunk: a power of two from 4K to 1M');
  const cfg: BenchConfig = { region, timeMs: Number(values.time) * 1000, idbChunk };
  if (!(cfg.timeMs > 0)) throw new Error('--time must be positive');
  return {
    cfg,
    repeats: Math.max(1, Number(values.repeats) | 0),
    depths,
    filter: values.filter ? new RegExp(values.filter) : undefined,
    memory: !values['no-memory'],
    overlay: !values['no-overlay'],
    images: !values['no-images'],
    sqlite: !values['no-sqlite'],
    port: Number(values.port),
  };
}

// ------------------------------------------------------------------ plumbing

async function startServer(port: number): Promise<ChildProcess> {
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

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

type PageApi = BenchPage;

/** Calls window.bench[method](...args) in the page. */
function call<K extends keyof PageApi>(
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
class Heaps {
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

// --------------------------------------------------------------------- plan

interface Planned {
  target: TargetSpec;
  what: string;
  cases: { w: Workload; depth: number }[];
}

function libTarget(backend: (typeof BACKENDS)[number]['id'], mode: (typeof CACHE_MODES)[number], region: number) {
  return {
    kind: 'lib',
    id: `${mode}/${backend}`,
    backend,
    mode,
    // A disk per mode: all targets stay open at once, and a disk opens once at a time.
    diskName: `bench-${backend}-${mode}`,
    diskSize: region,
    prepare: true,
  } as const satisfies TargetSpec;
}

/** The library target also measured issued-then-awaited. */
const BATCH_OF = 'writeback/opfs';

/** The library target also measured with lanes in allocBuffer() memory. */
const LENT_OF = 'writeback/opfs';

/** The library target a SyncDisk is measured on, and its workloads (QD1: it blocks). */
const SYNC_OF = 'writeback/opfs';
const SYNC_WORKLOADS: readonly string[] = ['rand-read', 'rand-write'];

function plan(o: ReturnType<typeof options>): Planned[] {
  const out: Planned[] = [];
  const keep = (id: string, w: Workload) => !o.filter || o.filter.test(`${w.id} ${id}`);
  const cases = (id: string, applies: (w: Workload) => boolean) =>
    WORKLOADS.filter((w) => applies(w) && keep(id, w)).flatMap((w) => o.depths.map((depth) => ({ w, depth })));
  const addRaw = (id: (typeof RAW_BASELINES)[number]['id']) => {
    if (out.some((p) => p.target.id === id)) return;
    const r = RAW_BASELINES.find((x) => x.id === id);
    if (r) out.push({ target: { kind: 'raw', id }, what: r.what, cases: cases(id, r.appliesTo) });
  };
  // Each backend's baselines first, then its modes, so a ratio's base is measured just before.
  for (const b of BACKENDS) {
    addRaw(b.base);
    addRaw(b.syncBase);
    for (const mode of CACHE_MODES) {
      const t = libTarget(b.id, mode, o.cfg.region);
      out.push({
        target: t,
        what: `webdisk ${mode} on ${b.id}, through the public API`,
        cases: cases(t.id, () => true),
      });
      if (t.id === LENT_OF) {
        // The same mode and backend, lanes in memory lent by allocBuffer(): large sequential I/O only.
        const lent = { ...t, id: `${t.id}/lent`, diskName: `${t.diskName}-lent`, lent: true };
        out.push({
          target: lent,
          what: `webdisk ${mode} on ${b.id}, writing from and reading into disk.allocBuffer() memory`,
          cases: cases(lent.id, (w) => w.id === 'seq-write' || w.id === 'seq-read'),
        });
      }
      if (t.id === BATCH_OF) {
        // Issued-then-awaited beside pipelined: random writes at the depths above 1.
        const batch = { ...t, id: `${t.id}/batch`, diskName: `${t.diskName}-batch`, batch: true };
        out.push({
          target: batch,
          what: `webdisk ${mode} on ${b.id}, requests issued a queue depth at a time and all awaited`,
          cases: cases(batch.id, (w) => w.id === 'rand-write').filter((c) => c.depth > 1),
        });
      }
      if (t.id === SYNC_OF && o.depths.includes(1)) {
        // SyncDisk beside it: QD1 random 4 KiB, on its disk, right after it in every repeat.
        const id = `${t.id}/sync`;
        out.push({
          target: { kind: 'sync', id, of: t.id },
          what: `webdisk SyncDisk (disk.openSync(), blocking, in a worker) on ${t.id}'s disk`,
          cases: WORKLOADS.filter((w) => SYNC_WORKLOADS.includes(w.id) && keep(id, w)).map((w) => ({ w, depth: 1 })),
        });
      }
    }
  }
  for (const r of RAW_BASELINES) addRaw(r.id);
  // A sync target needs its disk's target open, even one with no case of its own.
  const needed = (p: Planned) =>
    p.cases.length > 0 ||
    out.some((q) => q.target.kind === 'sync' && q.target.of === p.target.id && q.cases.length > 0);
  return out.filter(needed);
}

// ---------------------------------------------------------------------- run

async function main(): Promise<number> {
  const o = options();
  const started = Date.now();
  const loadStart = loadavg()[0];
  const planned = plan(o);
  const totalRuns = planned.reduce((n, p) => n + p.cases.length, 0) * o.repeats;
  const server = await startServer(o.port);
  const profile = mkdtempSync(join(tmpdir(), 'webdisk-bench-'));
  let context: BrowserContext | undefined;
  const pageErrors: string[] = [];
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      // Eager measureUserAgentSpecificMemory: otherwise it waits for a GC (up to 20 s).
      args: [...CHROMIUM_ARGS, '--enable-blink-features=ForceEagerMeasureMemory'],
    });
    const version = context.browser()?.version() ?? 'unknown';
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    const heaps = await Heaps.attach(context, page);
    await page.goto(`http://127.0.0.1:${o.port}${PAGE_PATH}`);
    await page.waitForFunction(() => (window as unknown as { benchReady?: boolean }).benchReady === true);
    const env = await call(page, 'init', [o.cfg], 60_000);
    if (!env.crossOriginIsolated) console.warn('warning: the bench page is not crossOriginIsolated');

    const ceiling: { depth: number; iops: number }[] = [];
    for (const d of o.depths) {
      const r = await call(page, 'ceiling', [d], o.cfg.timeMs + 60_000);
      ceiling.push({ depth: d, iops: r.iops });
    }
    const machine = `${cpus().length}× ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / GiB)} GiB RAM`;
    const configLine = `region ${fmtBytes(o.cfg.region)}, ${o.cfg.timeMs / 1000} s per run, ${o.repeats} repeats, depths ${o.depths.join('/')}`;
    console.error(`Chromium ${version}; ${machine}; ${configLine}; ${totalRuns} runs planned`);

    const cases: CaseResult[] = [];
    const targets: TargetRecord[] = [];
    const runTimeout = o.cfg.timeMs + 120_000;

    // Open (and prepare) every target first: all stay open, so each repeat
    // runs the baselines and the library targets back to back and a ratio
    // compares runs made seconds apart, not minutes.
    const live: Planned[] = [];
    for (const p of planned) {
      const t = p.target;
      const rec: TargetRecord = {
        id: t.id,
        kind: t.kind,
        what: p.what,
        ...(t.kind === 'lib' ? { backend: t.backend, mode: t.mode } : {}),
        ...(t.kind === 'sync' ? { backend: 'opfs', mode: 'writeback' } : {}),
      };
      targets.push(rec);
      try {
        const { prepare } = await call(page, 'open', [t], 600_000);
        rec.prepare = prepare;
        live.push(p);
        if (prepare.bytes) console.error(`${t.id}: prepared ${fmtBytes(prepare.bytes)} at ${prepare.mibps} MiB/s`);
      } catch (err) {
        rec.error = `open: ${String(err instanceof Error ? err.message : err)}`;
        console.error(`${t.id}: ERROR ${rec.error}`);
        if (rec.error.includes('no answer')) throw err;
      }
    }
    const record = (id: string) => targets.find((r) => r.id === id) as TargetRecord;

    let done = 0;
    for (const w of WORKLOADS) {
      const onW = live.filter((p) => p.cases.some((c) => c.w.id === w.id));
      if (w.hotBytes) {
        for (const p of onW) {
          await call(page, 'warm', [p.target.id, w.id], 300_000).catch((err: unknown) => {
            record(p.target.id).error ??= `warm: ${String(err)}`;
          });
        }
      }
      for (const depth of o.depths) {
        const here = onW.filter((p) => p.cases.some((c) => c.w.id === w.id && c.depth === depth));
        const mine = here.map((p) => {
          const c: CaseResult = { workload: w.id, depth, target: p.target.id, runs: [] };
          cases.push(c);
          return c;
        });
        for (let r = 0; r < o.repeats; r++) {
          for (const c of mine) {
            if (c.error) continue;
            try {
              c.runs.push(await call(page, 'run', [c.target, w.id, depth, r], runTimeout));
              done++;
            } catch (err) {
              c.error = String(err instanceof Error ? err.message : err);
              if (c.error.includes('no answer')) throw err;
            }
          }
        }
        for (const c of mine) {
          const bad = c.runs.reduce((n, x) => n + x.badSectors, 0);
          console.error(
            `[${done}/${totalRuns}] ${w.id} QD${depth} ${c.target}: ` +
              (c.error ? `ERROR ${c.error}` : `${c.runs.map((x) => x.iops).join('/')} IOPS`) +
              (bad ? ` BAD SECTORS ${bad}` : ''),
          );
        }
      }
    }

    for (const p of live) {
      const rec = record(p.target.id);
      try {
        // A sync target's writes are checked with its disk's target (they share the expected content).
        if (p.target.kind !== 'sync') rec.contentCheck = await call(page, 'checkContent', [p.target.id], 600_000);
        if (rec.contentCheck && !rec.contentCheck.ok)
          console.error(`${p.target.id}: CONTENT CHECK FAILED ${rec.contentCheck.firstBad}`);
      } catch (err) {
        rec.error ??= `content check: ${String(err instanceof Error ? err.message : err)}`;
      }
      const closed = await call(page, 'close', [p.target.id], 300_000).catch((err: unknown) => {
        rec.error ??= `close: ${String(err)}`;
        return {};
      });
      if ('stats' in closed && closed.stats) rec.closeStats = { ...closed.stats };
    }

    // Memory: a small and a 64 GiB disk per backend, writeback, workloads over the first region bytes.
    const memory: MemoryRow[] = [];
    if (o.memory) {
      const randWrite = WORKLOADS.find((w) => w.id === 'rand-write') as Workload;
      const randRead = WORKLOADS.find((w) => w.id === 'rand-read') as Workload;
      for (const b of BACKENDS) {
        for (const size of [16 * MiB, 64 * GiB]) {
          const spec: TargetSpec = {
            kind: 'lib',
            id: `memory-${b.id}-${size}`,
            backend: b.id,
            mode: 'writeback',
            diskName: `bench-mem-${b.id}-${size}`,
            diskSize: size,
            prepare: false,
          };
          const row: MemoryRow = {
            backend: b.id,
            diskSize: size,
            region: Math.min(size, o.cfg.region),
            page: {},
            diskWorker: {},
          };
          memory.push(row);
          let opened = false;
          try {
            await call(page, 'open', [spec], 120_000);
            opened = true;
            const id = spec.id;
            row.page.idle = await heaps.page();
            row.diskWorker.idle = await heaps.worker('disk-worker');
            await call(page, 'run', [id, randWrite.id, 32, 0], runTimeout);
            await call(page, 'run', [id, randRead.id, 32, 0], runTimeout);
            const v = await call(page, 'checkContent', [id], 600_000);
            if (!v.ok) row.error = `content check failed: ${v.firstBad}`;
            const s = await call(page, 'stats', [id], 60_000);
            row.peakCachedBytes = s?.peakCachedBytes;
            row.cacheCapacityBytes = s?.cacheCapacityBytes;
            row.page.loaded = await heaps.page();
            row.diskWorker.loaded = await heaps.worker('disk-worker');
            row.uasm = await call(page, 'measureMemory', [], 60_000);
            console.error(
              `memory ${b.id} ${fmtBytes(size)}: peak cache ${fmtBytes(row.peakCachedBytes)}, disk worker ${fmtBytes(row.diskWorker.loaded?.usedBytes)} + ${fmtBytes(row.diskWorker.loaded?.backingStorageBytes)} buffers`,
            );
          } catch (err) {
            row.error = String(err instanceof Error ? err.message : err);
            console.error(`memory ${b.id} ${fmtBytes(size)}: ERROR ${row.error}`);
          } finally {
            if (opened) await call(page, 'close', [spec.id], 300_000).catch(() => undefined);
          }
        }
      }
    }

    // An overlay's cold sequential read of a URL base, against a plain fetch of the same bytes.
    let overlay: OverlayReadResult | undefined;
    if (o.overlay) {
      try {
        overlay = await call(page, 'overlayRead', [Math.min(o.cfg.region, 64 * MiB), MiB, 4, o.repeats], 600_000);
        console.error(`overlay read: ${overlayLine(overlay)}`);
      } catch (err) {
        pageErrors.push(`overlayRead: ${String(err instanceof Error ? err.message : err)}`);
      }
    }

    // Image import of a raw Blob and raw export, against raw OPFS sequential writes and reads.
    let images: ImageIoResult | undefined;
    if (o.images) {
      try {
        images = await call(page, 'imageIo', [256 * MiB, o.repeats], 900_000);
        console.error(`images: ${imageLine(images)}`);
      } catch (err) {
        pageErrors.push(`imageIo: ${String(err instanceof Error ? err.message : err)}`);
      }
    }

    const durationS = (Date.now() - started) / 1000;
    const load = { start: loadStart, end: loadavg()[0], cpus: cpus().length };
    const sums = summarize(cases);
    const checks = checkTargets(sums, o.depths);
    const date = new Date().toISOString();
    const info: RunInfo = {
      date: date.slice(0, 16).replace('T', ' '),
      chromium: version,
      machine,
      config: configLine,
      durationS,
      ceiling,
      load,
    };
    console.log(renderText(info, sums, checks, memory, targets));
    const syncLines = syncSummary(sums);
    if (syncLines.length) console.log(`\nSyncDisk (same run, same offsets):\n  ${syncLines.join('\n  ')}`);
    if (overlay) console.log(`\nOverlay cold read: ${overlayLine(overlay)}`);
    if (images) console.log(`\nDisk images: ${imageLine(images)}`);

    const resultsDir = join(REPO, 'bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const jsonPath = join(resultsDir, `${date.replace(/[:.]/g, '-')}.json`);
    const json = {
      date,
      chromium: version,
      userAgent: env.userAgent,
      node: process.version,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        totalMemBytes: totalmem(),
        platform: process.platform,
      },
      crossOriginIsolated: env.crossOriginIsolated,
      config: { ...o.cfg, repeats: o.repeats, depths: o.depths, filter: o.filter?.source ?? null },
      durationS,
      harnessCeiling: ceiling,
      loadAverage1m: load,
      targets,
      summaries: sums,
      cases,
      memory,
      overlay,
      images,
      targetChecks: checks,
      pageErrors,
    };
    writeFileSync(jsonPath, `${JSON.stringify(json, null, 1)}\n`);
    const md = renderMarkdown(info, sums, checks, memory, targets, overlay, images);
    const syncMd = syncLines.length ? `\n### SyncDisk\n\n${syncLines.map((l) => `- ${l}`).join('\n')}\n` : '';
    let sqliteMd = '';
    if (o.sqlite) {
      // Its own browser and page (bench/sqlite), after the rest: the same run, the same machine state.
      console.error("sqlite: commits/s per cache mode beside wa-sqlite's OPFS VFSes");
      try {
        const table = execFileSync(process.execPath, [join(REPO, 'bench/sqlite/run.mjs')], {
          cwd: REPO,
          encoding: 'utf8',
          timeout: 900_000,
        });
        console.log(`\nSQLite:\n${table}`);
        sqliteMd = `\n### SQLite: committed transactions per second\n\n${table}`;
      } catch (err) {
        pageErrors.push(`sqlite: ${String(err instanceof Error ? err.message : err)}`);
      }
    }
    writeFileSync(join(REPO, 'bench/results.md'), md + syncMd + sqliteMd);
    console.log(`\nwrote ${jsonPath.replace(`${REPO}/`, '')} and bench/results.md`);

    const failures = [
      ...targets
        .filter((t) => t.error || (t.contentCheck && !t.contentCheck.ok))
        .map((t) => `${t.id}: ${t.error ?? 'content check failed'}`),
      ...cases.filter((c) => c.error).map((c) => `${c.workload} QD${c.depth} ${c.target}: ${c.error}`),
      ...sums.filter((s) => s.badSectors > 0).map((s) => `${s.workload} QD${s.depth} ${s.target}: bad sectors read`),
      ...memory.filter((m) => m.error).map((m) => `memory ${m.backend} ${fmtBytes(m.diskSize)}: ${m.error}`),
      ...pageErrors.map((e) => `page: ${e}`),
    ];
    if (failures.length) {
      console.error(`\nFAILED:\n  ${failures.join('\n  ')}`);
      return 1;
    }
    return 0;
  } finally {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    server.kill();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
