import type { BackendChoice, CacheMode, CrashModel, DiskStats } from '../index';
import { BlockMap, COLS, ROWS, renderLegend } from './block-map';
import { type BlockTracker, STATES, UNIT } from './block-states';
import { COLORS, ThroughputChart } from './chart';
import { Comparison } from './compare';
import { type BackendLine, CRASH_MODEL_HELP, type VerdictCounts, verdictWords } from './copy';
import { formatBytes, formatCount, formatRate } from './format';
import type { LoadConfig, Pattern } from './load-generator';
import type { Counters, DiskSettings } from './session';
import { actionButton, buildModeRadios, byId, checkMode, type StatusKind, selectedMode, setStatus } from './ui';

/**
 * The page's elements and what they show: the form read into settings,
 * the buttons each phase allows, the status line, the verdict, the live
 * chart, counters, comparison table and block map. It decides nothing:
 * the controller tells it what to show, and it reports the user's clicks.
 */

/** Where the demo is: which buttons make sense. */
export type Phase = 'closed' | 'opening' | 'open' | 'running' | 'power-lost' | 'busy';

/** The user's requests, as the view reports them. */
export interface ViewEvents {
  open(): void;
  start(): void;
  stop(): void;
  flush(): void;
  powerLoss(): void;
  verify(): void;
  close(): void;
  remove(): void;
  modeChosen(mode: CacheMode): void;
  backendChosen(): void;
}

/** A button offered beside an error: the way out it suggests. */
export interface StatusAction {
  label: string;
  run(): void;
}

/** Throughput over the last sampling interval. */
export interface Rates {
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
  writesPerSecond: number;
  readsPerSecond: number;
  flushes: number;
}

export class DemoView {
  private readonly el = {
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
    writeRate: byId('c-write-rate'),
    iops: byId('c-iops'),
    writes: byId('c-writes'),
    flushes: byId('c-flushes'),
    syncs: byId('c-syncs'),
    ignored: byId('c-ignored'),
    dirty: byId('c-dirty'),
  };
  private readonly chart = new ThroughputChart(byId('chart'));
  private readonly map = new BlockMap(byId<HTMLCanvasElement>('map'));
  /** Throughput per mode and what each mode's last power loss cost. */
  readonly comparison = new Comparison(byId<HTMLTableElement>('compare').tBodies[0]);
  /** The chart's time axis: seconds since the page started. */
  private readonly t0 = performance.now();

  /** Builds the mode radios and connects every control to `events`. */
  bind(events: ViewEvents): void {
    const el = this.el;
    buildModeRadios(byId('modes'), 'writeback', (m) => events.modeChosen(m));
    this.showCrashHelp();
    el.crash.addEventListener('change', () => this.showCrashHelp());
    el.backend.addEventListener('change', () => events.backendChosen());
    el.open.addEventListener('click', () => events.open());
    el.start.addEventListener('click', () => events.start());
    el.stop.addEventListener('click', () => events.stop());
    el.flush.addEventListener('click', () => events.flush());
    el.power.addEventListener('click', () => events.powerLoss());
    el.verify.addEventListener('click', () => events.verify());
    el.close.addEventListener('click', () => events.close());
    el.delete.addEventListener('click', () => events.remove());
  }

  /** Enables what `phase` allows; Reopen & verify also needs an ended session to check. */
  showPhase(phase: Phase, canVerify: boolean): void {
    const el = this.el;
    document.body.dataset.phase = phase;
    const live = phase === 'open' || phase === 'running';
    el.start.disabled = !(phase === 'open' || phase === 'closed');
    el.stop.disabled = phase !== 'running';
    el.flush.disabled = !live;
    el.power.disabled = !live;
    el.verify.disabled = !(canVerify && (phase === 'power-lost' || phase === 'closed'));
    el.close.disabled = !live;
    el.delete.disabled = !(live || phase === 'closed' || phase === 'power-lost');
    el.open.disabled = phase !== 'closed';
    for (const input of [el.name, el.size, el.backend, el.crash]) input.disabled = phase !== 'closed';
  }

  // ------------------------------------------------------------------ the form

  readSettings(): DiskSettings {
    const el = this.el;
    return {
      name: el.name.value.trim(),
      size: Number(el.size.value) * 1024 * 1024,
      cache: selectedMode(),
      backend: el.backend.value as BackendChoice,
      crashModel: el.crash.value as CrashModel,
    };
  }

  readLoad(): LoadConfig {
    const el = this.el;
    return {
      pattern: el.pattern.value as Pattern,
      ioSize: Number(el.ioSize.value),
      depth: Number(el.depth.value),
      flushEvery: Number(el.flushEvery.value),
      duration: Number(el.duration.value),
    };
  }

