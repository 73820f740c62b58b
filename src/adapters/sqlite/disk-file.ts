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
 *
 * The same logic serves the async VFS and the blocking one: the disk is
 * reached through a FileIo (file-io.ts), whose waits are Promises or nothing.
 */
import { type FileIo, onFailure, type Wait } from './file-io';
import { decodeHeader, encodeHeader, HEADER_BYTES, HEADER_READ_BYTES } from './header';
import { FileLocks } from './locks';

/** A read begun: `bytes` holds the data once `done` is over. */
export interface FileRead<W extends Wait> {
  bytes: Uint8Array;
  done: W;
}

export class DiskFile<W extends Wait = Wait> {
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
  /** A write padded to its block's end (padToBlock); the disk copies it before write() returns. */
  private padded = new Uint8Array(8 << 10);

  private constructor(
    readonly io: FileIo<W>,
    exists: boolean,
    length: number,
  ) {
    this.exists = exists;
    this.length = length;
  }

  /** Reads the header of an open disk. */
  static async load<W extends Wait>(io: FileIo<W>): Promise<DiskFile<W>> {
    const bytes = new Uint8Array(HEADER_READ_BYTES);
    await io.readInto(0, bytes);
    const header = decodeHeader(bytes);
    return new DiskFile(io, header.exists, header.exists ? header.length : 0);
  }

  /** The largest file this disk holds. */
  get capacity(): number {
    return this.io.size - HEADER_BYTES;
  }

  /** Makes an absent file exist, empty (durable at the next sync). */
  create(): void {
    if (this.exists) return;
    this.exists = true;
    this.length = 0;
    this.headerDirty = true;
  }

  /**
   * Reads the bytes of [offset, offset + n) below the length (fewer at the
   * end of the file) into a buffer reused by the next read: copy them out
   * as soon as the read is done.
   */
  read(offset: number, n: number): FileRead<W> {
    const avail = Math.max(0, Math.min(n, this.length - offset));
    if (avail === 0) return { bytes: this.scratch.subarray(0, 0), done: this.io.idle() };
    if (this.scratch.length < avail) this.scratch = new Uint8Array(avail);
    const bytes = this.scratch.subarray(0, avail);
    return { bytes, done: this.io.readInto(HEADER_BYTES + offset, bytes) };
  }

  /**
   * Issues a write: later requests (a read) see it, and the next sync()
   * waits for it and reports its error, as fsync reports a failed
   * write-back. SQLite calls it synchronously (no async round trip per page).
   */
  write(data: Uint8Array, offset: number): void {
    this.zeroGapTo(offset);
    const end = offset + data.length;
    this.io.write(HEADER_BYTES + offset, this.padToBlock(data, end), false);
    this.dirty = true;
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
  sync(): W {
    const dirty = this.dirty;
    const headerDirty = this.headerDirty;
    // Only the length changed: one forced write is the whole sync.
    if (headerDirty) this.io.write(0, encodeHeader({ exists: this.exists, length: this.length }), !dirty);
    if (dirty) this.io.flush();
    this.dirty = false;
    this.headerDirty = false;
    return onFailure(
      () => this.io.settle(),
      () => {
        this.dirty ||= dirty;
        this.headerDirty ||= headerDirty;
      },
    );
  }

  /** xDelete: absent, durably, now. */
  remove(): W {
    this.staleEnd = Math.max(this.staleEnd, this.length);
    this.exists = false;
    this.length = 0;
    this.headerDirty = true;
    return this.sync();
  }

  /** A clean close: the writes issued, the header as it is now, then the disk's own close (write back, sync). */
  async close(): Promise<void> {
    await this.io.settle();
    if (this.headerDirty) {
      this.io.write(0, encodeHeader({ exists: this.exists, length: this.length }), false);
      this.headerDirty = false;
      await this.io.settle();
    }
    await this.io.close();
  }

  /**
   * A write that reaches the file's end and stops inside a block gets zeros
   * up to the block's end (bytes past the length, which nobody reads): the
   * disk then has a whole block to take, not a part of one to merge with
   * what it holds there, which it would first have to read. SQLite's WAL
   * frames (24 + page size bytes) end mid-block every time.
   */
  private padToBlock(data: Uint8Array, end: number): Uint8Array {
    // The header is one block, so file offsets and disk offsets share block boundaries.
    const blockEnd = Math.ceil(end / HEADER_BYTES) * HEADER_BYTES;
    if (end < this.length || blockEnd === end || blockEnd > this.capacity) return data;
    const n = data.length + blockEnd - end;
    if (this.padded.length < n) this.padded = new Uint8Array(Math.max(n, 2 * this.padded.length));
    const out = this.padded.subarray(0, n);
    out.set(data);
    out.fill(0, data.length);
    return out;
  }

  /** Zeroes (issues a discard of) whatever stale bytes lie between the length and `offset`. */
  private zeroGapTo(offset: number): void {
    if (offset <= this.length || this.staleEnd <= this.length) return;
    const end = Math.min(offset, this.staleEnd);
    this.io.discard(HEADER_BYTES + this.length, end - this.length);
    this.dirty = true;
    if (offset >= this.staleEnd) this.staleEnd = this.length;
  }
}
