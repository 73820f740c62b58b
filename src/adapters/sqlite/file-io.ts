/**
 * How a DiskFile reaches its disk: through the async `Disk` API (any
 * thread), or blocking through a `SyncDisk` (a worker, wa-sqlite's sync
 * build). Either way requests are issued in order and not waited for one by
 * one: a write's error is kept and thrown by the next settle(), as fsync
 * reports a failed write-back. `W` is what waiting gives: a Promise for the
 * async API, nothing (the wait already happened) for the blocking one — so
 * one DiskFile holds the file format for both.
 */
import type { Disk } from '../../client/disk';

/** The result of waiting: `void` when the I/O blocks, `Promise<void>` when it does not. */
export type Wait = void | Promise<void>;

export interface FileIo<W extends Wait> {
  readonly size: number;
  /** Fills `dst` with the bytes at `offset`; done when the result is. Throws (or rejects) its own error. */
  readInto(offset: number, dst: Uint8Array): W;
  write(offset: number, data: Uint8Array, fua: boolean): void;
  /** The range reads back as zeros afterwards. */
  discard(offset: number, length: number): void;
  flush(): void;
  /** Waits for every request issued so far; throws the first error among them (once). */
  settle(): W;
  /** A wait that is already over. */
  idle(): W;
  /** Closes the disk cleanly (written back, synced). */
  close(): Promise<void>;
  /** Pulls the plug on the disk. */
  powerLoss(): void;
}

/** What a file needs of its disk (a `Disk`; a test's stand-in). */
export type FileDisk = Pick<Disk, 'size' | 'readInto' | 'write' | 'flush' | 'discard' | 'close' | 'powerLoss'>;

/** The first error of requests issued without waiting, kept for settle(). */
export class Failures {
  private first: unknown;
  private any = false;

  keep(err: unknown): void {
    if (this.any) return;
    this.any = true;
    this.first = err;
  }

  /** Throws the kept error, if any, and forgets it. */
  rethrow(): void {
    if (!this.any) return;
    const err = this.first;
    this.any = false;
    this.first = undefined;
    throw err;
  }
}

/** Over the async `Disk` API: each request a promise, waited for together at settle(). */
export class AsyncFileIo implements FileIo<Promise<void>> {
  private pending: Promise<void>[] = [];
  private readonly failures = new Failures();

  constructor(private readonly disk: FileDisk) {}

  get size(): number {
    return this.disk.size;
  }

  async readInto(offset: number, dst: Uint8Array): Promise<void> {
    await this.disk.readInto(offset, dst);
  }

  /** Disk.write copies the bytes before it returns: `data` may be reused at once. */
  write(offset: number, data: Uint8Array, fua: boolean): void {
    this.track(this.disk.write(offset, data, { fua }));
  }

  discard(offset: number, length: number): void {
    this.track(this.disk.discard(offset, length));
  }

  flush(): void {
    this.track(this.disk.flush());
  }

  async settle(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
    this.failures.rethrow();
  }

  idle(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return this.disk.close();
  }

  powerLoss(): void {
    this.disk.powerLoss();
  }

  private track(request: Promise<void>): void {
    this.pending.push(request.catch((err: unknown) => this.failures.keep(err)));
  }
}

/** Waits with `wait()`; if that throws or rejects, runs `undo` first — the same for blocking and async I/O. */
export function onFailure<W extends Wait>(wait: () => W, undo: () => void): W {
  let w: W;
  try {
    w = wait();
  } catch (err) {
    undo();
    throw err;
  }
  if (!(w instanceof Promise)) return w;
  return w.catch((err: unknown) => {
    undo();
    throw err;
  }) as W;
}
