/**
 * DiskError → SQLite result code. A VFS method never throws: SQLite sees a
 * code, and the error itself is kept for xGetLastError and for the page.
 */
import { DiskError } from '../../core/errors';
import { SQLITE_BUSY, SQLITE_CORRUPT, SQLITE_FULL } from './constants';

/** `ioerr`: the SQLITE_IOERR_* of the operation that failed (e.g. SQLITE_IOERR_WRITE). */
export function sqliteCode(err: unknown, ioerr: number): number {
  if (!(err instanceof DiskError)) return ioerr;
  switch (err.code) {
    case 'ENOSPC':
    case 'ERANGE': // past the end of the disk holding the file: the file cannot grow
      return SQLITE_FULL;
    case 'EBUSY':
      return SQLITE_BUSY;
    case 'ECORRUPT':
      return SQLITE_CORRUPT;
    default:
      return ioerr; // EIO, ECLOSED (power loss), EINVAL…
  }
}
