/**
 * Summaries and tables of a benchmark run (Node side): medians and spread
 * over repeats, ratios to the raw baseline of the same workload and
 * storage, the targets of the issue, and the text / markdown renderings.
 */
import {
  BACKENDS,
  type CaseResult,
  type ContentCheck,
  hasWrites,
  type ImageIoResult,
  MiB,
  type OverlayReadResult,
  type PrepareResult,
  WORKLOADS,
  type Workload,
  type WorkloadId,
  workloadById,
} from './config';

export interface TargetRecord {
  id: string;
  kind: 'lib' | 'raw' | 'sync';
  backend?: string;
  mode?: string;
  what: string;
  prepare?: PrepareResult;
  contentCheck?: ContentCheck;
  /** Library: stats() at close (peakCachedBytes, cacheCapacityBytes, …). */
  closeStats?: Record<string, number>;
  error?: string;
}

export interface HeapSample {
  /** Runtime.getHeapUsage after a forced GC: JS heap used, and ArrayBuffer backing stores. */
  usedBytes: number;
  backingStorageBytes: number;
}

export interface MemoryRow {
  backend: string;
  diskSize: number;
  /** Bytes the workloads addressed. */
  region: number;
  peakCachedBytes?: number;
  cacheCapacityBytes?: number;
  /** After open (idle) and after the workloads. */
  page: { idle?: HeapSample; loaded?: HeapSample };
  diskWorker: { idle?: HeapSample; loaded?: HeapSample };
  /** performance.measureUserAgentSpecificMemory() after the workloads (no ArrayBuffer backing stores). */
  uasm?: { bytes: number; byScope: Record<string, number> } | { error: string };
  error?: string;
}

export interface Summary {
  workload: WorkloadId;
  depth: number;
  target: string;
  runs: number;
  mibps: number;
  iops: number;
  /** (max − min) / median of IOPS over the repeats, in percent. */
  spreadPct: number;
  p50: number;
  p99: number;
  badSectors: number;
  /** IOPS of each repeat, in repeat order. */
  iopsRuns: number[];
  base?: string;
  /** Median over repeats of (this repeat's IOPS / the baseline's IOPS in the same repeat). */
  ratio?: number;
  /** Half the range of those per-repeat ratios, in percent of the median. */
  ratioSpreadPct?: number;
  error?: string;
}

/** Per-repeat ratios a/b (each repeat ran both back to back), summarised by median and half-range. */
export function pairedRatio(a: Summary, b: Summary): { ratio: number; spreadPct: number } | undefined {
  if (a.error || b.error) return undefined;
  const n = Math.min(a.iopsRuns.length, b.iopsRuns.length);
  const rs: number[] = [];
  for (let i = 0; i < n; i++) if (b.iopsRuns[i] > 0) rs.push(a.iopsRuns[i] / b.iopsRuns[i]);
  if (rs.length === 0) return undefined;
  const m = median(rs);
  return { ratio: m, spreadPct: rs.length > 1 && m > 0 ? ((Math.max(...rs) - Math.min(...rs)) / 2 / m) * 100 : 0 };
}

/**
 * One line per SyncDisk case: its IOPS as a ratio to the async API on the
 * same disk and to raw OPFS, both measured in the same repeats.
 */
export function syncSummary(sums: Summary[]): string[] {
  return sums
    .filter((s) => s.target.endsWith('/sync'))
    .map((s) => {
      const of = s.target.slice(0, -'/sync'.length);
      const peer = (t: string | undefined) =>
        sums.find((x) => x.workload === s.workload && x.depth === s.depth && x.target === t);
      const vs = (t: string | undefined) => {
        const b = peer(t);
        const r = b && pairedRatio(s, b);
        return r
          ? `${r.ratio.toFixed(2)}× ${t} (±${Math.round(r.spreadPct)}%, ${fmtNum(b.iops)} IOPS)`
          : `– (${t} not run)`;
      };
      if (s.error) return `${s.workload} QD${s.depth} ${s.target}: error ${s.error}`;
      return `${s.workload} QD${s.depth}: SyncDisk ${fmtNum(s.iops)} IOPS (p50 ${fmtLat(s.p50)}) = ${vs(of)}, ${vs(s.base)}`;
    });
}

