import './style.css';
import {
  type BackendChoice,
  CACHE_MODE_HELP,
  type CacheMode,
  type CrashModel,
  DiskError,
  type DiskStats,
  deleteDisk,
} from '../index';
import { BlockMap, COLS, ROWS, renderLegend } from './block-map';
import { BlockTracker, STATES, UNIT } from './block-states';
import { COLORS, ThroughputChart } from './chart';
import { Comparison } from './compare';
import { explainError } from './errors';
import { formatBytes, formatCount, formatRate } from './format';
import {
  type Counters,
  type DiskSettings,
  MAX_LOG_ENTRIES,
  openSession,
  type Session,
  type SessionHooks,
} from './session';
import { actionButton, buildModeRadios, byId, checkMode, selectedMode, setStatus } from './ui';
import { verify } from './verify';
import { type Pattern, type RunEnd, Workload, type WorkloadConfig } from './workload';

/**
 * The demo page: a disk, a workload driving it, a live chart, a block map,
 * a power-loss button and the oracle's verdict after it.
 */

type Phase = 'closed' | 'opening' | 'open' | 'running' | 'power-lost' | 'busy';

const SAMPLE_MS = 250;

const CRASH_HELP: Record<CrashModel, string> = {
  power: 'Power cut: unsynced writes die with the worker too (a simulated 16 MiB disk cache).',
  process: 'Process crash: only the worker’s memory dies; what reached storage stays.',
};

const AFTER_POWER_LOSS: Record<CacheMode, string> = {
  writeback: 'writeback holds writes in memory until a flush completes: what came after the last flush may be lost.',
  none: 'none sends writes to storage at once, but only a flush makes them durable: what came after the last flush may be lost.',
  writethrough: 'writethrough makes every write durable before acknowledging it: nothing acknowledged can be lost.',
  directsync: 'directsync makes every write durable before acknowledging it: nothing acknowledged can be lost.',
  unsafe: 'unsafe never forces anything to storage: a power loss may drop anything written since the disk was opened.',
};

// ------------------------------------------------------------------ state

let phase: Phase = 'closed';
let session: Session | undefined;
let settings: DiskSettings | undefined;
/** The session a power loss or a close ended: what Reopen & verify checks. */
let previous: { session: Session; settings: DiskSettings; how: 'power' | 'close' } | undefined;
let tracker: BlockTracker | undefined;
let workload: Workload | undefined;
let running: Promise<RunEnd> | undefined;
let runLabel = '';
let last: Counters = zeroCounters();
let lastTick = performance.now();
let statsPending = false;

const t0 = performance.now();
const now = () => (performance.now() - t0) / 1000;

// ------------------------------------------------------------------ elements

const el = {
  name: byId<HTMLInputElement>('disk-name'),
  size: byId<HTMLSelectElement>('disk-size'),
  backend: byId<HTMLSelectElement>('disk-backend'),
  crash: byId<HTMLSelectElement>('crash-model'),
  crashHelp: byId('crash-help'),
  backendInfo: byId('backend-info'),
  open: byId<HTMLButtonElement>('open'),
  pattern: byId<HTMLSelectElement>('pattern'),
  ioSize: byId<HTMLSelectElement>('io-size'),
  depth: byId<HTMLSelectElement>('depth'),
  flushEvery: byId<HTMLSelectElement>('flush-every'),
  duration: byId<HTMLSelectElement>('duration'),
  start: byId<HTMLButtonElement>('start'),
  stop: byId<HTMLButtonElement>('stop'),
  flush: byId<HTMLButtonElement>('flush'),
  power: byId<HTMLButtonElement>('power'),
  verify: byId<HTMLButtonElement>('verify'),
  close: byId<HTMLButtonElement>('close'),
  delete: byId<HTMLButtonElement>('delete'),
  verdict: byId('verdict'),
  mapScale: byId('map-scale'),
  legend: byId('legend'),
};

const chart = new ThroughputChart(byId('chart'));
const map = new BlockMap(byId<HTMLCanvasElement>('map'));
const comparison = new Comparison(byId<HTMLTableElement>('compare').tBodies[0]);

