/**
 * WebdiskSyncVFS: WebdiskVFS's blocking twin, for wa-sqlite's synchronous
 * build (no Asyncify: every VFS call is a plain call) in a worker. File I/O
 * blocks on a SyncDisk per file (Atomics.wait on the disk worker's shared
 * ring); the file format, locks and errors are WebdiskVFS's (vfs-base.ts,
 * disk-file.ts).
 *
 * Opening a disk is async (a disk worker starts), and xOpen cannot wait.
 * As wa-sqlite's OPFSCoopSyncVFS does, the first xOpen of a database
 * starts opening the disks of the database, its journal and its WAL,
 * hands the promise to the module (`retryOps`) and answers SQLITE_BUSY;
 * wa-sqlite's API waits for it and calls again, and then the files are
 * there. The disks live in their own workers, which this one owns — or,
 * with `diskWorker: false`, on this thread: the block core is then called
 * synchronously (BlockDevice.readIntoSync…), with no thread hand-off and
 * no promise per call (OPFS or memory disks).
 */

import { Disk } from '../../client/disk';
import type { OpenDiskOptions } from '../../client/open-disk';
import { checkCanBlock, SyncDisk } from '../../client/sync-disk';
import { checkIsolation } from '../../client/sync-ports';
import { DiskError } from '../../core/errors';
import { InThreadDisk } from '../../worker/in-thread-disk';
import {
  SQLITE_BUSY,
  SQLITE_CANTOPEN,
  SQLITE_IOERR,
  SQLITE_IOERR_DELETE,
  SQLITE_IOERR_FSYNC,
  SQLITE_IOERR_READ,
  SQLITE_OK,
  SQLITE_OPEN_MAIN_DB,
} from './constants';
import type { DiskFile } from './disk-file';
import type { OutParam, SQLiteModule, WasmBytes } from './facade';
import type { FileIo } from './file-io';
import { diskNameFor } from './names';
import { SyncFileIo } from './sync-file-io';
import { durablePath, mayCreate, prepareCreate, WebdiskVFSBase, type WebdiskVFSOptions } from './vfs-base';

/** A database's files, opened together when the database is: its own, its rollback journal, its WAL. */
const DB_FILE_SUFFIXES = ['', '-journal', '-wal'];

/** Bytes of each file's shared ring data area: SQLite's largest page (64 KiB) and then some. */
const SYNC_BUFFER_BYTES = 256 << 10;

/** A wa-sqlite module after SQLite.Factory(module): it waits for `retryOps` and retries the call. */
interface RetryingModule {
  retryOps: Promise<unknown>[];
}

function isRetrying(module: SQLiteModule): module is RetryingModule {
  return Array.isArray((module as { retryOps?: unknown }).retryOps);
}

export class WebdiskSyncVFS extends WebdiskVFSBase<void> {
  /** Files whose disk is open and blocking I/O ready, by disk name. */
  private readonly ready = new Map<string, DiskFile<void>>();
  /** Opens that failed, by disk name: the retried call reports the error (once). */
  private readonly openFailures = new Map<string, unknown>();

  /**
   * A VFS named `name` (1–24 characters of `A-Z a-z 0-9 . _ -`) for
   * `module`, wa-sqlite's sync build, after `SQLite.Factory(module)`. In a
   * cross-origin isolated worker only (it blocks with Atomics.wait); on a
   * page, use WebdiskVFS with the async build. Options as WebdiskVFS's.
   */
  static async create(name: string, module: SQLiteModule, options: WebdiskVFSOptions = {}): Promise<WebdiskSyncVFS> {
    // In-thread disks never block: no Atomics.wait, no shared memory.
    if (options.diskWorker !== false) {
      checkIsolation();
      checkCanBlock(undefined, 'WebdiskSyncVFS', 'use it in a worker, or WebdiskVFS (async build) on the page');
    }
    if (!isRetrying(module)) {
      throw new DiskError(
        'EINVAL',
        'WebdiskSyncVFS.create: pass the module after SQLite.Factory(module) (opening a file waits through its retryOps).',
      );
    }
    return new WebdiskSyncVFS(name, module, options, await prepareCreate(name));
  }