export interface TargetCheck {
  goal: string;
  depth: number;
  value: string;
  met: boolean | undefined;
  note?: string;
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The raw baseline a library target is compared with on a workload. */
export function baseOf(target: string, w: Workload): string | undefined {
  const [mode, backend] = target.split('/');
  const b = BACKENDS.find((x) => x.id === backend);
  if (!b) return undefined;
  const syncsEachWrite = mode === 'writethrough' || mode === 'directsync';
  return syncsEachWrite && hasWrites(w) && w.flushEvery !== 1 ? b.syncBase : b.base;
}

export function summarize(cases: CaseResult[]): Summary[] {
  const out: Summary[] = cases.map((c) => {
    const iops = c.runs.map((r) => r.iops);
    const med = median(iops);
    return {
      workload: c.workload,
      depth: c.depth,
      target: c.target,
      runs: c.runs.length,
      mibps: median(c.runs.map((r) => r.mibps)),
      iops: med,
      spreadPct: c.runs.length > 1 && med > 0 ? ((Math.max(...iops) - Math.min(...iops)) / med) * 100 : 0,
      p50: median(c.runs.map((r) => r.lat.p50)),
      p99: median(c.runs.map((r) => r.lat.p99)),
      badSectors: c.runs.reduce((n, r) => n + r.badSectors, 0),
      iopsRuns: iops,
      error: c.error,
    };
  });
  for (const s of out) {
    const base = baseOf(s.target, workloadById(s.workload));
    if (!base) continue;
    s.base = base;
    const b = out.find((x) => x.workload === s.workload && x.depth === s.depth && x.target === base);
    const r = b && pairedRatio(s, b);
    if (r) {
      s.ratio = r.ratio;
      s.ratioSpreadPct = r.spreadPct;
    }
  }
  return out;
}

/** Issue 12's targets, checked against this run's medians (each at the depths it names). */
export function checkTargets(sums: Summary[], depths: number[]): TargetCheck[] {
  const find = (w: WorkloadId, t: string, d: number) =>
    sums.find((s) => s.workload === w && s.target === t && s.depth === d);
  const checks: TargetCheck[] = [];
  const ratioGoal = (goal: string, w: WorkloadId, t: string, base: string, min: number, at: number) => {
    if (!depths.includes(at)) {
      checks.push({ goal, depth: at, value: 'not run', met: undefined });
      return;
    }
    const a = find(w, t, at);
    const b = find(w, base, at);
    const p = a && b ? pairedRatio(a, b) : undefined;
    if (!a || !b || !p) {
      checks.push({ goal, depth: at, value: 'not run', met: undefined });
      return;
    }
    const lo = p.ratio * (1 - p.spreadPct / 100);
    const hi = p.ratio * (1 + p.spreadPct / 100);
    checks.push({
      goal,
      depth: at,
      value: `${p.ratio.toFixed(2)}× ±${Math.round(p.spreadPct)}% (${fmtNum(a.iops)} vs ${fmtNum(b.iops)} IOPS)`,
      met: p.ratio >= min,
      note: lo < min && hi >= min ? 'borderline: the repeats straddle the goal' : undefined,
    });
  };
  const randWrite = 'writeback random 4 KiB write, 256 MiB region';
  ratioGoal(`${randWrite} ≥ 5× raw OPFS without flush`, 'rand-write', 'writeback/opfs', 'raw-opfs', 5, 1);
  ratioGoal(`${randWrite} ≥ 2.5× raw OPFS without flush`, 'rand-write', 'writeback/opfs', 'raw-opfs', 2.5, 32);
  ratioGoal(
    `${randWrite}, issued 32 then all awaited ≥ 2.5× raw OPFS without flush`,
    'rand-write',
    'writeback/opfs/batch',
    'raw-opfs',
    2.5,
    32,
  );
  const wt = 'writethrough random 4 KiB write';
  ratioGoal(`${wt} ≥ 3× raw OPFS write+flush each`, 'rand-write', 'writethrough/opfs', 'raw-opfs+flush', 3, 32);
  ratioGoal(`${wt} ≥ 0.8× raw OPFS write+flush each`, 'rand-write', 'writethrough/opfs', 'raw-opfs+flush', 0.8, 1);
  ratioGoal('sequential 1 MiB write, plain write() ≥ 0.8× raw', 'seq-write', 'writeback/opfs', 'raw-opfs', 0.8, 32);
  ratioGoal(
    'sequential 1 MiB write from allocBuffer ≥ 0.95× raw',
    'seq-write',
    'writeback/opfs/lent',
    'raw-opfs',
    0.95,
    32,
  );
  ratioGoal(
    'cached random 4 KiB read (16 MiB hot set) ≥ 1.0× raw OPFS 4 KiB read',
    'rand-read-hot',
    'writeback/opfs',
    'raw-opfs',
    1,
    1,
  );
  return checks;
}

// ------------------------------------------------------------- formatting

export function fmtNum(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

function fmtMibps(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Microseconds, as µs or ms. */
export function fmtLat(us: number): string {
  if (!Number.isFinite(us)) return '–';
  if (us >= 10_000) return `${(us / 1000).toFixed(0)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(1)} ms`;
  return `${us >= 10 ? us.toFixed(0) : us.toFixed(1)} µs`;
}

export function fmtBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n >= 1024 * MiB) return `${(n / (1024 * MiB)).toFixed(n % (1024 * MiB) ? 1 : 0)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}

const HEADER = ['target', 'QD', 'MiB/s', '±', 'IOPS', 'p50', 'p99', 'vs raw baseline'];

function row(s: Summary): string[] {
  if (s.error) return [s.target, String(s.depth), 'error', '', '', '', '', s.error.slice(0, 60)];
  return [
    s.target,
    String(s.depth),
    fmtMibps(s.mibps),
    s.runs > 1 ? `${Math.round(s.spreadPct / 2)}%` : '',
    fmtNum(s.iops),
    fmtLat(s.p50),
    fmtLat(s.p99),
    s.ratio !== undefined ? `${s.ratio.toFixed(2)}× ${s.base}` : s.base ? `– (${s.base} not run)` : '',
  ];
}

function textTable(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (rightAlign[i] ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function mdTable(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${rightAlign.map((r) => (r ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const ALIGN = [false, true, true, true, true, true, true, false];

function rowsByWorkload(sums: Summary[]): { w: Workload; rows: string[][] }[] {
  return WORKLOADS.map((w) => {
    const mine = sums.filter((s) => s.workload === w.id);
    const depths = [...new Set(mine.map((s) => s.depth))].sort((a, b) => a - b);
    const rows: string[][] = [];
    for (const d of depths) for (const s of mine.filter((x) => x.depth === d)) rows.push(row(s));
    return { w, rows };
  }).filter((x) => x.rows.length > 0);
}

export interface RunInfo {
  date: string;
  chromium: string;
  machine: string;
  config: string;
  durationS: number;
  /** The harness's ceiling: hot-set 4 KiB random reads from page memory through the same machinery. */
  ceiling: { depth: number; iops: number }[];
  /** 1-minute load average at the start and end (other work on the machine makes numbers noisy). */
  load: { start: number; end: number; cpus: number };
}

function loadLine(info: RunInfo): string {
  const { start, end, cpus } = info.load;
  const busy = Math.max(start, end) > cpus * 0.75;
  return `Load average ${start.toFixed(1)} at start, ${end.toFixed(1)} at end, on ${cpus} CPUs${busy ? ': the machine was busy with other work, expect noisy numbers' : ''}.`;
}

function ceilingLine(info: RunInfo): string {
  const c = info.ceiling.map((x) => `${fmtNum(x.iops)} IOPS at QD${x.depth}`).join(', ');
  return c
    ? `Harness ceiling (4 KiB random reads from page memory through the same lanes, stamp checks and latency records, no worker): ${c}.`
    : '';
}

function checksRows(checks: TargetCheck[]): string[][] {
  return checks.map((c) => [
    c.goal,
    String(c.depth),
    c.value,
    c.met === undefined ? 'not run' : c.met ? 'met' : 'MISSED',
    c.note ?? '',
  ]);
}

function memoryRows(mem: MemoryRow[]): string[][] {
  const heap = (h?: HeapSample) => (h ? `${fmtBytes(h.usedBytes)} + ${fmtBytes(h.backingStorageBytes)} buffers` : '–');
  return mem.map((m) => [
    m.backend,
    fmtBytes(m.diskSize),
    m.error ? `error: ${m.error.slice(0, 60)}` : `${fmtBytes(m.peakCachedBytes)} of ${fmtBytes(m.cacheCapacityBytes)}`,
    heap(m.page.idle),
    heap(m.page.loaded),
    heap(m.diskWorker.idle),
    heap(m.diskWorker.loaded),
    uasmDiskWorker(m),
  ]);
}

/** The disk worker's share of measureUserAgentSpecificMemory(). */
function uasmDiskWorker(m: MemoryRow): string {
  if (!m.uasm || !('bytes' in m.uasm)) return '–';
  const entry = Object.entries(m.uasm.byScope).find(([k]) => k.includes('disk-worker'));
  return entry ? fmtBytes(entry[1]) : '–';
}

const MEM_HEADER = [
  'backend',
  'disk',
  'peak worker cache',
  'page heap, idle',
  'page heap, after',
  'disk worker heap, idle',
  'disk worker heap, after',
  'disk worker, UA-specific',
];

function prepareRows(targets: TargetRecord[]): string[][] {
  return targets
    .filter((t) => t.prepare && t.prepare.bytes > 0)
    .map((t) => [t.id, fmtBytes(t.prepare?.bytes), fmtMibps(t.prepare?.mibps ?? Number.NaN)]);
}

function contentCheckLine(targets: TargetRecord[], sums: Summary[]): string {
  const bad = targets
    .filter((t) => t.contentCheck && !t.contentCheck.ok)
    .map((t) => `${t.id} (${t.contentCheck?.firstBad})`);
  const badReads = sums.filter((s) => s.badSectors > 0).map((s) => `${s.workload}/QD${s.depth}/${s.target}`);
  const verified = targets.filter((t) => t.contentCheck?.ok).length;
  if (bad.length === 0 && badReads.length === 0) {
    return `Verification: every sector read during the runs had the expected stamp, and the checksum of each target's whole region read back matched what was written (${verified} of ${targets.length} targets verified).`;
  }
  return `CONTENT CHECK FAILED: ${[...bad, ...badReads.map((b) => `bad sectors read in ${b}`)].join('; ')}`;
}

