// wa-sqlite's own OPFS VFSes (synchronous, so in a worker, with the sync
// build), for the benchmark's comparison rows: the same workload as the page.
import SQLiteFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';
import { AccessHandlePoolVFS } from '/node_modules/@journeyapps/wa-sqlite/src/examples/AccessHandlePoolVFS.js';
import { OPFSCoopSyncVFS } from '/node_modules/@journeyapps/wa-sqlite/src/examples/OPFSCoopSyncVFS.js';
import * as SQLite from '/node_modules/@journeyapps/wa-sqlite/src/sqlite-api.js';
import { commitsPerSecond } from './workload.js';

const VFSES = { OPFSCoopSyncVFS, AccessHandlePoolVFS };

addEventListener('message', async ({ data: { vfs, journal, opts } }) => {
  try {
    const module = await SQLiteFactory();
    const sqlite3 = SQLite.Factory(module);
    const name = `${vfs}-${journal}`;
    const instance = await VFSES[vfs].create(name, module);
    sqlite3.vfs_register(instance, false);
    postMessage({ txPerSecond: await commitsPerSecond(sqlite3, name, `bench-${journal}.db`, journal, opts) });
  } catch (err) {
    postMessage({ error: String(err?.message ?? err) });
  }
});
