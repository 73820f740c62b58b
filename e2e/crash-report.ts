// The crash suite's verdicts and tables: what a failed round says (and the
// command that replays it), the checks of a round besides the oracle's,
// failed rounds' logs saved, and results summed up into the soak table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS, MODES, type RoundResult } from './crash-rounds';

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