const hooks: SessionHooks = {
  written: (offset, length, mode, ackedAt) => tracker?.writeAcked(offset, length, mode, false, ackedAt),
  flushed: (issuedAt, mode) => tracker?.flushDone(issuedAt, mode),
  switched: (issuedAt, mode) => tracker?.modeSwitched(issuedAt, mode),
};

// ------------------------------------------------------------------ phases and buttons

function setPhase(p: Phase): void {
  phase = p;
  document.body.dataset.phase = p;
  const live = p === 'open' || p === 'running';
  el.start.disabled = !(p === 'open' || p === 'closed');
  el.stop.disabled = p !== 'running';
  el.flush.disabled = !live;
  el.power.disabled = !live;
  el.verify.disabled = !(previous && (p === 'power-lost' || p === 'closed'));
  el.close.disabled = !live;
  el.delete.disabled = !(live || p === 'closed' || p === 'power-lost');
  el.open.disabled = p !== 'closed';
  for (const input of [el.name, el.size, el.backend, el.crash]) input.disabled = p !== 'closed';
}

function readSettings(): DiskSettings {
  return {
    name: el.name.value.trim(),
    size: Number(el.size.value) * 1024 * 1024,
    cache: selectedMode(),
    backend: el.backend.value as BackendChoice,
    crashModel: el.crash.value as CrashModel,
  };
}

function readWorkload(): WorkloadConfig {
  return {
    pattern: el.pattern.value as Pattern,
    ioSize: Number(el.ioSize.value),
    depth: Number(el.depth.value),
    flushEvery: Number(el.flushEvery.value),
    duration: Number(el.duration.value),
  };
}

function describeWorkload(c: WorkloadConfig): string {
  const what = c.pattern === 'mixed' ? 'mixed random read/write' : `${c.pattern} writes`;
  const flush =
    c.flushEvery === 0
      ? 'no flushes'
      : c.flushEvery === 1
        ? 'a flush after each write'
        : `a flush every ${c.flushEvery} writes`;
  return `${formatBytes(c.ioSize)} ${what}, ${c.depth} in flight, ${flush}`;
}

function showError(err: unknown, prefix = ''): void {
  const name = settings?.name ?? el.name.value;
  const { code, text } = explainError(err, name);
  let action: HTMLButtonElement | undefined;
  if (err instanceof DiskError && err.code === 'ENOTSUP') {
    action = actionButton('Use a memory disk', () => {
      el.backend.value = 'memory';
      el.backend.dataset.fallback = '1';
      void open();
    });
  } else if (err instanceof DiskError && err.code === 'ENOSPC' && session) {
    action = actionButton('Delete disk', () => void remove());
  }
  setStatus('error', `${prefix}${text}`, { code, action });
}

// ------------------------------------------------------------------ open, close, delete

async function open(): Promise<boolean> {
  const s = readSettings();
  setPhase('opening');
  setStatus('busy', `Opening disk “${s.name}”…`);
  try {
    const r = await openSession(s, hooks, undefined, (done) =>
      setStatus('busy', `Opening disk “${s.name}”: reading its content (${Math.round(done * 100)}%)…`),
    );
    adopt(r.session, s);
    tracker?.reset(r.created ? undefined : r.session.base);
    const d = r.session.disk;
    const unclean = d.uncleanShutdown
      ? ' Its last session ended without a clean close (the page was reloaded or closed mid-run); with no log of it to check, today’s content is the starting point.'
      : '';
    setStatus(
      'info',
      `Disk “${d.name}” ${r.created ? 'created' : 'opened'}: ${formatBytes(d.size)}, ${d.cacheMode}, ${d.crashModel === 'power' ? 'power-cut' : 'process-crash'} model. Press Start.${unclean}`,
    );
    return true;
  } catch (err) {
    setPhase('closed');
    el.backendInfo.textContent = 'not open';
    showError(err, 'Could not open the disk. ');
    return false;
  }
}

