/**
 * Opening a disk's block core: the disk's lock, its backend, its stores
 * stacked, the BlockDevice over them. What the disk worker does on 'open',
 * and what an in-thread disk (in-thread-disk.ts) does on the caller's own
 * thread: one path, so both hold a disk the same way.
 */
import { BlockDevice } from '../core/block-device';
import type { Backend } from '../core/types';
import type { OpenRequest } from '../protocol/messages';
import { type BackendReason, chooseBackend, openBackend } from '../stores/backends';
import { acquireDiskLock, type ReleaseLock } from '../stores/locks';
import type { PowerSwitch } from '../stores/power-switch';
import { stackStores } from '../stores/stack';

export interface OpenedDevice {
  device: BlockDevice;
  backend: Backend;
  backendReason: BackendReason;
  /** An overlay's base, as DiskInfo.base shows it. */
  baseLabel: string | undefined;
  /** The power is cut: the backend's stores stop at once (in-flight commits aborted). */
  abandon(): Promise<void>;
  /**
   * Closes the backend's own files under the stack, without writing
   * anything: after a power cut, so the disk can be opened again at once
   * (the disk worker need not: ending it closes them).
   */
  closeFiles(): Promise<void>;
  /** Gives up the disk's lock (a memory disk has none). Call once, after close or power loss. */
  releaseLock(): Promise<void>;
}

/**
 * Opens the disk `o` describes. `power`: the plug — once off, no store call
 * gets through. `sharedCache`: the block cache lives in shared memory (a
 * page reads cache hits itself). `synchronous`: the device will be driven
 * by its synchronous calls (BlockDevice.readIntoSync…).
 */
export async function openDevice(
  o: OpenRequest,
  power: PowerSwitch,
  sharedCache: boolean,
  synchronous = false,
): Promise<OpenedDevice> {
  // The lock first: which backend holds the disk is only stable while we hold it.
  let release: ReleaseLock | undefined;
  if (o.backend !== 'memory') release = await acquireDiskLock(o.name, o.lockTimeoutMs);
  const releaseLock = async () => {
    const r = release;
    release = undefined;
    await r?.();
  };
  try {
    const { backend, reason } = await chooseBackend(o.backend, o.name);
    const stores = await openBackend(
      backend,
      o.name,
      o.size !== undefined || o.base !== undefined,
      o.base !== undefined,
    );
    // The backend's own files, closed under the stack, nothing written: after a failed open or a power cut.
    const closeFiles = async () => {
      const files = [stores.data, stores.meta, stores.map];
      await Promise.allSettled(files.map((f) => Promise.resolve().then(() => f?.close())));
    };
    try {
      const stacked = await stackStores(stores, {
        crashModel: o.crashModel,
        deviceCacheSize: o.deviceCacheSize,
        power,
        size: o.size,
        base: o.base,
        synchronous,
      });
      const device = await BlockDevice.open({
        data: stacked.data,
        meta: stacked.meta,
        size: stacked.size,
        blockSize: o.blockSize,
        cacheSize: o.cacheSize,
        cache: o.cache,
        sharedCache,
      });
      return {
        device,
        backend,
        backendReason: reason,
        baseLabel: stacked.overlay?.baseLabel,
        abandon: stacked.abandon,
        closeFiles,
        releaseLock,
      };
    } catch (err) {
      await closeFiles();
      // A disk this call created but could not open (bad options) must not linger.
      await stores.discardIfNew();
      throw err;
    }
  } catch (err) {
    await releaseLock();
    throw err;
  }
}