export function renderText(
  info: RunInfo,
  sums: Summary[],
  checks: TargetCheck[],
  mem: MemoryRow[],
  targets: TargetRecord[],
): string {
  const parts: string[] = [];
  parts.push(`webdisk benchmark — ${info.date} — Chromium ${info.chromium}`);
  parts.push(`${info.machine}; ${info.config}; took ${info.durationS.toFixed(0)} s. ${loadLine(info)}`);
  parts.push(
    'Medians over repeats (± = half the range). Write runs include the final flush. Ratio = median over repeats of IOPS / baseline IOPS in the same repeat (run back to back). ' +
      'raw-opfs and memcopy are synchronous: at QD32 they are a FIFO with 32 outstanding (same throughput, latency includes the queue).',
  );
  const ceil = ceilingLine(info);
  if (ceil) parts.push(ceil);
  for (const { w, rows } of rowsByWorkload(sums)) {
    parts.push(`\n== ${w.id}: ${w.title} ==`);
    parts.push(textTable(HEADER, rows, ALIGN));
  }
  const prep = prepareRows(targets);
  if (prep.length) {
    parts.push('\n== prepare: sequential 1 MiB writes into new storage, 4 in flight, then flush ==');
    parts.push(textTable(['target', 'bytes', 'MiB/s'], prep, [false, true, true]));
  }
  if (mem.length) {
    parts.push('\n== memory: writeback, random 4 KiB writes then reads (32 in flight) ==');
    parts.push(textTable(MEM_HEADER, memoryRows(mem), [false, true, true, true, true, true, true, true]));
  }
  parts.push('\n== targets ==');
  parts.push(
    textTable(['target', 'QD', 'this run', 'result', ''], checksRows(checks), [false, true, false, false, false]),
  );
  parts.push(`\n${contentCheckLine(targets, sums)}`);
  return parts.join('\n');
}

