/**
 * One SQLite file (database, rollback journal or WAL) on one webdisk disk:
 * the header block holds the file's length and existence, the data follows
 * it. What SQLite needs of a file, and how it is kept:
 *
 * - After xSync returns, every write before it and the file's length are
 *   durable: the length lives in memory while it changes and is written
 *   into the header just before the flush that xSync makes, so one flush
 *   covers both (a sync that has only a length to save writes it with FUA).
 * - Before that, a crash may keep any of the writes and the old length or
 *   the new (POSIX allows as much; SQLite's journal and WAL checksums are
 *   built for it). Bytes past the length are never shown: reads stop there,
 *   and a write that leaves a gap past the end zeroes the gap first, since
 *   it may hold stale bytes of a longer past (a shrink, a crash).
 * - A delete is durable when it returns (SQLite's commit point in journal
 *   mode DELETE): the header is rewritten "absent" with FUA; the disk stays
 *   open for the next journal, saving a worker start per transaction.
 */
import type { Disk } from '../../client/disk';
import { decodeHeader, encodeHeader, HEADER_BYTES, HEADER_READ_BYTES } from './header';
import { FileLocks } from './locks';

export class DiskFile {
  readonly locks = new FileLocks();
  /** The file exists (a deleted file's disk is kept, marked absent). */
  exists: boolean;
  /** The file's length now (durable at the next sync). */
  length: number;
  /** Connections that have it open. */
  opens = 0;
  /** Bytes past `length` (up to here) may be stale: zeroed before the file grows over them. */
  private staleEnd = Number.POSITIVE_INFINITY;
  /** Data written since the last flush. */
  private dirty = false;
  /** Length or existence changed since the header was last written. */
  private headerDirty = false;
  private scratch = new Uint8Array(64 << 10);

  private constructor(
    readonly disk: Disk,
    exists: boolean,
    length: number,
  ) {
    this.exists = exists;
    this.length = length;
  }

  /** Reads the header of an open disk. */
  static async load(disk: Disk): Promise<DiskFile> {
    const header = decodeHeader(await disk.read(0, HEADER_READ_BYTES));
    return new DiskFile(disk, header.exists, header.exists ? header.length : 0);
  }

  /** The largest file this disk holds. */
  get capacity(): number {
    return this.disk.size - HEADER_BYTES;
  }

  /** Makes an absent file exist, empty (durable at the next sync). */
  create(): void {
    if (this.exists) return;
    this.exists = true;
    this.length = 0;
    this.headerDirty = true;
  }

  /**
   * The bytes of [offset, offset + n) below the length (fewer at the end of
   * the file), in a buffer reused by the next read: copy them out at once.
   */
  async read(offset: number, n: number): Promise<Uint8Array> {
    const avail = Math.max(0, Math.min(n, this.length - offset));
    if (avail === 0) return this.scratch.subarray(0, 0);
    if (this.scratch.length < avail) this.scratch = new Uint8Array(avail);
    return this.disk.readInto(HEADER_BYTES + offset, this.scratch.subarray(0, avail));
  }

  async write(data: Uint8Array, offset: number): Promise<void> {
    await this.zeroGapTo(offset);
    await this.disk.write(HEADER_BYTES + offset, data);
    this.dirty = true;
    const end = offset + data.length;
    if (end > this.length) {
      this.length = end;
      this.headerDirty = true;
    }
  }

  async truncate(size: number): Promise<void> {
    if (size === this.length) return;
    if (size > this.length) await this.zeroGapTo(size);
    else this.staleEnd = Math.max(this.staleEnd, this.length);
    this.length = size;
    this.headerDirty = true;
  }

  /** xSync: the writes so far and the length, durable. Nothing to do when nothing changed. */
  async sync(): Promise<void> {
    if (this.headerDirty) {
      const header = encodeHeader({ exists: this.exists, length: this.length });
      // Only the length changed: one forced write is the whole sync.
      await this.disk.write(0, header, { fua: !this.dirty });
      this.headerDirty = false;
    }
    if (this.dirty) {
      await this.disk.flush();
      this.dirty = false;
    }
  }

  /** xDelete: absent, durably, now. */
  async remove(): Promise<void> {
    this.staleEnd = Math.max(this.staleEnd, this.length);
    this.exists = false;
    this.length = 0;
    this.headerDirty = true;
    await this.sync();
  }

  /** A clean close: the header as it is now, then the disk's own close (write back, sync). */
  async close(): Promise<void> {
    if (this.headerDirty) await this.disk.write(0, encodeHeader({ exists: this.exists, length: this.length }));
    this.headerDirty = false;
    await this.disk.close();
  }

  /** Zeroes whatever stale bytes lie between the length and `offset`. */
  private async zeroGapTo(offset: number): Promise<void> {
    if (offset <= this.length || this.staleEnd <= this.length) return;
    const end = Math.min(offset, this.staleEnd);
    await this.disk.discard(HEADER_BYTES + this.length, end - this.length);
    this.dirty = true;
    if (offset >= this.staleEnd) this.staleEnd = this.length;
  }
}
