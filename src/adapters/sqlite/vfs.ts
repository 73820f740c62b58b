/**
 * WebdiskVFS: a wa-sqlite VFS (it extends the package's FacadeVFS) that
 * keeps SQLite's files on webdisk disks, one thin disk per file (see
 * disk-file.ts), under the cache mode the VFS was created with. Its I/O
 * methods are async (the `Disk` API): use wa-sqlite's async (Asyncify) or
 * JSPI build, on a page or in a worker. WebdiskSyncVFS (sync-vfs.ts) is its
 * blocking twin for the sync build in a worker.
 */

import type { Disk } from '../../client/disk';
import type { InThreadDisk } from '../../worker/in-thread-disk';
import {
  SQLITE_CANTOPEN,
  SQLITE_IOERR,
  SQLITE_IOERR_DELETE,
  SQLITE_IOERR_FSYNC,
  SQLITE_IOERR_READ,
  SQLITE_OK,
} from './constants';
import type { OutParam, SQLiteModule, WasmBytes } from './facade';
import { AsyncFileIo, type FileIo } from './file-io';
import { durablePath, mayCreate, prepareCreate, WebdiskVFSBase, type WebdiskVFSOptions } from './vfs-base';

export type { WebdiskVFSOptions } from './vfs-base';

export class WebdiskVFS extends WebdiskVFSBase<Promise<void>> {
  /**
   * A VFS named `name` (1–24 characters of `A-Z a-z 0-9 . _ -`; it prefixes
   * its disks' names) for the SQLite module `module` (wa-sqlite's async or
   * JSPI build). Register it with `sqlite3.vfs_register(vfs, makeDefault)`.
   */
  static async create(name: string, module: SQLiteModule, options: WebdiskVFSOptions = {}): Promise<WebdiskVFS> {
    return new WebdiskVFS(name, module, options, await prepareCreate(name));
  }

  protected async fileIo(disk: Disk | InThreadDisk): Promise<FileIo<Promise<void>>> {
    return new AsyncFileIo(disk);
  }

  protected idle(): Promise<void> {
    return Promise.resolve();
  }

  // ------------------------------------------------ SQLite's VFS methods that wait

  async jOpen(path: string | null, pFile: number, flags: number, pOutFlags: OutParam): Promise<number> {
    try {
      this.alive();
      const durable = durablePath(path, flags);
      const file = durable === null ? null : await this.diskFile(durable, mayCreate(flags));
      return this.bind(path, pFile, flags, file, pOutFlags);
    } catch (err) {
      return this.failed(err, SQLITE_CANTOPEN);
    }
  }

  async jDelete(path: string, _syncDir: number): Promise<number> {
    try {
      this.alive();
      if (!this.isStored(path)) return SQLITE_OK;
      const file = await this.diskFile(path, false);
      if (file.exists) await file.remove();
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_DELETE);
    }
  }

  async jAccess(path: string, _flags: number, pResOut: OutParam): Promise<number> {
    try {
      this.alive();
      const exists = this.isStored(path) && (await this.diskFile(path, false)).exists;
      // SQLITE_ACCESS_EXISTS and READWRITE get the same answer: every file here is writable.
      pResOut.setInt32(0, Number(exists), true);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR);
    }
  }

  async jRead(pFile: number, pData: WasmBytes, offset: number): Promise<number> {
    try {
      const r = this.startRead(pFile, pData.length, offset);
      await r.done;
      return this.finishRead(pData, r.bytes);
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_READ);
    }
  }

  async jSync(pFile: number, _flags: number): Promise<number> {
    try {
      await this.syncFile(pFile);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_FSYNC);
    }
  }
}
