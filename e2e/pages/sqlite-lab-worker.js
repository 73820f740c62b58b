// The sync variant of the SQLite lab (sqlite-lab.js): WebdiskSyncVFS on
// wa-sqlite's sync build, which blocks on SyncDisk and so lives in a worker.
// The page (sqlite.html) posts { id, op, args } and gets { id, value } or
// { id, error }; an uncaught error here is posted as { uncaught }.
import { WebdiskSyncVFS } from '/dist/sqlite.js';
import SQLiteFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';
import { makeLab } from './sqlite-lab.js';

const lab = makeLab({ build: SQLiteFactory, VFS: WebdiskSyncVFS, blocking: true });

addEventListener('error', (e) => postMessage({ uncaught: String(e.message) }));
addEventListener('unhandledrejection', (e) => postMessage({ uncaught: String(e.reason?.message ?? e.reason) }));
addEventListener('message', async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, value: await lab[op](args) });
  } catch (err) {
    postMessage({ id, error: String(err?.message ?? err) });
  }
});
