import { CACHE_MODE_HELP, type CacheMode, type Disk, deleteDisk } from '../index';
import { BlockTracker } from './block-states';
import {
  backendLine,
  describeLoad,
  NOTHING_TO_VERIFY,
  type PageFallback,
  POWER_LOSS_TOOK,
  reopeningText,
} from './copy';
import { type ErrorContext, explainError, type Remedy } from './errors';
import { formatBytes, formatCount } from './format';
import { LoadGenerator, type RunEnd } from './load-generator';
import {
  type Counters,
  type DiskSettings,
  diskLocation,
  MAX_LOG_ENTRIES,
  openSession,
  type Session,
  type SessionHooks,
} from './session';
import { verify } from './verify';
import type { DemoView, Phase, StatusAction, ViewEvents } from './view';

/** A session a power loss or a clean close ended: what Reopen & verify checks. */
interface EndedSession {
  session: Session;
  settings: DiskSettings;
  how: 'power' | 'close';
}

/**
 * What an open asked for and where a disk of that name already is: that
 * tells a wrong backend choice from a missing backend.
 */
async function openContext(s: DiskSettings): Promise<Omit<ErrorContext, 'diskName'>> {
  return { choice: s.backend, existingOn: await diskLocation(s.name).catch(() => undefined) };
}

function zeroCounters(): Counters {
  return { writes: 0, writeBytes: 0, reads: 0, readBytes: 0, flushes: 0 };
}

/**
 * The demo's state machine: which disk is open, the load generator driving it,
 * and the steps a user takes — open, run, switch mode, flush, pull the
 * plug, reopen and verify, close, delete. Every step ends in a phase and a
 * status sentence on the view.
 */
export class DemoController implements ViewEvents {
  private readonly view: DemoView;
  private phase: Phase = 'closed';
  private session: Session | undefined;

  /** The disk the page has open, if any (the images panel exports it as it is). */
  get openedDisk(): Disk | undefined {
    return this.session?.disk;
  }
  /** What `session` was opened with: the backend as chosen, the size as it turned out. */
  private settings: DiskSettings | undefined;
  private previous: EndedSession | undefined;
  private tracker: BlockTracker | undefined;
  private load: LoadGenerator | undefined;
  private running: Promise<RunEnd> | undefined;
  private runLabel = '';
  /** The session's counters at the last sample: the next sample's rates are the difference. */
  private last: Counters = zeroCounters();
  private lastTick = performance.now();
  private statsPending = false;
  /** Set when the page switched the backend itself, by the way out an error offered; cleared when the user picks one. */
  private pageFallback: PageFallback | undefined;

  /** Keeps the block tracker in step with what the session's requests did. */
  private readonly hooks: SessionHooks = {
    written: (offset, length, mode, ackedAt) => this.tracker?.writeAcked(offset, length, mode, false, ackedAt),
    flushed: (issuedAt, mode) => this.tracker?.flushDone(issuedAt, mode),
    switched: (issuedAt, mode) => this.tracker?.modeSwitched(issuedAt, mode),
  };

  constructor(view: DemoView) {
    this.view = view;
    this.setPhase('closed');
    this.render();
  }

  // ------------------------------------------------------------------ open, close, delete

  async open(): Promise<boolean> {
    const view = this.view;
    const s = view.readSettings();
    this.setPhase('opening');
    view.status('busy', `Opening disk “${s.name}”…`);
    try {
      const r = await openSession(s, this.hooks, undefined, (done) =>
        view.status('busy', `Opening disk “${s.name}”: reading its content (${Math.round(done * 100)}%)…`),
      );
      this.adopt(r.session, s);
      this.tracker?.reset(r.created ? undefined : r.session.base);
      const d = r.session.disk;
      const unclean = d.uncleanShutdown
        ? ' Its last session ended without a clean close (the page was reloaded or closed mid-run); with no log of it to check, today’s content is the starting point.'
        : '';
      view.status(
        'info',
        `Disk “${d.name}” ${r.created ? 'created' : 'opened'}: ${formatBytes(d.size)}, ${d.cacheMode}, ${d.crashModel === 'power' ? 'power-cut' : 'process-crash'} model. Press Start.${unclean}`,
      );
      return true;
    } catch (err) {
      const ctx = await openContext(s);
      this.setPhase('closed');
      view.showBackend('not open');
      this.showError(err, 'Could not open the disk. ', ctx);
      return false;
    }
  }

