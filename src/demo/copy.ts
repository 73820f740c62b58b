import type { Backend, BackendReason, CacheMode, CrashModel } from '../index';
import { formatBytes, formatCount } from './format';
import type { LoadConfig } from './load-generator';

/**
 * The page's explanations: what each crash model and cache mode means for
 * a power loss, and the sentences built from a run's numbers. Plain
 * strings only, no DOM, so the wording can be read (and tested) in one place.
 */

export const CRASH_MODEL_HELP: Record<CrashModel, string> = {
  power: 'Power cut: unsynced writes die with the worker too (a simulated 16 MiB disk cache).',
  process: 'Process crash: only the worker’s memory dies; what reached storage stays.',
};

/** What a power loss took, by crash model: said right after pulling the plug. */
export const POWER_LOSS_TOOK: Record<CrashModel, string> = {
  power: 'Every write not yet synced to storage is gone too (power-cut model).',
  process: 'Only the worker’s memory is gone (process-crash model).',
};

/** Why a mode may lose what it lost: the verdict's explanation after a power loss. */
export const AFTER_POWER_LOSS: Record<CacheMode, string> = {
  writeback: 'writeback holds writes in memory until a flush completes: what came after the last flush may be lost.',
  none: 'none sends writes to storage at once, but only a flush makes them durable: what came after the last flush may be lost.',
  writethrough: 'writethrough makes every write durable before acknowledging it: nothing acknowledged can be lost.',
  directsync: 'directsync makes every write durable before acknowledging it: nothing acknowledged can be lost.',
  unsafe: 'unsafe never forces anything to storage: a power loss may drop anything written since the disk was opened.',
};

/** The backends' names as the page writes them. */
export const BACKEND_NAME: Record<Backend, string> = { opfs: 'OPFS', idb: 'IndexedDB', memory: 'memory' };

/**
 * Set when the page, not the user, picked the backend: the user took the
 * way out an error offered. 'idb': OPFS was asked for and is missing;
 * 'memory': neither persistent backend works here.
 */
export type PageFallback = 'idb' | 'memory';

/** The "Backend:" line: where the disk is (or that none is open) and, for an open disk, why there. */
export interface BackendLine {
  where: string;
  why?: string;
}

/**
 * The Backend line of an open disk, from disk.backendReason (and from the
 * page's own switch, if it made one).
 */
export function backendLine(
  backend: Backend,
  reason: BackendReason,
  page: { fallback?: PageFallback; secureContext: boolean },
): BackendLine {
  if (backend === 'memory') {
    return page.fallback === 'memory'
      ? { where: 'memory', why: 'volatile, because neither OPFS nor IndexedDB is usable here' }
      : { where: 'memory', why: 'volatile: gone when closed' };
  }
  const where = `${BACKEND_NAME[backend]}, persistent`;
  if (page.fallback === 'idb' && backend === 'idb') {
    return { where, why: 'OPFS is missing in this browser, so the page switched to IndexedDB' };
  }
  switch (reason) {
    case 'existing':
      return { where, why: 'this disk already existed there' };
    case 'preferred':
      return { where, why: 'Auto’s first choice, available in this browser' };
    case 'fallback':
      return {
        where,
        why: page.secureContext
          ? 'OPFS sync access handles are missing in this browser, so webdisk fell back to IndexedDB'
          : 'OPFS needs a secure page (https or localhost), so webdisk fell back to IndexedDB',
      };
    case 'requested':
      return { where, why: 'as chosen' };
  }
}

/** The status while a disk reopens after a power loss or a close. */
export function reopeningText(how: 'power' | 'close', backend: Backend): string {
  // Chromium releases a killed worker's OPFS sync handle late; IndexedDB has no such wait.
  return how === 'power' && backend === 'opfs'
    ? 'Reopening… (after a power loss the browser keeps the killed worker’s file locked for about 2 s)'
    : 'Reopening…';
}

/** After reopening a memory disk: nothing survived to check. */
export const NOTHING_TO_VERIFY =
  'A memory disk does not outlive its worker: it starts empty, there is nothing to verify. Use OPFS or IndexedDB to see what survives.';

/** "4 KiB random writes, 16 in flight, a flush every 256 writes". */
export function describeLoad(c: LoadConfig): string {
  const what = c.pattern === 'mixed' ? 'mixed random read/write' : `${c.pattern} writes`;
  const flush =
    c.flushEvery === 0
      ? 'no flushes'
      : c.flushEvery === 1
        ? 'a flush after each write'
        : `a flush every ${c.flushEvery} writes`;
  return `${formatBytes(c.ioSize)} ${what}, ${c.depth} in flight, ${flush}`;
}

/** What the oracle counted after a reopen (see verify.ts). */
export interface VerdictCounts {
  intact: number;
  lost: number;
  violations: number;
  details: readonly { offset: number; reason: string }[];
}

export type VerdictKind = 'ok' | 'warn' | 'bad';

/** The verdict in words: a headline of the counts and why they are what they are. */
export function verdictWords(
  r: VerdictCounts,
  modes: readonly CacheMode[],
  how: 'power' | 'close',
  model: CrashModel,
): { kind: VerdictKind; head: string; why: string } {
  const allowedBy = modes.join(' and ');
  const lost = r.lost > 0 ? `${formatCount(r.lost)} lost — allowed by ${allowedBy}` : '0 lost';
  const head = `${r.violations === 0 ? '✔' : '✘'} ${formatCount(r.intact)} blocks intact, ${lost}, ${formatCount(r.violations)} violations`;
  let why: string;
  if (r.violations > 0) {
    why = `A violation breaks the durability contract: ${r.details
      .slice(0, 3)
      .map((d) => `at byte ${d.offset}: ${d.reason}`)
      .join('; ')}.`;
  } else if (how === 'close') {
    why = 'The disk was closed cleanly: close writes everything back and syncs, in every mode.';
  } else {
    why = modes.map((m) => AFTER_POWER_LOSS[m]).join(' ');
    if (model === 'process') why += ' (Process-crash model: only the worker’s memory was lost.)';
  }
  const kind: VerdictKind = r.violations > 0 ? 'bad' : r.lost > 0 ? 'warn' : 'ok';
  return { kind, head, why };
}
