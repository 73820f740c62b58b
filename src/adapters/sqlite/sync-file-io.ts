/**
 * A DiskFile's I/O through a `SyncDisk`, for a synchronous VFS (wa-sqlite's
 * sync build, no Asyncify): reads, flushes and discards block (Atomics.wait
 * on the port's shared ring) until the disk worker answered; writes are
 * posted (`wait: false`: in the ring, not waited for), so the pages of a
 * commit and its header cost one wait, at the flush. Opening and closing
 * the disk stay on its async `Disk`, held beside.
 */
import type { SyncDisk } from '../../client/sync-disk';
import { Failures, type FileDisk, type FileIo } from './file-io';

/** What a file needs of a SyncDisk (a `SyncDisk`; a test's stand-in). */
export type FileSyncDisk = Pick<SyncDisk, 'readInto' | 'write' | 'flush' | 'discard' | 'settle'>;

export class SyncFileIo implements FileIo<void> {
  private readonly failures = new Failures();

  constructor(
    private readonly disk: Pick<FileDisk, 'size' | 'close' | 'powerLoss'>,
    private readonly sync: FileSyncDisk,
  ) {}

  get size(): number {
    return this.disk.size;
  }

  readInto(offset: number, dst: Uint8Array): void {
    this.sync.readInto(offset, dst);
  }

  /** Posted: its error comes with the next call that waits, and is kept for settle(), as the async I/O reports it. */
  write(offset: number, data: Uint8Array, fua: boolean): void {
    this.keep(() => this.sync.write(offset, data, { fua, wait: false }));
  }

  discard(offset: number, length: number): void {
    this.keep(() => this.sync.discard(offset, length));
  }

  flush(): void {
    this.keep(() => this.sync.flush());
  }

  settle(): void {
    this.keep(() => this.sync.settle());
    this.failures.rethrow();
  }

  idle(): void {}

  close(): Promise<void> {
    return this.disk.close();
  }

  powerLoss(): void {
    this.disk.powerLoss();
  }

  private keep(request: () => void): void {
    try {
      request();
    } catch (err) {
      this.failures.keep(err);
    }
  }
}
