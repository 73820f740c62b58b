// The worker variants of the SQLite lab (sqlite-lab.js): WebdiskSyncVFS on
// wa-sqlite's sync build, which blocks on SyncDisk and so lives in a worker;
// with ?variant=here, WebdiskVFS on the JSPI build with diskWorker: false
// (each disk's core on this thread); with ?variant=sync-here, WebdiskSyncVFS
// on the sync build with diskWorker: false (the core called synchronously on
// this thread). All pull the plug from inside the VFS too: their I/O may
// finish without the event loop running a timer.
// The page (sqlite.html) posts { id, op, args } and gets { id, value } or
// { id, error }; an uncaught error here is posted as { uncaught }.
import { WebdiskSyncVFS, WebdiskVFS } from '/dist/sqlite.js';
import SQLiteFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';
import SQLiteJspiFactory from '/node_modules/@journeyapps/wa-sqlite/dist/wa-sqlite-jspi.mjs';
import { makeLab } from './sqlite-lab.js';

const variant = new URL(import.meta.url).searchParams.get('variant');
const inThread = { diskWorker: false };
const lab =
  variant === 'here'
    ? makeLab({ build: SQLiteJspiFactory, VFS: WebdiskVFS, blocking: true, vfsOptions: inThread })
    : makeLab({
        build: SQLiteFactory,
        VFS: WebdiskSyncVFS,
        blocking: true,
        vfsOptions: variant === 'sync-here' ? inThread : {},
      });

addEventListener('error', (e) => postMessage({ uncaught: String(e.message) }));
addEventListener('unhandledrejection', (e) => postMessage({ uncaught: String(e.reason?.message ?? e.reason) }));
addEventListener('message', async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, value: await lab[op](args) });
  } catch (err) {
    postMessage({ id, error: String(err?.message ?? err) });
  }
});
