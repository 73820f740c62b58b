/**
 * What WebdiskVFS (async I/O, wa-sqlite's async or JSPI build) and
 * WebdiskSyncVFS (blocking I/O through SyncDisk, the sync build in a
 * worker) share: options, opening a file's disk, the open files, and every
 * VFS method that never waits. The subclasses add the methods that may wait
 * (xOpen, xDelete, xAccess, xRead, xSync) — async in one, plain in the
 * other, which is how wa-sqlite tells them apart (FacadeVFS.hasAsyncMethod).
 */

import type { Disk } from '../../client/disk';
import { listDisks } from '../../client/manage';
import { type OpenDiskOptions, openDisk } from '../../client/open-disk';
import { DiskError } from '../../core/errors';
import type { BackendChoice, CacheMode, CrashModel } from '../../core/types';
import { InThreadDisk } from '../../worker/in-thread-disk';
import {
  SQLITE_CANTOPEN,
  SQLITE_FULL,
  SQLITE_IOCAP_POWERSAFE_OVERWRITE,
  SQLITE_IOERR,
  SQLITE_IOERR_CLOSE,
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
import { DiskFile, type FileRead } from './disk-file';
import { sqliteCode } from './errors';
import { FacadeVFS, type OutParam, type SQLiteModule, type WasmBytes } from './facade';
import type { FileIo, Wait } from './file-io';
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
  /**
   * false: each disk's block core runs on the VFS's own thread instead of a
   * disk worker of its own (in a worker: OPFS sync access handles are
   * worker-only) — no thread hand-off per request
   * (README, SQLite). With WebdiskSyncVFS the core is called synchronously
   * (OPFS or memory disks only). Default true.
   */
  diskWorker?: boolean;
}

/** An open SQLite file: on a disk, or in memory (temporary files). */
export interface Handle<W extends Wait> {
  readonly path: string;
  readonly file: DiskFile<W> | MemoryFile;
  lock: number;
}

const DEFAULT_MAX_FILE = 1 << 30;

/** Checks a VFS name and lists the disks in storage, for a subclass's create(). */
export async function prepareCreate(name: string): Promise<Set<string>> {
  if (!validVfsName(name)) {
    throw new DiskError('EINVAL', `VFS name ${JSON.stringify(name)}: use 1–24 characters of A-Z a-z 0-9 . _ -`);
  }
  return new Set((await listDisks()).map((d) => d.name));
}

/**
 * The path of a file xOpen keeps on a disk, or null for one SQLite may lose
 * on a crash (temporary, deleted on close, or without a name): kept in memory.
 */
export function durablePath(path: string | null, flags: number): string | null {
  const durable = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL)) !== 0;
  return path === null || !durable || (flags & SQLITE_OPEN_DELETEONCLOSE) !== 0 ? null : path;
}

/** xOpen may make the file. */
export const mayCreate = (flags: number): boolean => (flags & SQLITE_OPEN_CREATE) !== 0;

export abstract class WebdiskVFSBase<W extends Wait> extends FacadeVFS {
  /** The cache mode of the VFS's disks. */
  readonly cacheMode: CacheMode;
  protected readonly options: Required<Pick<WebdiskVFSOptions, 'maxFileSize' | 'lockTimeoutMs'>> & WebdiskVFSOptions;
  /** Disk names that exist in storage (listed at create, added to as files are made). */
  protected readonly stored: Set<string>;
  /** Disks opened so far, by disk name: kept open until close() or powerLoss(). */
  protected readonly files = new Map<string, Promise<DiskFile<W>>>();
  protected readonly handles = new Map<number, Handle<W>>();
  private lastError = '';
  private ended: 'closed' | 'power loss' | undefined;

  protected constructor(name: string, module: SQLiteModule, options: WebdiskVFSOptions, stored: Set<string>) {
    super(name, module);
    this.cacheMode = options.cache ?? 'writeback';
    this.options = {
      ...options,
      maxFileSize: options.maxFileSize ?? DEFAULT_MAX_FILE,
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    };
    this.stored = stored;
  }

  /** The I/O of a file on `disk`, just opened (an InThreadDisk with diskWorker: false). */
  protected abstract fileIo(disk: Disk | InThreadDisk): Promise<FileIo<W>>;

  /** A wait that is already over. */
  protected abstract idle(): W;

  /** Opens a disk whose core runs on this thread (diskWorker: false). */
  protected openInThread(opts: OpenDiskOptions): Promise<InThreadDisk> {
    return InThreadDisk.open(opts);
  }

