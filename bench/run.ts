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
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../e2e/chromium';
import { options } from './cli';
import {
  BACKENDS,
  type CaseResult,
  GiB,
  type ImageIoResult,
  MiB,
  type OverlayReadResult,
  type TargetSpec,
  WORKLOADS,
  type Workload,
} from './config';
import { call, Heaps, PAGE_PATH, REPO, startServer } from './driver';
import { type Planned, plan } from './plan';
import {
  checkTargets,
  fmtBytes,
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
