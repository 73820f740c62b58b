// The browser half of the crash suite, shared by e2e/power-loss.spec.ts (CI),
// e2e/soak.spec.ts (npm run soak) and the SQLite crash suite: crash rounds
// run inside a page of a persistent browser profile (storage on disk, as for
// a real user), in any engine (the page half is crash-rounds-page.ts); the
// results come back as plain data (crash-report.ts sums them up).
import { roundSeed } from '../src/testing/crash-test';
import { roundsInPage } from './crash-rounds-page';
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
