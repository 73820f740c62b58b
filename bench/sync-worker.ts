/**
 * The SyncDisk target: a dedicated worker holding a SyncDisk on a library
 * target's disk (disk.openSync() in the page, the port posted here), running
 * the workloads with the engine's synchronous runner — the way an
 * emulator's worker calls a disk that blocks. It loads the built library at
 * run time, as the page does.
 */
import type * as Webdisk from '../src/index';
import { type BenchConfig, type RunResult, WORKLOADS, type WorkloadId } from './config';
import { Expectation, type ExpectationState, runSeed } from './content';
import { Engine, syncIo } from './engine';

export type SyncRequest =
  | { id: number; op: 'init'; cfg: BenchConfig; port: Webdisk.SyncDiskPort }
  | { id: number; op: 'run'; workload: WorkloadId; depth: number; repeat: number; state: ExpectationState };

/** A run's result, and the expected content it moved on (the page's copy takes it back). */
export interface SyncRunReply {
  result: RunResult;
  state: ExpectationState;
}

export type SyncReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

// The DOM and WebWorker libs clash in one program: declare what we use.
declare const self: {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent<SyncRequest>) => void) | null;
};

/** Not a module specifier the bundler should resolve: the built library, as the page loads it. */
const LIB_URL = '/dist/webdisk.js';

let engine: Engine;
let cfg: BenchConfig;
let disk: Webdisk.SyncDisk;

async function handle(req: SyncRequest): Promise<unknown> {
  if (req.op === 'init') {
    const webdisk = (await import(/* @vite-ignore */ LIB_URL)) as typeof Webdisk;
    cfg = req.cfg;
    engine = new Engine(cfg);
    engine.warm(1);
    disk = new webdisk.SyncDisk(req.port);
    return undefined;
  }
  const index = WORKLOADS.findIndex((w) => w.id === req.workload);
  const expect = new Expectation(cfg.region);
  expect.restore(req.state);
  const io = syncIo({
    read: (offset, dst) => void disk.readInto(offset, dst),
    write: (offset, src) => disk.write(offset, src),
    flush: () => disk.flush(),
  });
  const result = engine.runSync(io, WORKLOADS[index], req.depth, expect, runSeed(index, req.depth, req.repeat));
  return { result, state: expect.snapshot() } satisfies SyncRunReply;
}

self.onmessage = (ev) => {
  const req = ev.data;
  handle(req).then(
    (value) => self.postMessage({ id: req.id, ok: true, value } satisfies SyncReply),
    (err: unknown) =>
      self.postMessage({
        id: req.id,
        ok: false,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      } satisfies SyncReply),
  );
};
