/**
 * WebdiskVFS: a wa-sqlite VFS (it extends the package's FacadeVFS) that
 * keeps SQLite's files on webdisk disks, one thin disk per file (see
 * disk-file.ts), under the cache mode the VFS was created with. Its I/O
 * methods are async (the `Disk` API): use wa-sqlite's async build, on a
 * page or in a worker.
 */

import { listDisks } from '../../client/manage';
import { openDisk } from '../../client/open-disk';
import { DiskError } from '../../core/errors';
import type { BackendChoice, CacheMode, CrashModel } from '../../core/types';
import {
  SQLITE_CANTOPEN,
  SQLITE_FULL,
  SQLITE_IOCAP_POWERSAFE_OVERWRITE,
  SQLITE_IOERR,
  SQLITE_IOERR_CLOSE,
  SQLITE_IOERR_DELETE,
  SQLITE_IOERR_FSYNC,
  SQLITE_IOERR_READ,
  SQLITE_IOERR_SHORT_READ,
  SQLITE_IOERR_TRUNCATE,
  SQLITE_IOERR_WRITE,
  SQLITE_NOTFOUND,
  SQLITE_OK,
  SQLITE_OPEN_CREATE,
  SQLITE_OPEN_DELETEONCLOSE,
  SQLITE_OPEN_MAIN_DB,
  SQLITE_OPEN_MAIN_JOURNAL,
  SQLITE_OPEN_WAL,
} from './constants';
import { DiskFile } from './disk-file';
import { sqliteCode } from './errors';
import { FacadeVFS, type OutParam, type SQLiteModule, type WasmBytes } from './facade';
import { HEADER_BYTES } from './header';
import { MemoryFile } from './memory-file';
import { diskNameFor, validVfsName } from './names';

export interface WebdiskVFSOptions {
  /** The cache mode of every disk the VFS opens (default 'writeback'). */
  cache?: CacheMode;
  /** Where the disks live (default 'auto': OPFS, else IndexedDB). */
  backend?: BackendChoice;
  /** What powerLoss() loses (default 'process'); see openDisk. */
  crashModel?: CrashModel;
  /** The largest a file may grow, in bytes (default 1 GiB; disks are thin: space follows what is written). */
  maxFileSize?: number;
  /** How long opening a file waits for a disk another open is releasing (e.g. after powerLoss(); default 10 s). */
  lockTimeoutMs?: number;
}

/** An open SQLite file: on a disk, or in memory (temporary files). */
interface Handle {
  readonly path: string;
  readonly file: DiskFile | MemoryFile;
  lock: number;
}

const DEFAULT_MAX_FILE = 1 << 30;

export class WebdiskVFS extends FacadeVFS {
  /** The cache mode of the VFS's disks. */
  readonly cacheMode: CacheMode;
  private readonly options: Required<Pick<WebdiskVFSOptions, 'maxFileSize' | 'lockTimeoutMs'>> & WebdiskVFSOptions;
  /** Disk names that exist in storage (listed at create, added to as files are made). */
  private readonly stored: Set<string>;
  /** Disks opened so far, by disk name: kept open until close() or powerLoss(). */
  private readonly files = new Map<string, Promise<DiskFile>>();
  private readonly handles = new Map<number, Handle>();
  private lastError = '';
  private ended: 'closed' | 'power loss' | undefined;

  /**
   * A VFS named `name` (1–24 characters of `A-Z a-z 0-9 . _ -`; it prefixes
   * its disks' names) for the SQLite module `module` (wa-sqlite's async
   * build). Register it with `sqlite3.vfs_register(vfs, makeDefault)`.
   */
  static async create(name: string, module: SQLiteModule, options: WebdiskVFSOptions = {}): Promise<WebdiskVFS> {
    if (!validVfsName(name)) {
      throw new DiskError('EINVAL', `VFS name ${JSON.stringify(name)}: use 1–24 characters of A-Z a-z 0-9 . _ -`);
    }
    const stored = new Set((await listDisks()).map((d) => d.name));
    return new WebdiskVFS(name, module, options, stored);
  }

  private constructor(name: string, module: SQLiteModule, options: WebdiskVFSOptions, stored: Set<string>) {
    super(name, module);
    this.cacheMode = options.cache ?? 'writeback';
    this.options = {
      ...options,
      maxFileSize: options.maxFileSize ?? DEFAULT_MAX_FILE,
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    };
    this.stored = stored;
  }