/**
 * Image import and export as one line: medians, their ratios to raw OPFS
 * sequential writes and reads, and to the references that bound them (a
 * Blob copied into OPFS by hand; a stream with no disk behind it).
 */
export function imageLine(o: ImageIoResult): string {
  const mibps = (ms: number) => o.size / MiB / (ms / 1000);
  const med = (f: (r: ImageIoResult['runs'][number]) => number) => median(o.runs.map(f));
  const imp = med((r) => mibps(r.importMs));
  const exp = med((r) => mibps(r.exportMs));
  return (
    `${fmtBytes(o.size)} raw Blob, ${o.runs.length} repeats: import ${imp.toFixed(0)} MiB/s = ` +
    `${med((r) => r.rawWriteMs / r.importMs).toFixed(2)}× raw OPFS sequential 1 MiB writes + flush ` +
    `(${med((r) => mibps(r.rawWriteMs)).toFixed(0)} MiB/s; target ≥ 0.5×), ` +
    `${med((r) => r.blobCopyMs / r.importMs).toFixed(2)}× the Blob copied into an OPFS file by hand ` +
    `(${med((r) => mibps(r.blobCopyMs)).toFixed(0)} MiB/s, itself ${med((r) => r.rawWriteMs / r.blobCopyMs).toFixed(2)}× raw); ` +
    `export (raw) ${exp.toFixed(0)} MiB/s = ${med((r) => r.rawReadMs / r.exportMs).toFixed(2)}× raw OPFS sequential 1 MiB reads ` +
    `(${med((r) => mibps(r.rawReadMs)).toFixed(0)} MiB/s; target ≥ 0.5×); exported again at once ` +
    `${med((r) => mibps(r.exportAgainMs)).toFixed(0)} MiB/s = ${med((r) => r.rawReadMs / r.exportAgainMs).toFixed(2)}× raw; first export ` +
    `${med((r) => r.streamFloorMs / r.exportMs).toFixed(2)}× a byte stream with no disk behind it ` +
    `(${med((r) => mibps(r.streamFloorMs)).toFixed(0)} MiB/s, itself ${med((r) => r.rawReadMs / r.streamFloorMs).toFixed(2)}× raw), ` +
    `${med((r) => r.handoffMs / r.exportMs).toFixed(2)}× that stream fed by a worker through shared memory ` +
    `(${med((r) => mibps(r.handoffMs)).toFixed(0)} MiB/s, itself ${med((r) => r.rawReadMs / r.handoffMs).toFixed(2)}× raw)`
  );
}

