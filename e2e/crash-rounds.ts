// The browser half of the crash suite, shared by e2e/power-loss.spec.ts (CI)
// and e2e/soak.spec.ts (npm run soak): crash rounds run inside a page of a
// persistent browser profile (storage on disk, as for a real user), in any
// engine; the results come back as plain data and are summed up into the
// soak table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Disk } from '../src/index';
import type { CrashTestOptions, CrashTestResult, RequestLog } from '../src/testing';
import { roundSeed } from '../src/testing/crash-test';
import { type EngineName, type EnginePage, launchEngine } from './engines';
import { BASE_URL, harnessPath, type StorageBackend } from './fixtures';

export const MODES = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'] as const;
export const MODELS = ['process', 'power'] as const;
export type Mode = (typeof MODES)[number];
export type Model = (typeof MODELS)[number];
/**
 * random: a random workload, the plug pulled at a random moment (a time,
 * an acknowledgement, mid-flush, the end).
 * switch: the same with runtime mode switches, pulled just after one.
 * close: the same, then close() issued and the plug pulled while it runs.
 * overlay: random, on an overlay over a base image the test server serves
 * (Range requests): the oracle's "old content" is the base's bytes.
 */
export type Scenario = 'random' | 'switch' | 'close' | 'overlay';

export interface RoundSpec {
  scenario: Scenario;
  mode: Mode;
  model: Model;
  seed: number;
}

export interface RoundConfig {
  /** Disk size in bytes; the whole disk is checked. */
  size: number;
  /** Requests per workload. */
  requests: number;
  /** Rounds running at once, each on its own disk. */
  lanes: number;
}

export const DEFAULT_CONFIG: RoundConfig = { size: 8 * 1024 * 1024, requests: 160, lanes: 8 };

export interface RoundResult extends RoundSpec {
  crashedAt: string;
  issued: number;
  acked: number;
  inFlightAtCrash: number;
  /** A flush (or mode switch) was in flight at the crash. */
  midFlush: boolean;
  /** Writes acknowledged early (in the shared ring) that the worker had not answered when the plug was pulled. */
  earlyInRing: number;
  /** Writes went from memory lent by allocBuffer() (shared memory, even seeds). */
  lent: boolean;
  /** close scenario: close() resolved before the plug was pulled. */
  closeAcked: boolean;
  unclean: boolean | null;
  size: number | null;
  blockSize: number | null;
  listedSize: number | null;
  reopenMode: string | null;
  reopenMs: number;
  ms: number;
  intact: number;
  lost: number;
  violations: number;
  details: string[];
  /** How requests travelled: 'shared-memory' (cross-origin isolated page) or 'messages'. */
  transport: string | null;
  /** Anything that went wrong outside the oracle (reopen failed, a throw). */
  error: string | null;
  /**
   * The round was checked, but its disk could not be deleted afterwards
   * (WebKitGTK can keep a killed worker's IndexedDB transaction open for
   * minutes): the lane goes on with a disk of another name.
   */
  leftBehind: string | null;
  /** The log as JSON, kept only for rounds that failed. */
  log: string | null;
}

export interface CrashBrowser {
  /** e.g. "Chromium 156.0.8078.108". */
  version: string;
  /** The harness, where the rounds run. */
  page: EnginePage;
  /** Another page of the same profile, showing the harness (plus `params` in its query). */
  newPage(params?: Record<string, string>): Promise<EnginePage>;
  close(): Promise<void>;
}

/**
 * A persistent profile of `engine` in a temporary directory: storage on
 * disk (an incognito context keeps OPFS in memory), so a page reload finds
 * the disk again. The harness makes `backend` openDisk's default.
 */
