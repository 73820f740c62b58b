// The globals the harness page (e2e/pages/harness.html) and the specs put on
// window, typed once for every function the specs run in a page.
import type * as Webdisk from '../src/index';
import type * as WebdiskTesting from '../src/testing';
import type { PageHelpers } from './helpers';
import type { SqliteLab } from './sqlite-types';

/** How a SyncDisk call in e2e/pages/sync-worker.js ended. */
export type SyncAnswer =
  | { ok: true; value: unknown; ms: number }
  | { ok: false; name?: string; code?: string; message: string; isDiskError: boolean; ms: number };

/** The page's handle on a sync worker: each call says when it started (the worker is about to block) and how it ended. */
export interface SyncWorker {
  call(op: string, args?: object): { started: Promise<void>; done: Promise<SyncAnswer> };
  terminate(): void;
}

declare global {
  interface Window {
    /**
     * The built library (dist/webdisk.js) with its crash-test tooling
     * (dist/testing.js) beside it; openDisk defaults `backend` to the page's ?backend=.
     */
    webdisk: typeof Webdisk & typeof WebdiskTesting;
    /** The specs' helpers in the page (installPageHelpers). */
    t: PageHelpers;
    /** Set by the harness once window.webdisk is there. */
    harnessReady?: boolean;
    /** Uncaught errors and unhandled rejections, collected by the harness (the WebKit adapter reads them). */
    harnessErrors?: string[];
    /** errors.spec.ts: a disk kept open across evaluate calls. */
    busyDisk?: Webdisk.Disk;
    /** power-loss.spec.ts: how far the workload a reload interrupts has got. */
    reloadProgress?: { acks: number; inFlight: number };
    /** sqlite.spec.ts: SQLite on webdisk/sqlite in e2e/pages/sqlite.html, per variant (async on the page, sync in a worker). */
    sqliteLabs: Record<SqliteVariant, SqliteLab>;
    /** sqlite.spec.ts: WebdiskSyncVFS.create on the page's main thread, settled. */
    syncVfsOnPage: () => Promise<{ ok: boolean; code?: string; message?: string }>;
    /** sync-disk.spec.ts: starts e2e/pages/sync-worker.js (a SyncDisk's thread) and drives it. */
    syncWorker?: () => SyncWorker;
    /** sync-disk.spec.ts: a fresh disk (deleted first) and a sync worker holding a SyncDisk on a port of it. */
    syncDiskInWorker?: (
      name: string,
      opts: Omit<Webdisk.OpenDiskOptions, 'name'>,
      port?: { bufferSize?: number },
    ) => Promise<{ disk: Webdisk.Disk; w: SyncWorker }>;
  }
}
