// The benchmark's worker rows, one row per worker: wa-sqlite's own OPFS
// VFSes (synchronous, sync build) for comparison, and webdisk/sqlite in a
// worker: `webdisk <mode>` (WebdiskVFS, async build), `webdisk-jspi <mode>`
// (WebdiskVFS, JSPI build), `webdisk-sync <mode>` (WebdiskSyncVFS over
// SyncDisk, sync build), `webdisk-here <mode>` (WebdiskVFS, JSPI build,
// diskWorker: false), `webdisk-synchere <mode>` (WebdiskSyncVFS, sync build,
// diskWorker: false: the core called synchronously) — the same workload as the page.

import { WebdiskSyncVFS, WebdiskVFS } from '/dist/sqlite.js';
import { deleteDisk, listDisks } from '/dist/webdisk.js';
import SQLiteFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';
import SQLiteAsyncFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs';
import SQLiteJspiFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite-jspi.mjs';
import { AccessHandlePoolVFS } from '/node_modules/@journeyapps/wa-sqlite/src/examples/AccessHandlePoolVFS.js';
import { OPFSCoopSyncVFS } from '/node_modules/@journeyapps/wa-sqlite/src/examples/OPFSCoopSyncVFS.js';
import * as SQLite from '/node_modules/@journeyapps/wa-sqlite/src/sqlite-api.js';
import { commitsPerSecond } from './workload.js';

/** Per kind of row: the SQLite build and how to make the VFS (`cache` for webdisk's). */
const KINDS = {
  OPFSCoopSyncVFS: { build: SQLiteFactory, vfs: (name, module) => OPFSCoopSyncVFS.create(name, module) },
  AccessHandlePoolVFS: { build: SQLiteFactory, vfs: (name, module) => AccessHandlePoolVFS.create(name, module) },
  webdisk: { build: SQLiteAsyncFactory, vfs: (name, module, cache) => WebdiskVFS.create(name, module, { cache }) },
  'webdisk-jspi': {
    build: SQLiteJspiFactory,
    vfs: (name, module, cache) => WebdiskVFS.create(name, module, { cache }),
  },
  // WebdiskVFS with each disk's core on this worker's thread (diskWorker: false), JSPI build.
  'webdisk-here': {
    build: SQLiteJspiFactory,
    vfs: (name, module, cache) => WebdiskVFS.create(name, module, { cache, diskWorker: false }),
  },
  'webdisk-sync': {
    build: SQLiteFactory,
    vfs: (name, module, cache) => WebdiskSyncVFS.create(name, module, { cache }),
  },
  // WebdiskSyncVFS with each disk's core on this worker's thread, called synchronously (sync build).
  'webdisk-synchere': {
    build: SQLiteFactory,
    vfs: (name, module, cache) => WebdiskSyncVFS.create(name, module, { cache, diskWorker: false }),
  },
};

/** A letter per webdisk kind, for VFS names (24 characters at most). */
const SHORT = { webdisk: '', 'webdisk-jspi': 'j', 'webdisk-here': 'h', 'webdisk-sync': 's', 'webdisk-synchere': 't' };

addEventListener('message', async ({ data: { vfs, journal, opts } }) => {
  try {
    const [kind, cache] = vfs.split(' ');
    const module = await KINDS[kind].build();
    const sqlite3 = SQLite.Factory(module);
    const name = cache ? `w${SHORT[kind]}-${cache}-${journal}` : `${vfs}-${journal}`;
    const instance = await KINDS[kind].vfs(name, module, cache);
    sqlite3.vfs_register(instance, false);
    const txPerSecond = await commitsPerSecond(sqlite3, name, `bench-${journal}.db`, journal, opts);
    await instance.close();
    if (cache) for (const d of await listDisks()) if (d.name.startsWith(`${name}.`)) await deleteDisk(d.name);
    postMessage({ txPerSecond });
  } catch (err) {
    postMessage({ error: String(err?.message ?? err) });
  }
});
