import type { CacheMode } from '../index';
import { checkDurability, type LogEntry, type Violation } from '../testing';
import { LOST, NEVER, SURVIVED, UNIT, VIOLATION } from './block-states';

export interface VerifyInput {
  entries: readonly LogEntry[];
  initialMode: CacheMode;
  /** The disk's content when the session began. */
  base: Uint8Array;
  /** The disk's content after reopening. */
  actual: Uint8Array;
  onProgress?: (done: number) => void;
}

export interface VerifyResult {
  /** Per UNIT bytes: SURVIVED (intact), LOST, VIOLATION or NEVER (untouched this session). */
  verdicts: Uint8Array;
  intact: number;
  lost: number;
  violations: number;
  untouched: number;
  details: Violation[];
}

/** The oracle runs on regions this big (whole writes never straddle two regions). */
const REGION = 1024 * 1024;

/**
 * Runs the durability oracle (checkDurability) over the whole disk, one
 * region at a time: each region gets the writes inside it and every flush
 * and mode switch, so the work stays proportional to the log instead of
 * log × disk, and the page can show progress between regions.
 */
export async function verify(input: VerifyInput): Promise<VerifyResult> {
  const { entries, actual } = input;
  const size = actual.length;
  const regions = splitRegions(entries, size);
  const perRegion: LogEntry[][] = regions.map(() => []);
  const starts = regions.map((r) => r.start);
  for (const e of entries) {
    if (e.kind === 'flush' || e.kind === 'mode') {
      for (const list of perRegion) list.push(e);
    } else if (e.length > 0 && e.offset < size) {
      const r = regionOf(starts, e.offset);
      perRegion[r].push({ ...e, offset: e.offset - regions[r].start });
    }
  }
  const out: VerifyResult = {
    verdicts: new Uint8Array(Math.ceil(size / UNIT)),
    intact: 0,
    lost: 0,
    violations: 0,
    untouched: 0,
    details: [],
  };
  const code = { intact: SURVIVED, lost: LOST, violation: VIOLATION, untouched: NEVER } as const;
  let lastYield = performance.now();
  for (let r = 0; r < regions.length; r++) {
    const { start, end } = regions[r];
    const report = checkDurability({
      entries: perRegion[r],
      initialMode: input.initialMode,
      base: input.base.subarray(start, end),
      actual: actual.subarray(start, end),
      blockSize: UNIT,
    });
    report.blocks.forEach((v, i) => {
      out.verdicts[start / UNIT + i] = code[v];
    });
    out.intact += report.intact;
    out.lost += report.lost;
    out.violations += report.violations;
    out.untouched += report.untouched;
    for (const d of report.details) out.details.push({ ...d, offset: d.offset + start });
    if (performance.now() - lastYield > 50) {
      input.onProgress?.(end / size);
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = performance.now();
    }
  }
  input.onProgress?.(1);
  return out;
}

/** Regions of REGION bytes, merged where a write or discard crosses a boundary. */
function splitRegions(entries: readonly LogEntry[], size: number): { start: number; end: number }[] {
  const n = Math.ceil(size / REGION);
  const cut = new Array<boolean>(n + 1).fill(true);
  for (const e of entries) {
    if (e.kind === 'flush' || e.kind === 'mode') continue;
    const end = Math.min(size, e.offset + e.length);
    for (let k = Math.floor(e.offset / REGION) + 1; k * REGION < end; k++) cut[k] = false;
  }
  const out: { start: number; end: number }[] = [];
  let start = 0;
  for (let k = 1; k <= n; k++) {
    if (k === n || cut[k]) {
      const end = Math.min(size, k * REGION);
      out.push({ start, end });
      start = end;
    }
  }
  return out;
}

function regionOf(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