  /** The disk name as typed. */
  typedName(): string {
    return this.el.name.value.trim();
  }

  selectedMode(): CacheMode {
    return selectedMode();
  }

  /** Sets the backend select, as when the page takes the way out an error offered. */
  chooseBackend(choice: BackendChoice): void {
    this.el.backend.value = choice;
  }

  /** An opened disk's size (added to the choices if new) and mode, and the block map's scale. */
  showOpened(size: number, mode: CacheMode): void {
    const el = this.el;
    const mib = String(size / (1024 * 1024));
    if (![...el.size.options].some((o) => o.value === mib)) el.size.add(new Option(`${mib} MiB`, mib));
    el.size.value = mib;
    checkMode(mode);
    el.mapScale.textContent = `— ${COLS}×${ROWS} cells of ${formatBytes(size / (COLS * ROWS))}`;
  }

  /** Where the disk is, in bold, and why there; or a word for no disk: "not open", "closed", "no power". */
  showBackend(line: BackendLine | string): void {
    const { where, why } = typeof line === 'string' ? { where: line, why: undefined } : line;
    const b = document.createElement('b');
    b.textContent = where;
    if (why === undefined) {
      this.el.backendInfo.replaceChildren(b);
      return;
    }
    const reason = document.createElement('span');
    reason.className = 'why';
    reason.textContent = ` — ${why}`;
    this.el.backendInfo.replaceChildren(b, reason);
  }

  private showCrashHelp(): void {
    this.el.crashHelp.textContent = CRASH_MODEL_HELP[this.el.crash.value as CrashModel];
  }

  // ------------------------------------------------------------------ status and verdict

  status(kind: StatusKind, text: string, code?: string, action?: StatusAction): void {
    setStatus(kind, text, { code, action: action && actionButton(action.label, action.run) });
  }

  showVerdict(counts: VerdictCounts, modes: readonly CacheMode[], how: 'power' | 'close', model: CrashModel): void {
    const v = this.el.verdict;
    const words = verdictWords(counts, modes, how, model);
    v.dataset.kind = words.kind;
    v.dataset.intact = String(counts.intact);
    v.dataset.lost = String(counts.lost);
    v.dataset.violations = String(counts.violations);
    const strong = document.createElement('strong');
    strong.textContent = words.head;
    const small = document.createElement('span');
    small.className = 'why';
    small.textContent = words.why;
    v.replaceChildren(strong, small);
    v.hidden = false;
  }

  hideVerdict(): void {
    this.el.verdict.hidden = true;
  }

  // ------------------------------------------------------------------ chart, counters, block map

  /** A labelled line on the chart now: a run's start, a mode switch, a power loss. */
  mark(label: string, kind: 'mode' | 'power' = 'mode'): void {
    this.chart.mark(this.seconds(), label, kind === 'power' ? COLORS.power : COLORS.mode);
  }

  /** A break in the chart's lines: a new disk's numbers do not continue the last one's. */
  gap(): void {
    this.chart.gap(this.seconds());
  }

  showSample(r: Rates, total: Counters): void {
    this.chart.push({
      t: this.seconds(),
      writeMBps: r.writeBytesPerSecond / 1e6,
      readMBps: r.readBytesPerSecond / 1e6,
      writeIops: r.writesPerSecond,
      readIops: r.readsPerSecond,
      flushes: r.flushes,
    });
    this.el.writeRate.textContent = formatRate(r.writeBytesPerSecond);
    this.el.iops.textContent = formatCount(r.writesPerSecond + r.readsPerSecond);
    this.el.writes.textContent = formatCount(total.writes);
    this.el.flushes.textContent = formatCount(total.flushes);
  }

  showStats(st: DiskStats): void {
    this.el.syncs.textContent = formatCount(st.storeSyncs);
    this.el.ignored.textContent = formatCount(st.ignoredFlushes);
    this.el.dirty.textContent = formatBytes(st.dirtyBytes);
  }

  /** The block map and its legend; with no tracker yet, the chosen size as never written. */
  showBlocks(tracker: BlockTracker | undefined): void {
    const size = tracker?.size ?? Number(this.el.size.value) * 1024 * 1024;
    const cells = tracker ? tracker.cells(COLS * ROWS) : new Uint16Array(COLS * ROWS * STATES.length);
    const counts = tracker ? tracker.counts() : [Math.ceil(size / UNIT), 0, 0, 0, 0, 0, 0];
    this.map.show(cells, size, counts);
    renderLegend(this.el.legend, counts);
  }

  private seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }
}