/** The overlay read as one line: medians of cold overlay and plain fetch throughput, and their ratio. */
export function overlayLine(o: OverlayReadResult): string {
  const mibps = (ms: number) => o.size / MiB / (ms / 1000);
  const cold = median(o.runs.map((r) => mibps(r.overlayMs)));
  const plain = median(o.runs.map((r) => mibps(r.fetchMs)));
  const warm = median(o.runs.map((r) => mibps(r.warmMs)));
  const ranges = median(o.runs.map((r) => mibps(r.rangesMs)));
  const ratio = median(o.runs.map((r) => r.fetchMs / r.overlayMs));
  const rangesRatio = median(o.runs.map((r) => r.rangesMs / r.overlayMs));
  const fetched = o.runs.every((r) => r.fetched === o.size) ? 'each byte fetched once' : 'bytes fetched ≠ size!';
  return (
    `${fmtBytes(o.size)} base, ${fmtBytes(o.bs)} reads, ${o.depth} in flight, ${o.runs.length} repeats: ` +
    `overlay cold ${cold.toFixed(0)} MiB/s = ${ratio.toFixed(2)}× one plain fetch of the whole base (${plain.toFixed(0)} MiB/s; target ≥ 0.5×), ` +
    `${rangesRatio.toFixed(2)}× plain fetches of it in the overlay's 4 MiB Range requests, 4 at a time (${ranges.toFixed(0)} MiB/s); ` +
    `warm (its local copy) ${warm.toFixed(0)} MiB/s; ${fetched}`
  );
}

