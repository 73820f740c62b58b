// The page half of a crash round: runs in the harness page, sent there as
// source by every engine adapter, so it is self-contained (types only from
// outside; window.webdisk is the built library).
import type { Disk } from '../src/index';
import type { CrashTestOptions, CrashTestResult, RequestLog } from '../src/testing';
import type { RoundConfig, RoundResult, RoundSpec } from './crash-rounds';

/**
 * Runs crash rounds inside the harness page (window.webdisk is the built
 * library). Self-contained: every engine adapter sends it to the page as source.
 */
export async function roundsInPage(arg: { rounds: RoundSpec[]; cfg: RoundConfig }): Promise<RoundResult[]> {
  const { rounds, cfg } = arg;
  const wd = window.webdisk;
  const out: RoundResult[] = new Array(rounds.length);
  let next = 0;

  /** A round's result before anything has happened in it. */
  const notRun = (spec: RoundSpec): RoundResult => ({
    ...spec,
    crashedAt: 'none',
    issued: 0,
    acked: 0,
    inFlightAtCrash: 0,
    midFlush: false,
    earlyInRing: 0,
    lent: false,
    closeAcked: false,
    unclean: null,
    size: null,
    blockSize: null,
    listedSize: null,
    reopenMode: null,
    reopenMs: 0,
    ms: 0,
    intact: 0,
    lost: 0,
    violations: 0,
    details: [],
    transport: null,
    error: null,
    leftBehind: null,
    log: null,
  });

  /** A disk a killed worker held may stay locked for ~2 s: retry deleting it for a while. */
  const deleteSoon = async (name: string, tries = 100) => {
    for (let i = 1; ; i++) {
      try {
        return await wd.deleteDisk(name);
      } catch (err) {
        if (i >= tries) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  /** Where each lane's round is, so a round that stalls says where. */
  const steps: string[] = [];
  const one = async (spec: RoundSpec, lane: number, name: string): Promise<RoundResult> => {
    const at = (step: string) => {
      steps[lane] = step;
    };
    const t0 = performance.now();
    const r = notRun(spec);
    // Disk geometry drawn from the seed: a small worker cache so write-back
    // happens under the workload, a small device cache so destaging does.
    const rnd = wd.prng(wd.roundSeed(spec.seed, 7));
    const big = spec.scenario === 'close';
    const cacheSize = big ? 4 << 20 : [256, 1024, 4096][Math.floor(rnd() * 3)] * 1024;
    const deviceCacheSize = big ? 2 << 20 : [128, 512, 2048][Math.floor(rnd() * 3)] * 1024;
    let disk: Disk | undefined;
    let run: CrashTestResult | undefined;
    try {
      at('deleting the previous disk');
      await deleteSoon(name);
      // An overlay's base: this lane's image on the test server, drawn from the seed.
      let base: { url: string } | undefined;
      let baseBytes: Uint8Array | undefined;
      if (spec.scenario === 'overlay') {
        const image = `${name}-base`;
        await fetch(`/base-control/${image}?size=${cfg.size}&seed=${spec.seed % 1_000_000}`);
        base = { url: `/base/${image}` };
        baseBytes = new Uint8Array(await (await fetch(`/base/${image}?peek=1`)).arrayBuffer());
      }
      at('opening');
      const opened = await wd.openDisk({
        name,
        size: base ? undefined : cfg.size,
        base,
        cache: spec.mode,
        crashModel: spec.model,
        cacheSize,
        deviceCacheSize,
      });
      disk = opened;
      r.transport = opened.transportKind;
      const pull = () => {
        r.earlyInRing = opened.earlyAcksInFlight;
        opened.powerLoss();
      };
      const opts: CrashTestOptions = {
        seed: spec.seed,
        size: cfg.size,
        initialMode: spec.mode,
        requests: cfg.requests,
      };
      // Half the rounds write from lent memory (not copied, never acknowledged early): the seed decides, no draw.
      if (opened.transportKind === 'shared-memory' && spec.seed % 2 === 0) {
        opts.lent = await opened.allocBuffer(8 << 20);
        r.lent = true;
      }
      let pulled: Promise<void> = Promise.resolve();
      if (spec.scenario === 'random' || spec.scenario === 'overlay') {
        opts.crash = wd.randomCrashPoint(spec.seed, cfg.requests);
        opts.onCrash = pull;
      } else if (spec.scenario === 'switch') {
        opts.modeSwitchRate = 0.06;
        opts.crash = { at: 'mode', count: 1 + Math.floor(rnd() * 4), delayMs: rnd() * 5 };
        opts.onCrash = pull;
      } else {
        // After a random acknowledgement, issue close() (with requests still
        // in flight, or once they are answered) and pull the plug while it
        // runs: a big dirty cache and device cache make close() take a while.
        opts.crash = { at: 'ack', count: 1 + Math.floor(rnd() * cfg.requests) };
        const drain = rnd() < 0.5;
        // A burst of big writes first gives close() something to write back.
        const burst = 4 + Math.floor(rnd() * 12);
        // Pull the plug 0-6 ms after close() is sent. A busy wait, not a
        // timer: other lanes keep the page's event loop busy for tens of ms.
        const delay = rnd() * 6;
        let log: RequestLog | undefined;
        opts.onLog = (l) => {
          log = l;
        };
        const closeThenPull = () => {
          for (let k = 0; k < burst; k++) {
            const length = 256 * 1024;
            const offset = Math.floor(rnd() * (cfg.size / length)) * length;
            const seed = Math.floor(rnd() * 2 ** 31);
            const e = log?.write(offset, length, seed, false);
            opened.write(offset, wd.patternBytes(length, seed)).then(
              () => e && log?.ack(e),
              () => undefined,
            );
          }
          opened.close().then(
            () => {
              r.closeAcked = true;
            },
            () => undefined,
          );
          pulled = (async () => {
            await Promise.resolve(); // the batched-messages transport sends in a microtask
            const t = performance.now();
            while (performance.now() - t < delay) {
              // spin
            }
            pull();
          })();
        };
        opts.onCrash = drain ? () => undefined : closeThenPull;
        at('running the workload');
        run = await wd.runCrashTest(opened, opts);
        if (drain) closeThenPull();
      }
      at('running the workload');
      run ??= await wd.runCrashTest(opened, opts);
      at('pulling the plug');
      await pulled;
      r.crashedAt = run.crashedAt;
      r.issued = run.issued;
      r.acked = run.acked;
      r.inFlightAtCrash = run.inFlightAtCrash;
      r.midFlush = run.flushInFlightAtCrash;
      if (!opened.closed) opened.powerLoss();

      const t1 = performance.now();
      at('reopening');
      const again = await wd.openDisk({ name, cache: spec.mode, crashModel: spec.model, lockTimeoutMs: 20_000 });
      r.reopenMs = Math.round(performance.now() - t1);
      r.unclean = again.uncleanShutdown;
      r.size = again.size;
      r.blockSize = again.blockSize;
      r.reopenMode = again.cacheMode;
      at('listing');
      r.listedSize = (await wd.listDisks()).find((d) => d.name === name)?.size ?? null;
      at('reading back and verifying');
      const report = await wd.verifyDisk(again, run.log, cfg.size, baseBytes);
      r.intact = report.intact;
      r.lost = report.lost;
      r.violations = report.violations;
      r.details = report.details.slice(0, 5).map((v) => `bytes ${v.offset}+${v.length}: ${v.reason}`);
      if (spec.scenario === 'close' && again.uncleanShutdown === false) {
        // close() completed: every request issued before it took effect and is durable.
        const want = wd.expectedImage(run.log.entries, cfg.size);
        const got = await again.read(0, cfg.size);
        let i = 0;
        while (i < want.length && want[i] === got[i]) i++;
        if (i < want.length) {
          r.violations++;
          r.details.push(`clean after close(), yet byte ${i} is ${got[i]}, not ${want[i]}`);
        }
      }
      at('closing');
      await again.close();
      at('deleting');
      // Retried a little like the delete before a round: on a loaded machine the
      // lock of the worker that just closed can come back after deleteDisk's 1 s.
      await deleteSoon(name, 4).catch((err: Error) => {
        r.leftBehind = `${err.name} ${(err as { code?: string }).code ?? ''}: ${err.message}`;
      });
    } catch (caught) {
      const err = (typeof caught === 'object' && caught !== null ? caught : {}) as {
        name?: string;
        code?: string;
        message?: string;
      };
      r.error = `${err.name ?? 'Error'} ${err.code ?? ''}: ${err.message ?? String(caught)}`;
      try {
        if (disk && !disk.closed) disk.powerLoss();
      } catch {
        // already gone
      }
    }
    if ((r.violations > 0 || r.error) && run) {
      r.log = JSON.stringify({ seed: spec.seed, initialMode: run.log.initialMode, entries: run.log.entries });
    }
    r.ms = Math.round(performance.now() - t0);
    return r;
  };

  /** A round that has not finished after this long has hung: it fails, saying where. */
  const STALL_MS = 120_000;
  const lane = async (id: number) => {
    // Named per scenario: a disk an earlier test left held (WebKitGTK keeps a
    // killed worker's transaction) must not stall this test's first round.
    let name = `crash-${rounds[0]?.scenario ?? 'none'}-lane-${id}`;
    for (;;) {
      const i = next++;
      if (i >= rounds.length) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), STALL_MS);
      });
      const done = await Promise.race([one(rounds[i], id, name), stalled]);
      clearTimeout(timer);
      if (done) {
        out[i] = done;
        if (done.leftBehind) name = `${name}-next`; // its disk is still held
        continue;
      }
      out[i] = {
        ...notRun(rounds[i]),
        ms: STALL_MS,
        error: `the round hung for ${STALL_MS / 1000} s while ${steps[id]}`,
      };
      name = `${name}-after-hang`; // the hung round may still hold its disk
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.lanes, rounds.length) }, (_, id) => lane(id)));
  return out;
}
