/**
 * wa-sqlite's FacadeVFS (npm @journeyapps/wa-sqlite 2.x), typed here: the
 * package declares types for its VFS base but none for FacadeVFS.js. The
 * bundle of webdisk/sqlite includes the package's FacadeVFS.js and VFS.js
 * (a page imports dist/sqlite.js alone and passes in the SQLite module).
 * Only the members WebdiskVFS overrides or calls are declared; the x*
 * methods SQLite calls come from the base class.
 */
import { FacadeVFS as UntypedFacadeVFS } from '@journeyapps/wa-sqlite/src/FacadeVFS.js';

/** A pointer-backed 32- or 64-bit integer out-parameter, as FacadeVFS passes it. */
export interface OutParam {
  setInt32(byteOffset: number, value: number, littleEndian: boolean): void;
  getInt32(byteOffset: number, littleEndian: boolean): number;
  setBigInt64(byteOffset: number, value: bigint, littleEndian: boolean): void;
}

/** A view of WebAssembly memory that survives memory growth (FacadeVFS's Uint8ArrayProxy). */
export interface WasmBytes {
  readonly length: number;
  fill(value: number, start?: number, end?: number): void;
  set(array: ArrayLike<number>, offset?: number): void;
  /** A real Uint8Array over the memory as it is now: valid until the memory grows. */
  subarray(begin?: number, end?: number): Uint8Array;
}

/** The SQLite module (an Emscripten module of wa-sqlite) the VFS is registered with. */
export type SQLiteModule = object;

/** The part of FacadeVFS (and wa-sqlite's VFS.Base) webdisk's VFS relies on. */
export interface FacadeVFSInstance {
  name: string;
  mxPathname: number;
  close(): void | Promise<void>;
  isReady(): boolean | Promise<boolean>;
  hasAsyncMethod(methodName: string): boolean;
  xOpen(pVfs: number, zName: number, pFile: number, flags: number, pOutFlags: number): number | Promise<number>;
  xDelete(pVfs: number, zName: number, syncDir: number): number | Promise<number>;
  xAccess(pVfs: number, zName: number, flags: number, pResOut: number): number | Promise<number>;
  xFullPathname(pVfs: number, zName: number, nOut: number, zOut: number): number | Promise<number>;
  xGetLastError(pVfs: number, nBuf: number, zBuf: number): number | Promise<number>;
  xClose(pFile: number): number | Promise<number>;
  xRead(pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): number | Promise<number>;
  xWrite(pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): number | Promise<number>;
  xTruncate(pFile: number, sizeLo: number, sizeHi: number): number | Promise<number>;
  xSync(pFile: number, flags: number): number | Promise<number>;
  xFileSize(pFile: number, pSize: number): number | Promise<number>;
  xLock(pFile: number, lockType: number): number | Promise<number>;
  xUnlock(pFile: number, lockType: number): number | Promise<number>;
  xCheckReservedLock(pFile: number, pResOut: number): number | Promise<number>;
  xFileControl(pFile: number, op: number, pArg: number): number | Promise<number>;
  xSectorSize(pFile: number): number | Promise<number>;
  xDeviceCharacteristics(pFile: number): number | Promise<number>;
}

export interface FacadeVFSConstructor {
  new (name: string, module: SQLiteModule): FacadeVFSInstance;
}

export const FacadeVFS = UntypedFacadeVFS as FacadeVFSConstructor;