  async close(): Promise<void> {
    const s = this.session;
    if (!s || !this.settings) return;
    this.setPhase('busy');
    this.view.status('busy', 'Closing: writing everything back and syncing…');
    await this.stopRun();
    try {
      await s.disk.close();
      this.tracker?.closed();
      this.previous = { session: s, settings: this.settings, how: 'close' };
      this.session = undefined;
      this.setPhase('closed');
      this.view.showBackend('closed');
      this.render();
      this.view.status(
        'info',
        'Closed cleanly: everything was written back and synced. Reopen & verify checks it; Open disk continues.',
      );
    } catch (err) {
      this.session = undefined;
      this.setPhase('closed');
      this.showError(err, 'Close failed. ');
    }
  }

  async remove(): Promise<void> {
    const name = this.settings?.name ?? this.view.typedName();
    const s = this.session;
    this.setPhase('busy');
    this.view.status('busy', `Deleting disk “${name}”…`);
    try {
      await this.stopRun();
      // A disk that cannot close cleanly (a full quota) still ends its worker: delete it anyway.
      if (s && !s.disk.closed) await s.disk.close().catch(() => undefined);
      this.session = undefined;
      this.previous = undefined;
      await deleteDisk(name);
      this.tracker?.reset();
      this.view.hideVerdict();
      this.view.showBackend('not open');
      this.setPhase('closed');
      this.render();
      this.view.status('info', `Disk “${name}” deleted. Open disk or Start creates it afresh.`);
    } catch (err) {
      this.session = undefined;
      this.setPhase('closed');
      this.showError(err, 'Delete failed. ');
    }
  }

  /** The user picked a backend: any earlier switch the page made is no longer the reason. */
  backendChosen(): void {
    this.pageFallback = undefined;
  }

  // -------------------------------------------------------------- the load generator

  async start(): Promise<void> {
    if (!this.session && !(await this.open())) return;
    const s = this.session as Session;
    const view = this.view;
    const cfg = view.readLoad();
    const wl = new LoadGenerator(s, cfg);
    this.load = wl;
    this.runLabel = describeLoad(cfg);
    const mode = s.log.currentMode;
    view.comparison.begin(mode, this.runLabel);
    view.mark(`▶ ${mode}`);
    view.hideVerdict();
    this.setPhase('running');
    view.status(
      'info',
      `Running in ${mode}: ${this.runLabel}${cfg.duration ? `, for ${cfg.duration} s` : ''}. Try ⚡ Power loss.`,
    );
    this.running = wl.run();
    const end = await this.running;
    this.running = undefined;
    this.load = undefined;
    if (this.session !== s || this.phase !== 'running') return; // power loss, close or delete took over
    this.setPhase('open');
    this.tick();
    const acked = `${formatCount(s.counters.writes)} writes acknowledged so far`;
    if (end.reason === 'done')
      view.status('info', `Finished (${acked}). ⚡ Power loss now shows what was not yet durable.`);
    else if (end.reason === 'stopped') view.status('info', `Stopped (${acked}).`);
    else if (end.reason === 'log-full')
      view.status(
        'info',
        `Paused at ${formatCount(MAX_LOG_ENTRIES)} logged requests, the most this page verifies quickly (${acked}). ⚡ Power loss or Close, then Reopen & verify.`,
      );
    else if (end.reason === 'error') this.showError(end.error, 'The workload stopped: ');
  }

  stop(): void {
    this.load?.stop();
  }

  modeChosen(mode: CacheMode): void {
    void this.switchMode(mode);
  }