  /** Pulls the plug on every disk the VFS holds (webdisk's powerLoss()); the next create() reopens them. */
  powerLoss(): void {
    this.ended ??= 'power loss';
    for (const file of this.files.values())
      file.then(
        (f) => f.disk.powerLoss(),
        () => undefined,
      );
    this.files.clear();
    this.handles.clear();
  }

  /** Closes every disk cleanly (written back, synced, marked clean). Close the databases first. */
  override async close(): Promise<void> {
    if (this.ended) return;
    this.ended = 'closed';
    const files = await Promise.allSettled(this.files.values());
    this.files.clear();
    this.handles.clear();
    for (const f of files) if (f.status === 'fulfilled') await f.value.close();
  }

  /** The last error a method met, for people (SQLite gets a code). */
  get lastErrorMessage(): string {
    return this.lastError;
  }

  // ------------------------------------------------ SQLite's VFS methods

  async jOpen(path: string | null, pFile: number, flags: number, pOutFlags: OutParam): Promise<number> {
    try {
      this.alive();
      const durable = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL)) !== 0;
      if (path === null || !durable || (flags & SQLITE_OPEN_DELETEONCLOSE) !== 0) {
        this.handles.set(pFile, { path: path ?? '', file: new MemoryFile(), lock: 0 });
      } else {
        const file = await this.diskFile(path, (flags & SQLITE_OPEN_CREATE) !== 0);
        if (!file.exists) {
          if ((flags & SQLITE_OPEN_CREATE) === 0) return SQLITE_CANTOPEN;
          file.create();
        }
        file.opens++;
        this.handles.set(pFile, { path, file, lock: 0 });
      }
      pOutFlags.setInt32(0, flags, true);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_CANTOPEN);
    }
  }

  async jDelete(path: string, _syncDir: number): Promise<number> {
    try {
      this.alive();
      const name = diskNameFor(this.name, path);
      if (!this.files.has(name) && !this.stored.has(name)) return SQLITE_OK;
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
      const name = diskNameFor(this.name, path);
      let exists = false;
      if (this.files.has(name) || this.stored.has(name)) exists = (await this.diskFile(path, false)).exists;
      // SQLITE_ACCESS_EXISTS and READWRITE get the same answer: every file here is writable.
      pResOut.setInt32(0, Number(exists), true);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR);
    }
  }

  jClose(pFile: number): number {
    const h = this.handles.get(pFile);
    this.handles.delete(pFile);
    if (h?.file instanceof DiskFile) {
      h.file.locks.unlock(pFile, 0);
      h.file.opens--;
    }
    return this.ended === 'power loss' ? SQLITE_IOERR_CLOSE : SQLITE_OK;
  }

  async jRead(pFile: number, pData: WasmBytes, offset: number): Promise<number> {
    try {
      const h = this.handle(pFile);
      const n = pData.length;
      const got = h.file instanceof DiskFile ? await h.file.read(offset, n) : h.file.read(offset, n);
      // Copied in only now, through the proxy: the wasm memory may have moved during the await.
      pData.set(got);
      if (got.length < n) pData.fill(0, got.length, n);
      return got.length < n ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_READ);
    }
  }

  /** Synchronous: the write is issued, and waited for (its error reported) by the next xSync (see DiskFile.write). */
  jWrite(pFile: number, pData: WasmBytes, offset: number): number {
    try {
      const h = this.handle(pFile);
      if (h.file instanceof MemoryFile) {
        h.file.write(pData.subarray(), offset);
        return SQLITE_OK;
      }
      if (offset + pData.length > Math.min(this.options.maxFileSize, h.file.capacity)) return SQLITE_FULL;
      // Disk.write copies the bytes before it returns.
      h.file.write(pData.subarray(), offset);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_WRITE);
    }
  }

  jTruncate(pFile: number, size: number): number {
    try {
      const h = this.handle(pFile);
      if (h.file instanceof MemoryFile) h.file.truncate(size);
      else if (size > Math.min(this.options.maxFileSize, h.file.capacity)) return SQLITE_FULL;
      else h.file.truncate(size);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_TRUNCATE);
    }
  }

  async jSync(pFile: number, _flags: number): Promise<number> {
    try {
      const h = this.handle(pFile);
      if (h.file instanceof DiskFile) await h.file.sync();
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR_FSYNC);
    }
  }

  jFileSize(pFile: number, pSize: OutParam): number {
    try {
      pSize.setBigInt64(0, BigInt(this.handle(pFile).file.length), true);
      return SQLITE_OK;
    } catch (err) {
      return this.failed(err, SQLITE_IOERR);
    }
  }

  jLock(pFile: number, level: number): number {
    const h = this.handles.get(pFile);
    if (!h) return SQLITE_IOERR;
    const rc = h.file instanceof DiskFile ? h.file.locks.lock(pFile, level) : SQLITE_OK;
    if (rc === SQLITE_OK) h.lock = level;
    return rc;
  }

  jUnlock(pFile: number, level: number): number {
    const h = this.handles.get(pFile);
    if (!h) return SQLITE_OK;
    if (h.file instanceof DiskFile) h.file.locks.unlock(pFile, level);
    h.lock = level;
    return SQLITE_OK;
  }

  jCheckReservedLock(pFile: number, pResOut: OutParam): number {
    const h = this.handles.get(pFile);
    pResOut.setInt32(0, h?.file instanceof DiskFile && h.file.locks.reserved() ? 1 : 0, true);
    return SQLITE_OK;
  }

  jFileControl(_pFile: number, _op: number, _pArg: DataView): number {
    return SQLITE_NOTFOUND;
  }

  jSectorSize(_pFile: number): number {
    return HEADER_BYTES; // the disks' block: the unit a crash keeps whole
  }

  /**
   * POWERSAFE_OVERWRITE in every mode: webdisk keeps each block whole
   * through a crash (its old or a newer content), so a write never damages
   * bytes it did not cover. Not claimed: SAFE_APPEND and SEQUENTIAL (the
   * length is saved at xSync only; writeback and none reorder writes until a
   * flush), ATOMIC* (a write spanning blocks can be kept in part).
   */
  jDeviceCharacteristics(_pFile: number): number {
    return SQLITE_IOCAP_POWERSAFE_OVERWRITE;
  }

  jGetLastError(zBuf: WasmBytes): number {
    const bytes = new TextEncoder().encode(this.lastError);
    const n = Math.min(bytes.length, zBuf.length - 1);
    if (n >= 0) {
      zBuf.set(bytes.subarray(0, n));
      zBuf.fill(0, n, n + 1);
    }
    return SQLITE_OK;
  }

  // ------------------------------------------------------------ internals

  /** The file at `path`, its disk opened (and made, if `create`) the first time. */
  private diskFile(path: string, create: boolean): Promise<DiskFile> {
    const name = diskNameFor(this.name, path);
    let file = this.files.get(name);
    if (!file) {
      const exists = this.stored.has(name);
      if (!exists && !create) throw new DiskError('EINVAL', `No file ${path}.`);
      file = openDisk({
        name,
        size: exists ? undefined : this.options.maxFileSize + HEADER_BYTES,
        cache: this.cacheMode,
        backend: this.options.backend,
        crashModel: this.options.crashModel,
        lockTimeoutMs: this.options.lockTimeoutMs,
      }).then(DiskFile.load);
      this.files.set(name, file);
      this.stored.add(name);
      // A failed open is forgotten, so a later call tries again.
      file.catch(() => {
        if (this.files.get(name) === file) this.files.delete(name);
      });
    }
    return file;
  }

  private handle(pFile: number): Handle {
    this.alive();
    const h = this.handles.get(pFile);
    if (!h) throw new DiskError('EINVAL', `SQLite file ${pFile} is not open.`);
    return h;
  }

  private alive(): void {
    if (this.ended)
      throw new DiskError(
        'ECLOSED',
        `VFS ${this.name} is ${this.ended === 'closed' ? 'closed' : 'cut off by a power loss'}: create it again.`,
      );
  }

  /** Never a throw out of a VFS method: the error is kept, SQLite gets a code. */
  private failed(err: unknown, ioerr: number): number {
    this.lastError = err instanceof Error ? err.message : String(err);
    return sqliteCode(err, ioerr);
  }
}