export function renderMarkdown(
  info: RunInfo,
  sums: Summary[],
  checks: TargetCheck[],
  mem: MemoryRow[],
  targets: TargetRecord[],
  overlay?: OverlayReadResult,
  images?: ImageIoResult,
): string {
  const parts: string[] = [];
  parts.push('<!-- Generated by `npm run bench` (bench/run.ts); do not edit by hand. -->');
  parts.push('## Benchmark results\n');
  parts.push(
    `Run ${info.date} in headless Chromium ${info.chromium} (persistent profile, so OPFS is on disk); ${info.machine}; ${info.config}; the whole run took ${info.durationS.toFixed(0)} s. ${loadLine(info)} ` +
      'Figures vary 25–40% between runs on this machine: compare within one run. ' +
      'MiB/s and IOPS are medians over the repeats, ± is half the range; p50/p99 are per-request latencies (median over repeats). ' +
      'Write runs include their final flush in the elapsed time. Every target is open for the whole run and each repeat runs all of them back to back; ' +
      'the ratio is the median over repeats of IOPS / IOPS of the raw baseline of the same storage and durability in the same repeat ' +
      '(writethrough/directsync write workloads are compared with raw OPFS write+flush). Library targets run in the page through the public API; raw baselines run in a worker with no library. ' +
      'raw-opfs and memcopy are synchronous APIs: at QD32 they are modelled as a FIFO with 32 requests outstanding, so their throughput equals QD1 and their latency includes the wait in the queue. ' +
      'Every write workload overwrites the prepared region in place; writing into a new OPFS file costs more (see Prepare). ' +
      'Latencies come from performance.now(), which cross-origin isolated pages coarsen to 5 µs.\n',
  );
  const ceil = ceilingLine(info);
  if (ceil) parts.push(`${ceil}\n`);
  parts.push('### Targets\n');
  parts.push(
    mdTable(['target', 'QD', 'this run', 'result', 'note'], checksRows(checks), [false, true, false, false, false]),
  );
  for (const { w, rows } of rowsByWorkload(sums)) {
    parts.push(`\n### ${w.id}: ${w.title}\n`);
    parts.push(mdTable(HEADER, rows, ALIGN));
  }
  const prep = prepareRows(targets);
  if (prep.length) {
    parts.push('\n### Prepare: sequential 1 MiB writes into new storage (4 in flight, then flush)\n');
    parts.push(mdTable(['target', 'bytes', 'MiB/s'], prep, [false, true, true]));
  }
  if (mem.length) {
    parts.push('\n### Memory\n');
    parts.push(
      'writeback mode, random 4 KiB writes then random 4 KiB reads, 32 in flight, over the first ' +
        `${fmtBytes(mem[0]?.region)} of each disk (the 64 GiB disks are sparse: nothing past that is written). ` +
        'Heaps are CDP Runtime.getHeapUsage after a forced GC, as JS heap + ArrayBuffer backing stores (the worker cache and the memory store live in ArrayBuffers); ' +
        "the page's ~40 MiB of buffers are the benchmark's own reusable request buffers. The last column is the disk worker's share of performance.measureUserAgentSpecificMemory().\n",
    );
    parts.push(mdTable(MEM_HEADER, memoryRows(mem), [false, true, true, true, true, true, true, true]));
  }
  if (overlay) {
    parts.push('\n### Overlay: cold sequential read of a URL base\n');
    parts.push(
      'A new overlay over a base image the static server sends with Range requests (localhost), read front to back; ' +
        'against a plain `fetch()` of the same bytes in one request, alternating, in the same run. Warm: the same overlay read again (its local copy).\n',
    );
    parts.push(`${overlayLine(overlay)}\n`);
  }
  if (images) {
    parts.push('\n### Disk images: import and export\n');
    parts.push(
      '`importDisk()` of a raw `Blob` without zero clusters into a new OPFS disk (flushed), then `disk.export()` raw read to the end; ' +
        'against a plain OPFS file written (1 MiB writes, flush) and read back in a worker, alternating, in the same run. ' +
        'The references bound any import and export: the same Blob read (BYOB, one 1 MiB buffer) and written into a plain OPFS file by hand, flushed; ' +
        'and a byte stream with no disk behind it, each 1 MiB copied from shared memory into the same BYOB reader the export has; ' +
        'and that stream fed by a worker through shared memory (the worker writes each 512 KiB slot of a 2 MiB ring as the page frees it, both sides spinning: ' +
        'what handing the bytes from a worker to the page costs by itself). Each disk is exported twice: the first export, then again at once.\n',
    );
    parts.push(`${imageLine(images)}\n`);
  }
  parts.push(`\n${contentCheckLine(targets, sums)}`);
  return `${parts.join('\n')}\n`;
}
