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

/** What a file needs of its disk (a `Disk`; a test's stand-in). */
export type FileDisk = Pick<Disk, 'size' | 'read' | 'readInto' | 'write' | 'flush' | 'discard' | 'close' | 'powerLoss'>;

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
  /** Requests issued and not yet waited for (writes, discards, the header, the flush). */
  private pending: Promise<void>[] = [];
  private failure: unknown;

  private constructor(
    readonly disk: FileDisk,
    exists: boolean,
    length: number,
  ) {
    this.exists = exists;
    this.length = length;
  }

  /** Reads the header of an open disk. */
  static async load(disk: FileDisk): Promise<DiskFile> {
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

  /**
   * Issues a write without waiting for it: Disk.write copies the bytes at
   * once, later requests (a read) see it, and the next sync() waits for it
   * and reports its error, as fsync reports a failed write-back. SQLite
   * calls it synchronously (no async round trip per page).
   */
  write(data: Uint8Array, offset: number): void {
    this.zeroGapTo(offset);
    this.track(this.disk.write(HEADER_BYTES + offset, data));
    this.dirty = true;
    const end = offset + data.length;
    if (end > this.length) {
      this.length = end;
      this.headerDirty = true;
    }
  }

  truncate(size: number): void {
    if (size === this.length) return;
    if (size > this.length) this.zeroGapTo(size);
    else this.staleEnd = Math.max(this.staleEnd, this.length);
    this.length = size;
    this.headerDirty = true;
  }

  /**
   * xSync: the writes so far and the length, durable; throws the error of
   * any write issued since the last sync. Nothing to do when nothing changed.
   */
  async sync(): Promise<void> {
    const dirty = this.dirty;
    const headerDirty = this.headerDirty;
    if (headerDirty) {
      const header = encodeHeader({ exists: this.exists, length: this.length });
      // Only the length changed: one forced write is the whole sync.
      this.track(this.disk.write(0, header, { fua: !dirty }));
    }
    if (dirty) this.track(this.disk.flush());
    this.dirty = false;
    this.headerDirty = false;
    try {
      await this.settle();
    } catch (err) {
      this.dirty ||= dirty;
      this.headerDirty ||= headerDirty;
      throw err;
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

  /** A clean close: the writes issued, the header as it is now, then the disk's own close (write back, sync). */
  async close(): Promise<void> {
    await this.settle();
    if (this.headerDirty) await this.disk.write(0, encodeHeader({ exists: this.exists, length: this.length }));
    this.headerDirty = false;
    await this.disk.close();
  }

  /** Zeroes (issues a discard of) whatever stale bytes lie between the length and `offset`. */
  private zeroGapTo(offset: number): void {
    if (offset <= this.length || this.staleEnd <= this.length) return;
    const end = Math.min(offset, this.staleEnd);
    this.track(this.disk.discard(HEADER_BYTES + this.length, end - this.length));
    this.dirty = true;
    if (offset >= this.staleEnd) this.staleEnd = this.length;
  }

  /** Keeps a request issued without waiting: its error is thrown by the next settle(). */
  private track(request: Promise<void>): void {
    this.pending.push(
      request.catch((err: unknown) => {
        this.failure ??= err;
      }),
    );
  }

  /** Waits for every request issued so far; throws the first error among them. */
  private async settle(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) throw failure;
  }
}