  async switchMode(mode: CacheMode): Promise<void> {
    const s = this.session;
    const view = this.view;
    if (!s || (this.phase !== 'open' && this.phase !== 'running')) {
      view.status('info', `Cache mode ${mode} applies when the disk opens. ${CACHE_MODE_HELP[mode]}`);
      return;
    }
    if (this.phase === 'running') {
      this.tick(); // what ran so far counts for the old mode
      view.mark(`→ ${mode}`);
      view.comparison.begin(mode, this.runLabel);
    }
    try {
      await s.setMode(mode);
      view.status('info', `Cache mode now ${mode}: ${CACHE_MODE_HELP[mode]}`);
    } catch (err) {
      if (!s.disk.closed) this.showError(err, 'Could not switch the cache mode. ');
    }
  }

  async flush(): Promise<void> {
    const s = this.session;
    if (!s) return;
    try {
      await s.flush();
      const mode = s.log.currentMode;
      this.view.status(
        'info',
        mode === 'unsafe'
          ? 'Flushed — but unsafe ignores the request to make data durable (see “ignored flushes”).'
          : 'Flushed: every write acknowledged before it is now durable.',
      );
    } catch (err) {
      if (!s.disk.closed) this.showError(err, 'Flush failed. ');
    }
  }

  // ------------------------------------------------------------------ power loss and verification

  powerLoss(): void {
    const s = this.session;
    if (!s || !this.settings) return;
    s.disk.powerLoss();
    this.load?.stop();
    this.tick();
    const view = this.view;
    view.mark('⚡ power loss', 'power');
    this.previous = { session: s, settings: this.settings, how: 'power' };
    this.session = undefined;
    this.setPhase('power-lost');
    view.showBackend('no power');
    view.hideVerdict();
    view.status(
      'error',
      `Power lost: the disk worker was killed mid-workload with ${formatCount(s.counters.writes)} writes acknowledged. ${POWER_LOSS_TOOK[s.disk.crashModel]} Press Reopen & verify.`,
      '⚡',
    );
    this.render();
  }

  verify(): void {
    void this.reopenAndVerify();
  }

  async reopenAndVerify(): Promise<void> {
    const prev = this.previous;
    if (!prev) return;
    const view = this.view;
    this.setPhase('busy');
    const volatile = prev.session.disk.backend === 'memory';
    view.status('busy', reopeningText(prev.how, prev.session.disk.backend));
    let reopened: Session | undefined;
    try {
      // The backend as first chosen: Auto finds the disk where it is, and the Backend line says so.
      const r = await openSession({ ...prev.settings, cache: view.selectedMode() }, this.hooks, undefined, (done) =>
        view.status('busy', `Reopened; reading the whole disk back (${Math.round(done * 100)}%)…`),
      );
      reopened = r.session;
      if (volatile) {
        this.adopt(r.session, prev.settings);
        this.tracker?.reset();
        view.status('info', NOTHING_TO_VERIFY);
        return;
      }
      view.status('busy', 'Verifying every block against the log of acknowledged writes and flushes…');
      const result = await verify({
        entries: prev.session.log.entries,
        initialMode: prev.session.log.initialMode,
        base: prev.session.base,
        actual: r.session.base,
        onProgress: (done) => view.status('busy', `Verifying… ${Math.round(done * 100)}%`),
      });
      const unclean = r.session.disk.uncleanShutdown;
      this.adopt(r.session, prev.settings);
      this.tracker?.applyVerdicts(result.verdicts);
      this.render();
      const modes = [...prev.session.modesUsed];
      const written = result.intact + result.lost + result.violations;
      view.comparison.loss(
        prev.session.log.currentMode,
        result.lost,
        written,
        result.violations,
        prev.session.disk.crashModel,
      );
      view.comparison.render();
      view.showVerdict(result, modes, prev.how, prev.session.disk.crashModel);
      view.status(
        'info',
        `Reopened “${r.session.disk.name}”${unclean ? ' — it reports an unclean shutdown, as it should' : ''}. Checked ${formatCount(written)} written 4 KiB blocks.`,
      );
    } catch (err) {
      if (reopened && this.session !== reopened) await reopened.disk.close().catch(() => undefined);
      if (this.session !== reopened || !reopened) {
        this.previous = prev;
        this.setPhase(prev.how === 'power' ? 'power-lost' : 'closed');
      }
      this.showError(err, 'Reopen & verify failed. ', await openContext(prev.settings));
    }
  }

