/**
 * A disk whose block core runs on the caller's own thread: no disk worker,
 * no thread hand-off per request. For code that already runs in a worker
 * and waits on its disk more than it computes — SQLite's VFS, whose every
 * commit otherwise waits for the disk worker to wake and for its own thread
 * to be woken back (README, SQLite). The same lock, stores, stack and core
 * as a Disk's worker (open-device.ts), so the same cache modes and the same
 * durability contract; the async API only (the core's calls complete in
 * promises, which a thread that blocks would never run).
 *
 * What it lacks is the separation: powerLoss() cannot end a thread, so it
 * flips the power switch (no store call gets through from then on, as
 * after a worker is terminated), stops the stores and closes their files.
 * Whatever the caller kept of the disk's state is the caller's to drop (the
 * VFS drops its SQLite module), as a page drops what it had of a worker.
 */
import type { WriteOptions } from '../client/disk';
import { checkOptions, type OpenDiskOptions } from '../client/open-disk';
import type { BlockDevice } from '../core/block-device';
import { DiskError } from '../core/errors';
import type { CacheMode, CrashModel } from '../core/types';
import { opfsDisks } from '../stores/opfs-disks';
import { type OpenedDevice, openDevice } from './open-device';

export class InThreadDisk {
  readonly name: string;
  readonly size: number;
  readonly blockSize: number;
  readonly crashModel: CrashModel;
  readonly uncleanShutdown: boolean;
  private readonly opened: OpenedDevice;
  private readonly device: BlockDevice;
  private readonly power: { off: boolean };
  private closedBy: 'close' | 'powerLoss' | undefined;
  /** The power loss's clean-up (stores stopped, files closed, lock given up), once pulled. */
  private unplugged: Promise<void> | undefined;

  private constructor(opened: OpenedDevice, power: { off: boolean }, name: string, crashModel: CrashModel) {
    this.opened = opened;
    this.device = opened.device;
    this.power = power;
    this.name = name;
    this.size = this.device.size;
    this.blockSize = this.device.blockSize;
    this.crashModel = crashModel;
    this.uncleanShutdown = this.device.uncleanShutdown;
  }

  /**
   * Opens (or creates) a disk as openDisk() does, its core on this thread.
   * Options as openDisk's. `synchronous`: the disk takes the blocking calls
   * too (readIntoSync…), for a caller that cannot wait for a promise
   * (wa-sqlite's sync build): its stores must all be synchronous — OPFS (in
   * a worker) or memory, no overlay — else ENOTSUP.
   */
  static async open(opts: OpenDiskOptions, how: { synchronous?: boolean } = {}): Promise<InThreadDisk> {
    const request = checkOptions(opts);
    const synchronous = how.synchronous === true;
    if (synchronous && request.base) {
      throw new DiskError(
        'ENOTSUP',
        'A disk taking synchronous calls cannot be an overlay (its base is read with fetch).',
      );
    }
    // Refused before opening, so no IndexedDB disk is made only to be closed
    // again ('auto' where OPFS is missing, as on a page's main thread).
    if (synchronous && (request.backend === 'idb' || (request.backend === 'auto' && !opfsDisks.canOpen()))) {
      throw new DiskError(
        'ENOTSUP',
        'A disk taking synchronous calls needs OPFS (in a worker) or memory: IndexedDB completes later.',
      );
    }
    const power = { off: false };
    const opened = await openDevice(request, power, false, synchronous);
    const disk = new InThreadDisk(opened, power, request.name, request.crashModel);
    // An existing disk that 'auto' found on IndexedDB.
    if (synchronous && opened.backend === 'idb') {
      await disk.close();
      throw new DiskError(
        'ENOTSUP',
        `Disk "${request.name}" is on IndexedDB, which completes later: synchronous calls need OPFS (in a worker) or memory.`,
      );
    }
    return disk;
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  get cacheMode(): CacheMode {
    return this.device.cacheMode;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.guard() ?? this.device.read(offset, length);
  }

  readInto(offset: number, into: Uint8Array): Promise<Uint8Array> {
    return this.guard() ?? this.device.readInto(offset, into).then(() => into);
  }

  /** As Disk.write: the bytes are copied before it returns (the core takes them later, in its queue). */
  write(offset: number, data: Uint8Array, opts?: WriteOptions): Promise<void> {
    return this.guard() ?? this.device.write(offset, data.slice(), { fua: opts?.fua === true });
  }

  flush(): Promise<void> {
    return this.guard() ?? this.device.flush();
  }

  discard(offset: number, length: number): Promise<void> {
    return this.guard() ?? this.device.discard(offset, length);
  }

  // ------------------------------------------------ blocking calls (opened with `synchronous`)

  /** readInto(), done before it returns: BlockDevice.readIntoSync. Throws its error. */
  readIntoSync(offset: number, into: Uint8Array): Uint8Array {
    this.guardSync();
    this.device.readIntoSync(offset, into);
    return into;
  }

  /** write(), done before it returns (`data` is taken in the call). */
  writeSync(offset: number, data: Uint8Array, opts?: WriteOptions): void {
    this.guardSync();
    this.device.writeSync(offset, data, { fua: opts?.fua === true });
  }

  flushSync(): void {
    this.guardSync();
    this.device.flushSync();
  }

  discardSync(offset: number, length: number): void {
    this.guardSync();
    this.device.discardSync(offset, length);
  }

  /** As Disk.setCacheMode: from the next request on, the disk behaves as `mode` says. */
  setCacheMode(mode: CacheMode): Promise<void> {
    return this.guard() ?? this.device.setCacheMode(mode);
  }

  /**
   * Writes everything back, syncs, marks the disk cleanly closed and gives
   * up its lock. If that fails (no space, say), the disk is stopped as by a
   * power loss and the error thrown: its files are closed all the same, so
   * it can be opened again (a Disk ends its worker for the same reason).
   */
  async close(): Promise<void> {
    const bad = this.guard();
    if (bad) return bad;
    this.closedBy = 'close';
    try {
      await this.device.close();
    } catch (err) {
      await this.stopStores();
      throw err;
    } finally {
      await this.opened.releaseLock();
    }
  }

  /**
   * Pulls the plug: from now on no store call gets through (one a request
   * already running makes fails), so what no sync made durable is lost as
   * the crash model says. Pending and later calls reject. The disk can be
   * opened again at once: an open waits for the lock, which is given up
   * once the stores have stopped and their files are closed.
   */
  powerLoss(): void {
    if (this.closedBy === 'powerLoss') return;
    this.closedBy = 'powerLoss';
    this.unplugged = this.stopStores().finally(this.opened.releaseLock);
  }

  /** The power switched off: no store call gets through; the stores stop and their files close (the lock stays held). */
  private stopStores(): Promise<void> {
    this.power.off = true;
    return this.opened
      .abandon()
      .catch(() => undefined)
      .then(this.opened.closeFiles);
  }

  /** Settles once a power loss has finished stopping the disk (at once if there was none). */
  whenUnplugged(): Promise<void> {
    return this.unplugged ?? Promise.resolve();
  }

  private guard(): Promise<never> | undefined {
    if (!this.closedBy) return undefined;
    return Promise.reject(this.closedError());
  }

  private guardSync(): void {
    if (this.closedBy) throw this.closedError();
  }

  private closedError(): DiskError {
    const why = this.closedBy === 'close' ? 'is closed' : 'lost power';
    return new DiskError('ECLOSED', `Disk "${this.name}" ${why}: open it again.`);
  }
}