/** Makes `s` the open session. */
function adopt(s: Session, st: DiskSettings): void {
  const d = s.disk;
  session = s;
  settings = { ...st, size: d.size, backend: d.backend };
  previous = undefined;
  last = zeroCounters();
  lastTick = performance.now();
  chart.gap(now());
  if (!tracker || tracker.size !== d.size) tracker = new BlockTracker(d.size);
  const mib = String(d.size / (1024 * 1024));
  if (![...el.size.options].some((o) => o.value === mib)) el.size.add(new Option(`${mib} MiB`, mib));
  el.size.value = mib;
  checkMode(d.cacheMode);
  el.mapScale.textContent = `— ${COLS}×${ROWS} cells of ${formatBytes(d.size / (COLS * ROWS))}`;
  el.backendInfo.textContent =
    d.backend === 'opfs'
      ? 'OPFS, persistent'
      : st.backend === 'memory' && el.backend.dataset.fallback
        ? 'memory — volatile, because OPFS is missing here'
        : 'memory — volatile: gone when closed';
  setPhase('open');
  render();
}

async function stopRun(): Promise<void> {
  workload?.stop();
  if (running) await running;
}

async function close(): Promise<void> {
  const s = session;
  if (!s || !settings) return;
  setPhase('busy');
  setStatus('busy', 'Closing: writing everything back and syncing…');
  await stopRun();
  try {
    await s.disk.close();
    tracker?.closed();
    previous = { session: s, settings, how: 'close' };
    session = undefined;
    setPhase('closed');
    el.backendInfo.textContent = 'closed';
    render();
    setStatus(
      'info',
      'Closed cleanly: everything was written back and synced. Reopen & verify checks it; Open disk continues.',
    );
  } catch (err) {
    session = undefined;
    setPhase('closed');
    showError(err, 'Close failed. ');
  }
}

async function remove(): Promise<void> {
  const name = settings?.name ?? el.name.value.trim();
  const s = session;
  setPhase('busy');
  setStatus('busy', `Deleting disk “${name}”…`);
  try {
    await stopRun();
    // A disk that cannot close cleanly (a full quota) still ends its worker: delete it anyway.
    if (s && !s.disk.closed) await s.disk.close().catch(() => undefined);
    session = undefined;
    previous = undefined;
    await deleteDisk(name);
    tracker?.reset();
    el.verdict.hidden = true;
    el.backendInfo.textContent = 'not open';
    setPhase('closed');
    render();
    setStatus('info', `Disk “${name}” deleted. Open disk or Start creates it afresh.`);
  } catch (err) {
    session = undefined;
    setPhase('closed');
    showError(err, 'Delete failed. ');
  }
}

// ------------------------------------------------------------------ the workload

async function start(): Promise<void> {
  if (!session && !(await open())) return;
  const s = session as Session;
  const cfg = readWorkload();
  const wl = new Workload(s, cfg);
  workload = wl;
  runLabel = describeWorkload(cfg);
  const mode = s.log.currentMode;
  comparison.begin(mode, runLabel);
  chart.mark(now(), `▶ ${mode}`);
  el.verdict.hidden = true;
  setPhase('running');
  setStatus(
    'info',
    `Running in ${mode}: ${runLabel}${cfg.duration ? `, for ${cfg.duration} s` : ''}. Try ⚡ Power loss.`,
  );
  running = wl.run();
  const end = await running;
  running = undefined;
  workload = undefined;
  if (session !== s || phase !== 'running') return; // power loss, close or delete took over
  setPhase('open');
  tick();
  const acked = `${formatCount(s.counters.writes)} writes acknowledged so far`;
  if (end.reason === 'done')
    setStatus('info', `Finished (${acked}). ⚡ Power loss now shows what was not yet durable.`);
  else if (end.reason === 'stopped') setStatus('info', `Stopped (${acked}).`);
  else if (end.reason === 'log-full')
    setStatus(
      'info',
      `Paused at ${formatCount(MAX_LOG_ENTRIES)} logged requests, the most this page verifies quickly (${acked}). ⚡ Power loss or Close, then Reopen & verify.`,
    );
  else if (end.reason === 'error') showError(end.error, 'The workload stopped: ');
}

