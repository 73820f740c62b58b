// The benchmark's workload, the same for every VFS: small inserts, one
// transaction each (autocommit), synchronous=FULL, in journal mode DELETE
// or WAL (WAL with exclusive locking: none of these VFSes has shared memory).
// Returns committed transactions per second.
import * as SQLite from '/node_modules/@journeyapps/wa-sqlite/src/sqlite-api.js';

/**
 * Commits before the measured ones: each row runs in a new worker, whose
 * code (SQLite's glue, the VFS, webdisk's core) starts cold — unmeasured
 * for every VFS alike, so the rows measure commits, not a JIT warming up.
 */
const WARMUP = 200;

/** Opens `file` on the registered VFS `vfsName`, runs the workload, closes. */
export async function commitsPerSecond(sqlite3, vfsName, file, journal, { transactions, maxMs }) {
  const db = await sqlite3.open_v2(file, SQLite.SQLITE_OPEN_READWRITE | SQLite.SQLITE_OPEN_CREATE, vfsName);
  try {
    if (journal === 'wal') await sqlite3.exec(db, 'PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL');
    else await sqlite3.exec(db, 'PRAGMA journal_mode=DELETE');
    await sqlite3.exec(db, 'PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)');
    const value = 'x'.repeat(100);
    for (let i = 0; i < WARMUP; i++) await sqlite3.exec(db, `INSERT INTO t(v) VALUES ('${value}')`);
    const t0 = performance.now();
    let n = 0;
    while (n < transactions && performance.now() - t0 < maxMs) {
      await sqlite3.exec(db, `INSERT INTO t(v) VALUES ('${value}')`);
      n++;
    }
    return Math.round((n * 1000) / (performance.now() - t0));
  } finally {
    await sqlite3.close(db);
  }
}
