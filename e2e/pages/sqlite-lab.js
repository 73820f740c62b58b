// The browser half of e2e/sqlite.spec.ts: SQLite on webdisk/sqlite
// (dist/sqlite.js), imported as a user's static page would, in either
// variant — WebdiskVFS on wa-sqlite's async build (the page), or
// WebdiskSyncVFS on the sync build (sqlite-lab-worker.js, a worker).
// A crash round: a randomized workload of insert/update/delete
// transactions, each also updating a checksum row (sums); the plug pulled
// on every disk of the VFS at a random moment; a fresh SQLite module and
// VFS reopen the database; integrity_check, then the database must be
// exactly the state after the last transaction whose COMMIT returned, or
// after the one in flight at the crash.
import { prng } from '/dist/testing.js';
import { deleteDisk, listDisks } from '/dist/webdisk.js';
import * as SQLite from '/node_modules/@journeyapps/wa-sqlite/src/sqlite-api.js';

/** Registers the VFS, opens `file` on it, sets the journal mode and synchronous=FULL. */
async function finishOpen(sqlite3, vfs, file, opts) {
  sqlite3.vfs_register(vfs, false);
  const db = await sqlite3.open_v2(file, SQLite.SQLITE_OPEN_READWRITE | SQLite.SQLITE_OPEN_CREATE, vfs.name);
  if (opts.journal === 'wal') {
    // No shared memory in this VFS: WAL needs exclusive locking mode.
    await sqlite3.exec(db, 'PRAGMA locking_mode=EXCLUSIVE');
  }
  await sqlite3.exec(db, `PRAGMA journal_mode=${opts.journal === 'wal' ? 'WAL' : 'DELETE'}`);
  await sqlite3.exec(db, 'PRAGMA synchronous=FULL');
  return { sqlite3, vfs, db };
}

async function rows(sqlite3, db, sql) {
  const out = [];
  await sqlite3.exec(db, sql, (row) => out.push(row));
  return out;
}

/** Deletes every disk of the VFS named `vfsName`. */
async function dropDisks(vfsName) {
  for (const d of await listDisks()) if (d.name.startsWith(`${vfsName}.`)) await deleteDisk(d.name);
}

/** The VFS methods a crash may come before, in the variant that pulls the plug from inside the VFS. */
const IO_METHODS = ['jRead', 'jWrite', 'jTruncate', 'jSync', 'jDelete'];

/**
 * Pulls the plug `ms` from now. A timer does it where SQLite's calls wait
 * (async I/O: the event loop runs meanwhile). Where they block (the sync
 * build), nothing else runs until the workload ends: there the first I/O
 * method called after the deadline pulls it, before it runs.
 */
function armCrash(vfs, ms, fromInside, pull) {
  const deadline = performance.now() + ms;
  if (fromInside) {
    for (const m of IO_METHODS) {
      const method = vfs[m].bind(vfs);
      vfs[m] = (...args) => {
        if (performance.now() >= deadline) pull();
        return method(...args);
      };
    }
  }
  return new Promise((resolve) =>
    setTimeout(() => {
      pull();
      resolve();
    }, ms),
  );
}

/** What the table holds, as SQL computes it and as the mirror does: count, sum of n, a checksum of ids and n. */
const STATE_SQL = 'SELECT count(*), coalesce(sum(n), 0), coalesce(sum((id * 7919 + n) % 1000003), 0) FROM t';
function mirrorState(mirror) {
  let count = 0;
  let total = 0;
  let check = 0;
  for (const [id, n] of mirror) {
    count++;
    total += n;
    check += (id * 7919 + n) % 1000003;
  }
  return [count, total, check];
}

/**
 * The lab of one variant: `build` makes a SQLite module (wa-sqlite's
 * async, JSPI or sync build), `VFS` is WebdiskVFS or WebdiskSyncVFS,
 * `blocking` says its calls may run without the event loop turning (see
 * armCrash), `vfsOptions` are more options for VFS.create.
 */
