import type { Extent, ExtentState } from './store';

/** Appends a run, merged into the last one when it continues it in the same state. */
export function pushRun(out: Extent[], offset: number, length: number, state: ExtentState): void {
  if (length <= 0) return;
  const last = out.at(-1);
  if (last && last.state === state && last.offset + last.length === offset) last.length += length;
  else out.push({ offset, length, state });
}

/**
 * `runs` with the byte ranges of `data` (sorted, disjoint [start, end)
 * pairs) made 'data': what a cache holds that the store has not seen yet.
 */
export function withData(runs: readonly Extent[], data: readonly (readonly [number, number])[]): Extent[] {
  const out: Extent[] = [];
  let i = 0;
  for (const r of runs) {
    const end = r.offset + r.length;
    let at = r.offset;
    while (at < end) {
      while (i < data.length && data[i][1] <= at) i++;
      const d = data[i];
      if (!d || d[0] >= end) {
        pushRun(out, at, end - at, r.state);
        break;
      }
      if (d[0] > at) pushRun(out, at, d[0] - at, r.state);
      const stop = Math.min(end, d[1]);
      pushRun(out, Math.max(at, d[0]), stop - Math.max(at, d[0]), 'data');
      at = stop;
    }
  }
  return out;
}
