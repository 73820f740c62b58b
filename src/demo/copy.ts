import type { Backend, CacheMode, CrashModel } from '../index';
import { formatBytes, formatCount } from './format';
import type { WorkloadConfig } from './workload';

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

/** Why the page, not the user, put the disk on the backend it is on: it took the way out an error offered. */
export type PageFallback = 'memory';

/** The "Backend:" line of an open disk. */
export function backendLine(backend: Backend, pageFallback: PageFallback | undefined): string {
  if (backend === 'opfs') return 'OPFS, persistent';
  return pageFallback === 'memory'
    ? 'memory — volatile, because OPFS is missing here'
    : 'memory — volatile: gone when closed';
}

/** "4 KiB random writes, 16 in flight, a flush every 256 writes". */
export function describeWorkload(c: WorkloadConfig): string {
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
