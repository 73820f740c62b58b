// The shapes e2e/pages/sqlite-lab.js takes and returns, for the specs.
import type { CacheMode } from '../src/index';

export type Journal = 'delete' | 'wal';

/**
 * WebdiskVFS on wa-sqlite's async or JSPI build (on the page), WebdiskSyncVFS
 * on the sync build (in a worker), or 'here': WebdiskVFS on the JSPI build in
 * a worker with diskWorker: false.
 */
export type SqliteVariant = 'async' | 'sync' | 'jspi' | 'here' | 'sync-here';

export interface SqliteSmoke {
  vfsName: string;
  journal: Journal;
  cache: CacheMode;
}

export interface SqliteSmokeResult {
  journalMode: string;
  count: number;
  bytes: number;
  integrity: string;
  /** The disks the VFS made, by name. */
  disks: string[];
}

export interface SqliteRound {
  vfsName: string;
  journal: Journal;
  cache: CacheMode;
  crashModel: 'process' | 'power';
  seed: number;
  /** When the plug is pulled, after the workload starts. */
  crashAfterMs: number;
  maxTransactions: number;
}

export interface SqliteRoundResult {
  /** The last transaction whose COMMIT returned before the plug was pulled. */
  committed: number;
  /** The last transaction begun. */
  started: number;
  workloadError: string | null;
  /** The transaction the reopened database holds (its sums row). */
  found: number | null;
  /** Committed transactions missing after the crash. */
  lost: number;
  integrity: string | null;
  /** The database is not exactly the state after `found`. */
  mismatch: string | null;
  reopenError: string | null;
  reopenMs: number;
}

/** The lab of one variant (e2e/pages/sqlite.html). */
export interface SqliteLab {
  smoke(a: SqliteSmoke): Promise<SqliteSmokeResult>;
  crashRound(a: SqliteRound): Promise<SqliteRoundResult>;
}