export function makeLab({ build, VFS, blocking, vfsOptions = {} }) {
  /** A new SQLite module (one per session: a module whose disks lost power is dropped whole), VFS and connection. */
  async function newSession(vfsName, file, opts) {
    const module = await build();
    const sqlite3 = SQLite.Factory(module);
    const vfs = await VFS.create(vfsName, module, { ...opts, ...vfsOptions });
    return finishOpen(sqlite3, vfs, file, opts);
  }

  return {
    /** Create a table, insert, close cleanly, reopen, read back, integrity_check. */
    async smoke({ vfsName, journal, cache }) {
      await dropDisks(vfsName);
      const opts = { journal, cache };
      let s = await newSession(vfsName, 'smoke.db', opts);
      await s.sqlite3.exec(s.db, 'CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)');
      await s.sqlite3.exec(s.db, 'BEGIN');
      for (let i = 0; i < 200; i++) await s.sqlite3.exec(s.db, `INSERT INTO kv VALUES (${i}, '${'x'.repeat(i)}')`);
      await s.sqlite3.exec(s.db, 'COMMIT');
      const journalMode = (await rows(s.sqlite3, s.db, 'PRAGMA journal_mode'))[0][0];
      await s.sqlite3.close(s.db);
      await s.vfs.close();
      s = await newSession(vfsName, 'smoke.db', opts);
      const back = (await rows(s.sqlite3, s.db, 'SELECT count(*), sum(length(v)) FROM kv'))[0];
      const integrity = (await rows(s.sqlite3, s.db, 'PRAGMA integrity_check')).map((r) => r[0]).join('; ');
      await s.sqlite3.close(s.db);
      await s.vfs.close();
      const disks = (await listDisks()).filter((d) => d.name.startsWith(`${vfsName}.`)).map((d) => d.name);
      await dropDisks(vfsName);
      return { journalMode, count: back[0], bytes: back[1], integrity, disks };
    },

    /**
     * One crash round (see the top of this file). `crashAfterMs`: when the
     * plug is pulled, after the workload starts.
     */
    async crashRound({ vfsName, journal, cache, crashModel, seed, crashAfterMs, maxTransactions }) {
      const rand = prng(seed);
      await dropDisks(vfsName);
      const opts = { journal, cache, crashModel };
      const s = await newSession(vfsName, 'crash.db', opts);
      const { sqlite3, db } = s;
      await sqlite3.exec(
        db,
        'CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, v TEXT NOT NULL);' +
          'CREATE TABLE sums(k INTEGER PRIMARY KEY, tx INTEGER, count INTEGER, total INTEGER, checksum INTEGER);' +
          'INSERT INTO sums VALUES (1, 0, 0, 0, 0);',
      );
      // The state after each transaction (index = its number); 0 is the empty table.
      const expected = [[0, 0, 0]];
      const mirror = new Map();
      let nextId = 1;
      let committed = 0;
      let started = 0;
      let crashed = false;
      let workloadError = null;
      const crash = armCrash(s.vfs, crashAfterMs, blocking, () => {
        if (crashed) return;
        crashed = true;
        s.vfs.powerLoss();
      });
      const workload = (async () => {
        for (let tx = 1; tx <= maxTransactions && !crashed; tx++) {
          const next = new Map(mirror);
          const ops = [];
          const nOps = 1 + Math.floor(rand() * 6);
          for (let i = 0; i < nOps; i++) {
            const ids = [...next.keys()];
            const r = rand();
            const n = Math.floor(rand() * 100000);
            if (ids.length < 5 || r < 0.5) {
              const id = nextId++;
              next.set(id, n);
              ops.push(`INSERT INTO t VALUES (${id}, ${n}, '${'v'.repeat(20 + Math.floor(rand() * 400))}')`);
            } else if (r < 0.8) {
              const id = ids[Math.floor(rand() * ids.length)];
              next.set(id, n);
              ops.push(`UPDATE t SET n = ${n}, v = '${'u'.repeat(Math.floor(rand() * 300))}' WHERE id = ${id}`);
            } else {
              const id = ids[Math.floor(rand() * ids.length)];
              next.delete(id);
              ops.push(`DELETE FROM t WHERE id = ${id}`);
            }
          }
          const state = mirrorState(next);
          ops.push(
            `UPDATE sums SET tx = ${tx}, count = ${state[0]}, total = ${state[1]}, checksum = ${state[2]} WHERE k = 1`,
          );
          expected[tx] = state;
          started = tx;
          await sqlite3.exec(db, `BEGIN; ${ops.join('; ')}; COMMIT;`);
          // COMMIT returned: this transaction must survive.
          if (crashed) break; // (a commit that returns after the plug was pulled is not counted)
          committed = tx;
          for (const k of [...mirror.keys()]) if (!next.has(k)) mirror.delete(k);
          for (const [k, v] of next) mirror.set(k, v);
        }
      })().catch((err) => {
        if (!crashed) workloadError = String(err?.message ?? err);
      });
      await Promise.race([crash, workload.then(() => crash)]);
      await workload;

      // Reopen on a fresh module and VFS.
      const t0 = performance.now();
      const result = {
        committed,
        started,
        workloadError,
        found: null,
        lost: 0,
        integrity: null,
        mismatch: null,
        reopenError: null,
        reopenMs: 0,
      };
      try {
        const r = await newSession(vfsName, 'crash.db', opts);
        result.reopenMs = Math.round(performance.now() - t0);
        result.integrity = (await rows(r.sqlite3, r.db, 'PRAGMA integrity_check')).map((x) => x[0]).join('; ');
        const sums = (await rows(r.sqlite3, r.db, 'SELECT tx, count, total, checksum FROM sums'))[0];
        const got = (await rows(r.sqlite3, r.db, STATE_SQL))[0];
        const tx = sums ? sums[0] : -1;
        result.found = tx;
        result.lost = Math.max(0, committed - tx);
        const want = expected[tx];
        if (!want) result.mismatch = `sums says transaction ${tx}, but only ${started} were started`;
        else if (
          JSON.stringify(got) !== JSON.stringify(want) ||
          JSON.stringify(sums.slice(1)) !== JSON.stringify(want)
        ) {
          result.mismatch = `transaction ${tx}: table ${JSON.stringify(got)}, sums ${JSON.stringify(sums.slice(1))}, expected ${JSON.stringify(want)}`;
        }
        await r.sqlite3.close(r.db);
        await r.vfs.close();
      } catch (err) {
        // A database that does not open, or lacks its tables, lost every commit (unsafe may).
        result.reopenError = String(err?.message ?? err);
        if (result.found === null) result.lost = committed;
      }
      await dropDisks(vfsName).catch(() => undefined);
      return result;
    },
  };
}