  /** Pulls the plug on every disk the VFS holds (webdisk's powerLoss()); the next create() reopens them. */
  powerLoss(): void {
    this.ended ??= 'power loss';
    for (const file of this.files.values())
      file.then(
        (f) => f.io.powerLoss(),
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

  // ------------------------------------------------ SQLite's VFS methods that never wait

  jClose(pFile: number): number {
    const h = this.handles.get(pFile);
    this.handles.delete(pFile);
    if (h?.file instanceof DiskFile) {
      h.file.locks.unlock(pFile, 0);
      h.file.opens--;
    }
    return this.ended === 'power loss' ? SQLITE_IOERR_CLOSE : SQLITE_OK;
  }

  /** Synchronous: the write is issued, its error reported by the next xSync (see DiskFile.write). */
  jWrite(pFile: number, pData: WasmBytes, offset: number): number {
    try {
      const h = this.handle(pFile);
      if (h.file instanceof MemoryFile) {
        h.file.write(pData.subarray(), offset);
        return SQLITE_OK;
      }
      if (offset + pData.length > Math.min(this.options.maxFileSize, h.file.capacity)) return SQLITE_FULL;
      // The I/O copies the bytes before it returns.
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

  // ------------------------------------------------ halves of the methods that may wait

  /** xOpen once the file's disk (if it has one) is open: `file` is null for a temporary file. */
  protected bind(
    path: string | null,
    pFile: number,
    flags: number,
    file: DiskFile<W> | null,
    pOutFlags: OutParam,
  ): number {
    if (file === null) {
      this.handles.set(pFile, { path: path ?? '', file: new MemoryFile(), lock: 0 });
    } else {
      if (!file.exists) {
        if (!mayCreate(flags)) return SQLITE_CANTOPEN;
        file.create();
      }
      file.opens++;
      this.handles.set(pFile, { path: path ?? '', file, lock: 0 });
    }
    pOutFlags.setInt32(0, flags, true);
    return SQLITE_OK;
  }

  /** xRead begun: the bytes are there once `done` is. */
  protected startRead(pFile: number, n: number, offset: number): FileRead<W> {
    const h = this.handle(pFile);
    if (h.file instanceof DiskFile) return h.file.read(offset, n);
    return { bytes: h.file.read(offset, n), done: this.idle() };
  }

  /** xRead's end: the bytes read, copied in through the proxy (the wasm memory may have moved meanwhile), zeros after. */
  protected finishRead(pData: WasmBytes, got: Uint8Array): number {
    const n = pData.length;
    pData.set(got);
    if (got.length < n) pData.fill(0, got.length, n);
    return got.length < n ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
  }

  /** xSync of an open file (nothing to do for one in memory). */
  protected syncFile(pFile: number): W {
    const h = this.handle(pFile);
    return h.file instanceof DiskFile ? h.file.sync() : this.idle();
  }

  /** A disk of this VFS exists for `path` in storage (so xAccess or xDelete must look at it). */
  protected isStored(path: string): boolean {
    const name = diskNameFor(this.name, path);
    return this.files.has(name) || this.stored.has(name);
  }

  /** The file at `path`, its disk opened (and made, if `create`) the first time. */
  protected diskFile(path: string, create: boolean): Promise<DiskFile<W>> {
    const name = diskNameFor(this.name, path);
    let file = this.files.get(name);
    if (!file) {
      const exists = this.stored.has(name);
      if (!exists && !create) throw new DiskError('EINVAL', `No file ${path}.`);
      const open = this.options.diskWorker === false ? (o: OpenDiskOptions) => this.openInThread(o) : openDisk;
      file = open({
        name,
        size: exists ? undefined : this.options.maxFileSize + HEADER_BYTES,
        cache: this.cacheMode,
        backend: this.options.backend,
        crashModel: this.options.crashModel,
        lockTimeoutMs: this.options.lockTimeoutMs,
      }).then(async (disk) => {
        try {
          return await DiskFile.load(await this.fileIo(disk));
        } catch (err) {
          await disk.close().catch(() => undefined);
          throw err;
        }
      });
      this.files.set(name, file);
      this.stored.add(name);
      // A failed open is forgotten, so a later call tries again.
      file.catch(() => {
        if (this.files.get(name) === file) this.files.delete(name);
      });
    }
    return file;
  }

  protected handle(pFile: number): Handle<W> {
    this.alive();
    const h = this.handles.get(pFile);
    if (!h) throw new DiskError('EINVAL', `SQLite file ${pFile} is not open.`);
    return h;
  }

  protected alive(): void {
    if (this.ended)
      throw new DiskError(
        'ECLOSED',
        `VFS ${this.name} is ${this.ended === 'closed' ? 'closed' : 'cut off by a power loss'}: create it again.`,
      );
  }

  /** Never a throw out of a VFS method: the error is kept, SQLite gets a code. */
  protected failed(err: unknown, ioerr: number): number {
    this.lastError = err instanceof Error ? err.message : String(err);
    return sqliteCode(err, ioerr);
  }
}