export async function launchCrashBrowser(engine: EngineName, backend: StorageBackend): Promise<CrashBrowser> {
  const browser = await launchEngine(engine, { baseURL: BASE_URL, isolated: false });
  const newPage = async (params: Record<string, string> = {}) => {
    const page = await browser.newPage();
    await page.goto(harnessPath(backend, params));
    return page;
  };
  try {
    const page = await newPage();
    return { version: browser.version, page, newPage, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** The base seed of this run: $CRASH_SEED, or a fresh random one (printed, so a run can be repeated). */
export function baseSeed(): number {
  const env = process.env.CRASH_SEED;
  if (env !== undefined && env !== '') return Number(env) >>> 0;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

/** The seed of round `i` of a run: webdisk's own derivation, so a printed seed replays in the page. */
export const seedOf = roundSeed;

/**
 * Runs the rounds in the page, `lanes` at a time (each lane its own disk,
 * so the ~2 s a killed writer keeps its file locked overlaps between
 * lanes). Calls `progress` after each chunk.
 */
export async function runRounds(
  page: EnginePage,
  rounds: RoundSpec[],
  cfg: RoundConfig = DEFAULT_CONFIG,
  progress?: (done: RoundResult[]) => void,
): Promise<RoundResult[]> {
  const all: RoundResult[] = [];
  const chunk = Math.max(cfg.lanes, 40);
  for (let i = 0; i < rounds.length; i += chunk) {
    const part = await page.evaluate(roundsInPage, { rounds: rounds.slice(i, i + chunk), cfg });
    all.push(...part);
    progress?.(all);
  }
  return all;
}

/** What a failed round says: enough to understand it and the command that replays it (in `project`). */
export function describeFailure(r: RoundResult, project = 'chromium-opfs'): string {
  const why = r.error ?? `${r.violations} violation(s): ${r.details.join('; ')}`;
  return (
    `${r.scenario} round, ${r.mode} / ${r.model}, seed ${r.seed} (crash at ${r.crashedAt}, ` +
    `${r.acked}/${r.issued} acknowledged, ${r.inFlightAtCrash} in flight): ${why}\n` +
    `  replay: CRASH_REPLAY=${r.scenario}:${r.mode}:${r.model}:${r.seed} npm run test:e2e -- e2e/power-loss.spec.ts --project=${project} -g replay`
  );
}

/** Every check of a round besides the oracle's: reopened unclean, metadata intact. */
export function roundProblems(r: RoundResult, size: number): string[] {
  const p: string[] = [];
  if (r.error) p.push(r.error);
  if (r.violations > 0) p.push(`${r.violations} violations`);
  if (r.error === null) {
    if (r.scenario === 'close') {
      // A close() that resolved left a clean disk; one cut short may or may
      // not have finished in the worker (then the image is checked exactly).
      if (r.closeAcked && r.unclean !== false) p.push('close() resolved, yet the disk reopened unclean');
    } else if (r.unclean !== true) {
      p.push(`uncleanShutdown is ${r.unclean} after a power loss`);
    }
    if (r.size !== size || r.listedSize !== size) p.push(`size ${r.size} (listed ${r.listedSize}), expected ${size}`);
    if (r.blockSize !== 4096) p.push(`blockSize ${r.blockSize}`);
    if (r.reopenMode !== r.mode) p.push(`reopened in ${r.reopenMode}, not ${r.mode}`);
  }
  return p;
}

/** Writes the logs of failed rounds where a person can find them. */
export function saveFailedLogs(results: RoundResult[], dir = 'test-results/crash-logs'): string[] {
  const failed = results.filter((r) => r.log !== null);
  if (failed.length === 0) return [];
  mkdirSync(dir, { recursive: true });
  return failed.map((r) => {
    const file = join(dir, `${r.scenario}-${r.mode}-${r.model}-${r.seed}.json`);
    writeFileSync(file, r.log as string);
    return file;
  });
}

export interface Row {
  label: string;
  model: string;
  crashes: number;
  midFlush: number;
  lost: number;
  lossyRounds: number;
  violations: number;
}

/** Sums results by (scenario, mode, model) in table order. */
export function summarize(results: RoundResult[]): Row[] {
  const rows = new Map<string, Row>();
  for (const r of results) {
    // Random rounds by mode and model; the mode-switch and close() rounds
    // (which start in every mode) by model.
    const label =
      r.scenario === 'random'
        ? `\`${r.mode}\``
        : r.scenario === 'switch'
          ? 'random runtime mode switches, crash just after one'
          : r.scenario === 'overlay'
            ? 'overlay over a URL (copy-on-write), every mode'
            : 'crash inside `close()`, every mode';
    const key =
      r.scenario === 'random'
        ? `random|${MODES.indexOf(r.mode)}|${MODELS.indexOf(r.model)}`
        : `${r.scenario}|9|${MODELS.indexOf(r.model)}`;
    let row = rows.get(key);
    if (!row) {
      row = { label, model: r.model, crashes: 0, midFlush: 0, lost: 0, lossyRounds: 0, violations: 0 };
      rows.set(key, row);
    }
    row.crashes++;
    if (r.midFlush) row.midFlush++;
    row.lost += r.lost;
    if (r.lost > 0) row.lossyRounds++;
    row.violations += r.violations + (r.error ? 1 : 0);
  }
  const order = ['random', 'switch', 'close', 'overlay'];
  return [...rows.entries()]
    .sort(([a], [b]) => {
      const [sa, ma, ca] = a.split('|');
      const [sb, mb, cb] = b.split('|');
      return order.indexOf(sa) - order.indexOf(sb) || Number(ma) - Number(mb) || Number(ca) - Number(cb);
    })
    .map(([, row]) => row);
}

export function markdownTable(rows: Row[]): string {
  const lines = [
    '| mode | crash model | crashes | mid-flush | blocks lost (allowed) | crashes that lost data | violations |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.model} | ${r.crashes} | ${r.midFlush} | ${r.lost} | ${r.lossyRounds} | ${r.violations} |`,
    );
  }
  const t = rows.reduce(
    (a, r) => ({
      crashes: a.crashes + r.crashes,
      midFlush: a.midFlush + r.midFlush,
      lost: a.lost + r.lost,
      lossy: a.lossy + r.lossyRounds,
      violations: a.violations + r.violations,
    }),
    { crashes: 0, midFlush: 0, lost: 0, lossy: 0, violations: 0 },
  );
  lines.push(`| **total** | | ${t.crashes} | ${t.midFlush} | ${t.lost} | ${t.lossy} | ${t.violations} |`);
  return lines.join('\n');
}

// ------------------------------------------------------------------ in the page

/**
 * Runs crash rounds inside the harness page (window.webdisk is the built
 * library). Self-contained: every engine adapter sends it to the page as source.
 */
async function roundsInPage(arg: { rounds: RoundSpec[]; cfg: RoundConfig }): Promise<RoundResult[]> {
  const { rounds, cfg } = arg;
  const wd = window.webdisk;
  const out: RoundResult[] = new Array(rounds.length);
  let next = 0;

  /** A round's result before anything has happened in it. */
  const notRun = (spec: RoundSpec): RoundResult => ({
    ...spec,
    crashedAt: 'none',
    issued: 0,
    acked: 0,
    inFlightAtCrash: 0,
    midFlush: false,
    earlyInRing: 0,
    lent: false,
    closeAcked: false,
    unclean: null,
    size: null,
    blockSize: null,
    listedSize: null,
    reopenMode: null,
    reopenMs: 0,
    ms: 0,
    intact: 0,
    lost: 0,
    violations: 0,
    details: [],
    transport: null,
    error: null,
    leftBehind: null,
    log: null,
  });

  /** A disk a killed worker held may stay locked for ~2 s: retry deleting it for a while. */
  const deleteSoon = async (name: string, tries = 100) => {
    for (let i = 1; ; i++) {
      try {
        return await wd.deleteDisk(name);
      } catch (err) {
        if (i >= tries) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  /** Where each lane's round is, so a round that stalls says where. */
  const steps: string[] = [];
  const one = async (spec: RoundSpec, lane: number, name: string): Promise<RoundResult> => {
    const at = (step: string) => {
      steps[lane] = step;
    };
    const t0 = performance.now();
    const r = notRun(spec);
    // Disk geometry drawn from the seed: a small worker cache so write-back
    // happens under the workload, a small device cache so destaging does.
    const rnd = wd.prng(wd.roundSeed(spec.seed, 7));
    const big = spec.scenario === 'close';
    const cacheSize = big ? 4 << 20 : [256, 1024, 4096][Math.floor(rnd() * 3)] * 1024;
    const deviceCacheSize = big ? 2 << 20 : [128, 512, 2048][Math.floor(rnd() * 3)] * 1024;
    let disk: Disk | undefined;
    let run: CrashTestResult | undefined;
    try {
      at('deleting the previous disk');
      await deleteSoon(name);
      // An overlay's base: this lane's image on the test server, drawn from the seed.
      let base: { url: string } | undefined;
      let baseBytes: Uint8Array | undefined;
      if (spec.scenario === 'overlay') {
        const image = `${name}-base`;
        await fetch(`/base-control/${image}?size=${cfg.size}&seed=${spec.seed % 1_000_000}`);
        base = { url: `/base/${image}` };
        baseBytes = new Uint8Array(await (await fetch(`/base/${image}?peek=1`)).arrayBuffer());
      }
      at('opening');
      const opened = await wd.openDisk({
        name,
        size: base ? undefined : cfg.size,
        base,
        cache: spec.mode,
        crashModel: spec.model,
        cacheSize,
        deviceCacheSize,
      });
      disk = opened;
      r.transport = opened.transportKind;
      const pull = () => {
        r.earlyInRing = opened.earlyAcksInFlight;
        opened.powerLoss();
      };
      const opts: CrashTestOptions = {
        seed: spec.seed,
        size: cfg.size,
        initialMode: spec.mode,
        requests: cfg.requests,
      };
      // Half the rounds write from lent memory (not copied, never acknowledged early): the seed decides, no draw.
      if (opened.transportKind === 'shared-memory' && spec.seed % 2 === 0) {
        opts.lent = await opened.allocBuffer(8 << 20);
        r.lent = true;
      }
      let pulled: Promise<void> = Promise.resolve();
      if (spec.scenario === 'random' || spec.scenario === 'overlay') {
        opts.crash = wd.randomCrashPoint(spec.seed, cfg.requests);
        opts.onCrash = pull;
      } else if (spec.scenario === 'switch') {
        opts.modeSwitchRate = 0.06;
        opts.crash = { at: 'mode', count: 1 + Math.floor(rnd() * 4), delayMs: rnd() * 5 };
        opts.onCrash = pull;
      } else {
        // After a random acknowledgement, issue close() (with requests still
        // in flight, or once they are answered) and pull the plug while it
        // runs: a big dirty cache and device cache make close() take a while.
        opts.crash = { at: 'ack', count: 1 + Math.floor(rnd() * cfg.requests) };
        const drain = rnd() < 0.5;
        // A burst of big writes first gives close() something to write back.
        const burst = 4 + Math.floor(rnd() * 12);
        // Pull the plug 0-6 ms after close() is sent. A busy wait, not a
        // timer: other lanes keep the page's event loop busy for tens of ms.
        const delay = rnd() * 6;
        let log: RequestLog | undefined;
        opts.onLog = (l) => {
          log = l;
        };
        const closeThenPull = () => {
          for (let k = 0; k < burst; k++) {
            const length = 256 * 1024;
            const offset = Math.floor(rnd() * (cfg.size / length)) * length;
            const seed = Math.floor(rnd() * 2 ** 31);
            const e = log?.write(offset, length, seed, false);
            opened.write(offset, wd.patternBytes(length, seed)).then(
              () => e && log?.ack(e),
              () => undefined,
            );
          }
          opened.close().then(
            () => {
              r.closeAcked = true;
            },
            () => undefined,
          );
          pulled = (async () => {
            await Promise.resolve(); // the batched-messages transport sends in a microtask
            const t = performance.now();
            while (performance.now() - t < delay) {
              // spin
            }
            pull();
          })();
        };
        opts.onCrash = drain ? () => undefined : closeThenPull;
        at('running the workload');
        run = await wd.runCrashTest(opened, opts);
        if (drain) closeThenPull();
      }
      at('running the workload');
      run ??= await wd.runCrashTest(opened, opts);
      at('pulling the plug');
      await pulled;
      r.crashedAt = run.crashedAt;
      r.issued = run.issued;
      r.acked = run.acked;
      r.inFlightAtCrash = run.inFlightAtCrash;
      r.midFlush = run.flushInFlightAtCrash;
      if (!opened.closed) opened.powerLoss();

      const t1 = performance.now();
      at('reopening');
      const again = await wd.openDisk({ name, cache: spec.mode, crashModel: spec.model, lockTimeoutMs: 20_000 });
      r.reopenMs = Math.round(performance.now() - t1);
      r.unclean = again.uncleanShutdown;
      r.size = again.size;
      r.blockSize = again.blockSize;
      r.reopenMode = again.cacheMode;
      at('listing');
      r.listedSize = (await wd.listDisks()).find((d) => d.name === name)?.size ?? null;
      at('reading back and verifying');
      const report = await wd.verifyDisk(again, run.log, cfg.size, baseBytes);
      r.intact = report.intact;
      r.lost = report.lost;
      r.violations = report.violations;
      r.details = report.details.slice(0, 5).map((v) => `bytes ${v.offset}+${v.length}: ${v.reason}`);
      if (spec.scenario === 'close' && again.uncleanShutdown === false) {
        // close() completed: every request issued before it took effect and is durable.
        const want = wd.expectedImage(run.log.entries, cfg.size);
        const got = await again.read(0, cfg.size);
        let i = 0;
        while (i < want.length && want[i] === got[i]) i++;
        if (i < want.length) {
          r.violations++;
          r.details.push(`clean after close(), yet byte ${i} is ${got[i]}, not ${want[i]}`);
        }
      }
      at('closing');
      await again.close();
      at('deleting');
      // Retried a little like the delete before a round: on a loaded machine the
      // lock of the worker that just closed can come back after deleteDisk's 1 s.
      await deleteSoon(name, 4).catch((err: Error) => {
        r.leftBehind = `${err.name} ${(err as { code?: string }).code ?? ''}: ${err.message}`;
      });
    } catch (caught) {
      const err = (typeof caught === 'object' && caught !== null ? caught : {}) as {
        name?: string;
        code?: string;
        message?: string;
      };
      r.error = `${err.name ?? 'Error'} ${err.code ?? ''}: ${err.message ?? String(caught)}`;
      try {
        if (disk && !disk.closed) disk.powerLoss();
      } catch {
        // already gone
      }
    }
    if ((r.violations > 0 || r.error) && run) {
      r.log = JSON.stringify({ seed: spec.seed, initialMode: run.log.initialMode, entries: run.log.entries });
    }
    r.ms = Math.round(performance.now() - t0);
    return r;
  };

  /** A round that has not finished after this long has hung: it fails, saying where. */
  const STALL_MS = 120_000;
  const lane = async (id: number) => {
    // Named per scenario: a disk an earlier test left held (WebKitGTK keeps a
    // killed worker's transaction) must not stall this test's first round.
    let name = `crash-${rounds[0]?.scenario ?? 'none'}-lane-${id}`;
    for (;;) {
      const i = next++;
      if (i >= rounds.length) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), STALL_MS);
      });
      const done = await Promise.race([one(rounds[i], id, name), stalled]);
      clearTimeout(timer);
      if (done) {
        out[i] = done;
        if (done.leftBehind) name = `${name}-next`; // its disk is still held
        continue;
      }
      out[i] = {
        ...notRun(rounds[i]),
        ms: STALL_MS,
        error: `the round hung for ${STALL_MS / 1000} s while ${steps[id]}`,
      };
      name = `${name}-after-hang`; // the hung round may still hold its disk
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.lanes, rounds.length) }, (_, id) => lane(id)));
  return out;
}
