// wa-sqlite's own OPFS VFSes (synchronous, so in a worker, with the sync
// build), for the benchmark's comparison rows, and webdisk/sqlite in a
// worker (async build, `webdisk <mode>`): the same workload as the page.

import { WebdiskVFS } from '/dist/sqlite.js';
import SQLiteFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';
import SQLiteAsyncFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs';
import { AccessHandlePoolVFS } from '/node_modules/@journeyapps/wa-sqlite/src/examples/AccessHandlePoolVFS.js';
import { OPFSCoopSyncVFS } from '/node_modules/@journeyapps/wa-sqlite/src/examples/OPFSCoopSyncVFS.js';
import * as SQLite from '/node_modules/@journeyapps/wa-sqlite/src/sqlite-api.js';
import { commitsPerSecond } from './workload.js';

const VFSES = { OPFSCoopSyncVFS, AccessHandlePoolVFS };

addEventListener('message', async ({ data: { vfs, journal, opts } }) => {
  try {
    // webdisk/sqlite in a worker too (async build): the same VFS as on the page.
    const webdisk = vfs.startsWith('webdisk ');
    const module = await (webdisk ? SQLiteAsyncFactory() : SQLiteFactory());
    const sqlite3 = SQLite.Factory(module);
    const name = webdisk ? `w-${vfs.slice(8)}-${journal}` : `${vfs}-${journal}`;
    const instance = webdisk
      ? await WebdiskVFS.create(name, module, { cache: vfs.slice(8) })
      : await VFSES[vfs].create(name, module);
    sqlite3.vfs_register(instance, false);
    const txPerSecond = await commitsPerSecond(sqlite3, name, `bench-${journal}.db`, journal, opts);
    await instance.close();
    postMessage({ txPerSecond });
  } catch (err) {
    postMessage({ error: String(err?.message ?? err) });
  }
});
