/**
 * What a bench run measures: the targets (raw baselines, every cache mode
 * on every backend, and the variants measured beside one of them) and the
 * cases each runs, in the order they run.
 */
import { CACHE_MODES } from '../src/core/types';
import type { BenchOptions } from './cli';
import { BACKENDS, RAW_BASELINES, type TargetSpec, WORKLOADS, type Workload } from './config';

export interface Planned {
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

export function plan(o: BenchOptions): Planned[] {
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