async function switchMode(mode: CacheMode): Promise<void> {
  const s = session;
  if (!s || (phase !== 'open' && phase !== 'running')) {
    setStatus('info', `Cache mode ${mode} applies when the disk opens. ${CACHE_MODE_HELP[mode]}`);
    return;
  }
  if (phase === 'running') {
    tick(); // what ran so far counts for the old mode
    chart.mark(now(), `→ ${mode}`);
    comparison.begin(mode, runLabel);
  }
  try {
    await s.setMode(mode);
    setStatus('info', `Cache mode now ${mode}: ${CACHE_MODE_HELP[mode]}`);
  } catch (err) {
    if (!s.disk.closed) showError(err, 'Could not switch the cache mode. ');
  }
}

async function flush(): Promise<void> {
  const s = session;
  if (!s) return;
  try {
    await s.flush();
    const mode = s.log.currentMode;
    setStatus(
      'info',
      mode === 'unsafe'
        ? 'Flushed — but unsafe ignores the request to make data durable (see “ignored flushes”).'
        : 'Flushed: every write acknowledged before it is now durable.',
    );
  } catch (err) {
    if (!s.disk.closed) showError(err, 'Flush failed. ');
  }
}

// ------------------------------------------------------------------ power loss and verification

function powerLoss(): void {
  const s = session;
  if (!s || !settings) return;
  s.disk.powerLoss();
  workload?.stop();
  tick();
  chart.mark(now(), '⚡ power loss', COLORS.power);
  previous = { session: s, settings, how: 'power' };
  session = undefined;
  setPhase('power-lost');
  el.backendInfo.textContent = 'no power';
  el.verdict.hidden = true;
  const model =
    s.disk.crashModel === 'power'
      ? 'Every write not yet synced to storage is gone too (power-cut model).'
      : 'Only the worker’s memory is gone (process-crash model).';
  setStatus(
    'error',
    `Power lost: the disk worker was killed mid-workload with ${formatCount(s.counters.writes)} writes acknowledged. ${model} Press Reopen & verify.`,
    { code: '⚡' },
  );
  render();
}

async function reopenAndVerify(): Promise<void> {
  const prev = previous;
  if (!prev) return;
  setPhase('busy');
  const volatile = prev.session.disk.backend === 'memory';
  setStatus(
    'busy',
    prev.how === 'power'
      ? 'Reopening… (after a power loss the browser keeps the killed worker’s file locked for about 2 s)'
      : 'Reopening…',
  );
  let reopened: Session | undefined;
  try {
    const r = await openSession({ ...prev.settings, cache: selectedMode() }, hooks, undefined, (done) =>
      setStatus('busy', `Reopened; reading the whole disk back (${Math.round(done * 100)}%)…`),
    );
    reopened = r.session;
    if (volatile) {
      adopt(r.session, prev.settings);
      tracker?.reset();
      setStatus(
        'info',
        'A memory disk does not outlive its worker: it starts empty, there is nothing to verify. Use OPFS to see what survives.',
      );
      return;
    }
    setStatus('busy', 'Verifying every block against the log of acknowledged writes and flushes…');
    const result = await verify({
      entries: prev.session.log.entries,
      initialMode: prev.session.log.initialMode,
      base: prev.session.base,
      actual: r.session.base,
      onProgress: (done) => setStatus('busy', `Verifying… ${Math.round(done * 100)}%`),
    });
    const unclean = r.session.disk.uncleanShutdown;
    adopt(r.session, prev.settings);
    tracker?.applyVerdicts(result.verdicts);
    render();
    const modes = [...prev.session.modesUsed];
    const written = result.intact + result.lost + result.violations;
    comparison.loss(
      prev.session.log.currentMode,
      result.lost,
      written,
      result.violations,
      prev.session.disk.crashModel,
    );
    comparison.render();
    showVerdict(result, modes, prev.how, prev.session.disk.crashModel);
    setStatus(
      'info',
      `Reopened “${r.session.disk.name}”${unclean ? ' — it reports an unclean shutdown, as it should' : ''}. Checked ${formatCount(written)} written 4 KiB blocks.`,
    );
  } catch (err) {
    if (reopened && session !== reopened) await reopened.disk.close().catch(() => undefined);
    if (session !== reopened || !reopened) {
      previous = prev;
      setPhase(prev.how === 'power' ? 'power-lost' : 'closed');
    }
    showError(err, 'Reopen & verify failed. ');
  }
}