  // ------------------------------------------------------------------ sampling

  /** Every sampling interval while a disk is open: throughput since the last sample, counters, the block map. */
  tick(): void {
    const s = this.session;
    if (!s) return;
    const t = performance.now();
    const dt = Math.max(1e-3, (t - this.lastTick) / 1000);
    const c = { ...s.counters };
    const last = this.last;
    const d = {
      writes: c.writes - last.writes,
      writeBytes: c.writeBytes - last.writeBytes,
      reads: c.reads - last.reads,
      readBytes: c.readBytes - last.readBytes,
      flushes: c.flushes - last.flushes,
    };
    this.last = c;
    this.lastTick = t;
    this.view.showSample(
      {
        writeBytesPerSecond: d.writeBytes / dt,
        readBytesPerSecond: d.readBytes / dt,
        writesPerSecond: d.writes / dt,
        readsPerSecond: d.reads / dt,
        flushes: d.flushes,
      },
      c,
    );
    if (this.phase === 'running') {
      this.view.comparison.add(s.log.currentMode, d.writeBytes + d.readBytes, d.writes + d.reads, dt);
      this.view.comparison.render();
    }
    this.pollStats(s);
    this.render();
  }

  /** The worker's own counters, one request at a time: a slow answer never piles up requests. */
  private pollStats(s: Session): void {
    if (this.statsPending || s.disk.closed) return;
    this.statsPending = true;
    s.disk
      .stats()
      .then(
        (st) => this.view.showStats(st),
        () => undefined,
      )
      .finally(() => {
        this.statsPending = false;
      });
  }

  // ------------------------------------------------------------------ helpers

  private setPhase(p: Phase): void {
    this.phase = p;
    this.view.showPhase(p, this.previous !== undefined);
  }

  private render(): void {
    this.view.showBlocks(this.tracker);
  }

  /** Makes `s` the open session. */
  private adopt(s: Session, st: DiskSettings): void {
    const d = s.disk;
    this.session = s;
    this.settings = { ...st, size: d.size };
    this.previous = undefined;
    this.last = zeroCounters();
    this.lastTick = performance.now();
    this.view.gap();
    if (!this.tracker || this.tracker.size !== d.size) this.tracker = new BlockTracker(d.size);
    this.view.showOpened(d.size, d.cacheMode);
    this.view.showBackend(
      backendLine(d.backend, d.backendReason, { fallback: this.pageFallback, secureContext: window.isSecureContext }),
    );
    this.setPhase('open');
    this.render();
  }

  private async stopRun(): Promise<void> {
    this.load?.stop();
    if (this.running) await this.running;
  }

  /** The error in words on the status line, with the way out it suggests. */
  private showError(err: unknown, prefix = '', ctx: Omit<ErrorContext, 'diskName'> = {}): void {
    const diskName = this.settings?.name ?? this.view.typedName();
    const { code, text, remedy } = explainError(err, { diskName, ...ctx });
    // Deleting is offered on a full quota only while a disk is open: it frees that disk's space.
    const offered = remedy && (remedy.kind !== 'delete-disk' || this.session !== undefined);
    const action: StatusAction | undefined = offered
      ? { label: remedy.label, run: () => void this.takeRemedy(remedy.kind) }
      : undefined;
    this.view.status('error', `${prefix}${text}`, code, action);
  }

  private async takeRemedy(remedy: Remedy): Promise<void> {
    if (remedy === 'delete-disk') return this.remove();
    const choice = remedy === 'use-memory' ? 'memory' : remedy === 'use-idb' ? 'idb' : 'auto';
    this.view.chooseBackend(choice);
    this.pageFallback = remedy === 'use-memory' ? 'memory' : remedy === 'use-idb' ? 'idb' : undefined;
    await this.open();
  }
}
