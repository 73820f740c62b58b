import { DiskError, toDiskError } from '../core/errors';

/**
 * The Web Lock that makes a disk exclusive to one open, across tabs and
 * backends: the disk worker holds it while the disk is open, deleteDisk
 * takes it to delete.
 */
export function lockName(name: string): string {
  return `webdisk:${name}`;
}

function haveLocks(): boolean {
  return typeof navigator !== 'undefined' && navigator.locks !== undefined;
}

/**
 * Takes the disk's lock, waiting up to `timeoutMs` (a just-closed or
 * just-killed holder releases it asynchronously). Resolves with the
 * release function, or rejects EBUSY.
 */
export function acquireDiskLock(name: string, timeoutMs: number): Promise<() => void> {
  if (!haveLocks()) return Promise.resolve(() => {});
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(timeoutMs);
    navigator.locks
      .request(lockName(name), { signal }, () => new Promise<void>((release) => resolve(() => release())))
      .catch((err: unknown) => {
        if ((err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError') {
          reject(
            new DiskError('EBUSY', `Disk "${name}" is open elsewhere (this or another tab): close it there first.`),
          );
        } else {
          reject(toDiskError(err));
        }
      });
  });
}

/** Runs `fn` holding the disk's lock if nobody holds it; rejects EBUSY if somebody does. */
export async function withDiskLockIfFree<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!haveLocks()) return fn();
  const none = Symbol('busy');
  const out = await navigator.locks.request(lockName(name), { ifAvailable: true }, (lock) =>
    lock ? fn() : Promise.resolve(none),
  );
  if (out === none) {
    throw new DiskError('EBUSY', `Disk "${name}" is open (this or another tab): close it before deleting.`);
  }
  return out as T;
}