function showVerdict(
  r: { intact: number; lost: number; violations: number; details: { offset: number; reason: string }[] },
  modes: CacheMode[],
  how: 'power' | 'close',
  model: CrashModel,
): void {
  const v = el.verdict;
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
  v.dataset.kind = r.violations > 0 ? 'bad' : r.lost > 0 ? 'warn' : 'ok';
  v.dataset.intact = String(r.intact);
  v.dataset.lost = String(r.lost);
  v.dataset.violations = String(r.violations);
  const strong = document.createElement('strong');
  strong.textContent = head;
  const small = document.createElement('span');
  small.className = 'why';
  small.textContent = why;
  v.replaceChildren(strong, small);
  v.hidden = false;
}

// ------------------------------------------------------------------ sampling and rendering

function zeroCounters(): Counters {
  return { writes: 0, writeBytes: 0, reads: 0, readBytes: 0, flushes: 0 };
}

/** Every SAMPLE_MS while a disk is open: throughput since the last sample, counters, the block map. */
function tick(): void {
  const s = session;
  if (!s) return;
  const t = performance.now();
  const dt = Math.max(1e-3, (t - lastTick) / 1000);
  const c = { ...s.counters };
  const d = {
    writes: c.writes - last.writes,
    writeBytes: c.writeBytes - last.writeBytes,
    reads: c.reads - last.reads,
    readBytes: c.readBytes - last.readBytes,
    flushes: c.flushes - last.flushes,
  };
  last = c;
  lastTick = t;
  const sample = {
    t: now(),
    writeMBps: d.writeBytes / dt / 1e6,
    readMBps: d.readBytes / dt / 1e6,
    writeIops: d.writes / dt,
    readIops: d.reads / dt,
    flushes: d.flushes,
  };
  chart.push(sample);
  if (phase === 'running') {
    comparison.add(s.log.currentMode, d.writeBytes + d.readBytes, d.writes + d.reads, dt);
    comparison.render();
  }
  byId('c-write-rate').textContent = formatRate(d.writeBytes / dt);
  byId('c-iops').textContent = formatCount((d.writes + d.reads) / dt);
  byId('c-writes').textContent = formatCount(c.writes);
  byId('c-flushes').textContent = formatCount(c.flushes);
  pollStats(s);
  render();
}

function pollStats(s: Session): void {
  if (statsPending || s.disk.closed) return;
  statsPending = true;
  s.disk
    .stats()
    .then(showStats, () => undefined)
    .finally(() => {
      statsPending = false;
    });
}

function showStats(st: DiskStats): void {
  byId('c-syncs').textContent = formatCount(st.storeSyncs);
  byId('c-ignored').textContent = formatCount(st.ignoredFlushes);
  byId('c-dirty').textContent = formatBytes(st.dirtyBytes);
}

function render(): void {
  const size = tracker?.size ?? Number(el.size.value) * 1024 * 1024;
  const cells = tracker ? tracker.cells(COLS * ROWS) : new Uint16Array(COLS * ROWS * STATES.length);
  const counts = tracker ? tracker.counts() : [Math.ceil(size / UNIT), 0, 0, 0, 0, 0, 0];
  map.show(cells, size, counts);
  renderLegend(el.legend, counts);
}

// ------------------------------------------------------------------ wiring

buildModeRadios(byId('modes'), 'writeback', (m) => void switchMode(m));
el.crashHelp.textContent = CRASH_HELP[el.crash.value as CrashModel];
el.crash.addEventListener('change', () => {
  el.crashHelp.textContent = CRASH_HELP[el.crash.value as CrashModel];
});
el.backend.addEventListener('change', () => {
  delete el.backend.dataset.fallback;
});
el.open.addEventListener('click', () => void open());
el.start.addEventListener('click', () => void start());
el.stop.addEventListener('click', () => workload?.stop());
el.flush.addEventListener('click', () => void flush());
el.power.addEventListener('click', powerLoss);
el.verify.addEventListener('click', () => void reopenAndVerify());
el.close.addEventListener('click', () => void close());
el.delete.addEventListener('click', () => void remove());
setInterval(tick, SAMPLE_MS);

setPhase('closed');
render();
void open();
