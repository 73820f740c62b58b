/**
 * SQLite's file locks among the connections of one VFS (one page or
 * worker): NONE < SHARED < RESERVED < PENDING < EXCLUSIVE, as in SQLite's
 * os_unix.c. Other tabs and workers never share a file: the disk under it
 * is open at most once (webdisk's Web Lock), so their open gets SQLITE_BUSY.
 */
import { SQLITE_BUSY, SQLITE_LOCK_EXCLUSIVE, SQLITE_LOCK_RESERVED, SQLITE_LOCK_SHARED, SQLITE_OK } from './constants';

export class FileLocks {
  private readonly shared = new Set<number>();
  /** The connection holding RESERVED or more. */
  private writer: number | undefined;
  /** The writer waits for readers to leave (PENDING): no new SHARED. */
  private pending = false;
  private exclusive = false;

  lock(pFile: number, level: number): number {
    if (level === SQLITE_LOCK_SHARED) {
      if (this.shared.has(pFile)) return SQLITE_OK;
      if (this.writer !== undefined && this.writer !== pFile && (this.pending || this.exclusive)) return SQLITE_BUSY;
      this.shared.add(pFile);
      return SQLITE_OK;
    }
    if (this.writer !== undefined && this.writer !== pFile) return SQLITE_BUSY;
    this.writer = pFile;
    if (level === SQLITE_LOCK_RESERVED) return SQLITE_OK;
    // PENDING, then EXCLUSIVE once this connection is the only reader.
    this.pending = true;
    if (level === SQLITE_LOCK_EXCLUSIVE) {
      if (this.shared.size > 1 || (this.shared.size === 1 && !this.shared.has(pFile))) return SQLITE_BUSY;
      this.exclusive = true;
    }
    return SQLITE_OK;
  }

  /** Down to SHARED or NONE. */
  unlock(pFile: number, level: number): number {
    if (this.writer === pFile) {
      this.writer = undefined;
      this.pending = false;
      this.exclusive = false;
    }
    if (level < SQLITE_LOCK_SHARED) this.shared.delete(pFile);
    return SQLITE_OK;
  }

  /** Some connection holds RESERVED or more. */
  reserved(): boolean {
    return this.writer !== undefined;
  }
}