  private constructor(
    name: string,
    private readonly module: RetryingModule,
    options: WebdiskVFSOptions,
    stored: Set<string>,
  ) {
    super(name, module, options, stored);
  }

  protected async fileIo(disk: Disk | InThreadDisk): Promise<FileIo<void>> {
    if (disk instanceof Disk) {
      return new SyncFileIo(disk, new SyncDisk(await disk.openSync({ bufferSize: SYNC_BUFFER_BYTES })));
    }
    return new SyncFileIo(disk, {
      readInto: (offset, dst) => disk.readIntoSync(offset, dst),
      write: (offset, data, opts) => disk.writeSync(offset, data, { fua: opts?.fua === true }),
      flush: () => disk.flushSync(),
      discard: (offset, length) => disk.discardSync(offset, length),
      // Each call was done before it returned: nothing to wait for.
      settle: () => undefined,
    });
  }

  protected override openInThread(opts: OpenDiskOptions): Promise<InThreadDisk> {
    return InThreadDisk.open(opts, { synchronous: true });
  }

  protected idle(): void {}

  override powerLoss(): void {
    this.ready.clear();
    super.powerLoss();
  }

  override close(): Promise<void> {
    this.ready.clear();
    return super.close();
  }

  // ------------------------------------------------ SQLite's VFS methods, blocking

  jOpen(path: string | null, pFile: number, flags: number, pOutFlags: OutParam): number {
    try {
      this.alive();
      const durable = durablePath(path, flags);
      if (durable === null) return this.bind(path, pFile, flags, null, pOutFlags);
      const main = (flags & SQLITE_OPEN_MAIN_DB) !== 0;
      const file = this.opened(main ? DB_FILE_SUFFIXES.map((s) => durable + s) : [durable], mayCreate(flags));
      return file ? this.bind(path, pFile, flags, file, pOutFlags) : SQLITE_BUSY;
    } catch (err) {
      return this.failed(err, SQLITE_CANTOPEN);
    }
  }

  jDelete(path: string, _syncDir: number): number {
    try {
      this.alive();
      if (!this.isStored(path)) return SQLITE_OK;
      const file = this.opened([path], false);
      if (!file) return SQLITE_BUSY;
      if (file.exists) file.remove();
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_DELETE);
    }
  }

  jAccess(path: string, _flags: number, pResOut: OutParam): number {
    try {
      this.alive();
      let exists = false;
      if (this.isStored(path)) {
        const file = this.opened([path], false);
        if (!file) return SQLITE_BUSY;
        exists = file.exists;
      }
      // SQLITE_ACCESS_EXISTS and READWRITE get the same answer: every file here is writable.
      pResOut.setInt32(0, Number(exists), true);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR);
    }
  }

  jRead(pFile: number, pData: WasmBytes, offset: number): number {
    try {
      return this.finishRead(pData, this.startRead(pFile, pData.length, offset).bytes);
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_READ);
    }
  }

  jSync(pFile: number, _flags: number): number {
    try {
      this.syncFile(pFile);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_FSYNC);
    }
  }

  // ------------------------------------------------------------ internals

  /**
   * The file at `paths[0]` if its disk is ready; else undefined, once the
   * opening of every disk of `paths` not ready yet has been started and
   * handed to the module to wait for before it retries (the caller answers
   * SQLITE_BUSY). A failed open is thrown here, on the retry.
   */
  private opened(paths: string[], create: boolean): DiskFile<void> | undefined {
    const name = diskNameFor(this.name, paths[0]);
    const file = this.ready.get(name);
    if (file) return file;
    if (this.openFailures.has(name)) {
      const err = this.openFailures.get(name);
      this.openFailures.delete(name);
      throw err;
    }
    const opening = paths
      .filter((p) => !this.ready.has(diskNameFor(this.name, p)))
      .map((p) => {
        const key = diskNameFor(this.name, p);
        // The journal and WAL are made with the database, empty (absent, to SQLite) until used.
        return this.diskFile(p, p === paths[0] ? create : true).then(
          (f) => void this.ready.set(key, f),
          (err: unknown) => void this.openFailures.set(key, err),
        );
      });
    this.module.retryOps.push(Promise.all(opening));
    return undefined;
  }
}
