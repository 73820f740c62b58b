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

/** Gives a held disk lock back; settles once other contexts can take it. */
export type ReleaseLock = () => Promise<void>;

/**
 * Takes the disk's lock, waiting up to `timeoutMs` (a just-closed or
 * just-killed holder releases it asynchronously). Resolves with the
 * release function, or rejects EBUSY.
 */
export function acquireDiskLock(name: string, timeoutMs: number): Promise<ReleaseLock> {
  if (!haveLocks()) return Promise.resolve(async () => {});
  return new Promise((resolve, reject) => {
    let letGo: () => void = () => {};
    // Settles once the lock is given back (the callback's promise settled).
    const held = navigator.locks.request(lockName(name), { signal: AbortSignal.timeout(timeoutMs) }, () => {
      resolve(() => {
        letGo();
        return held.then(
          () => undefined,
          () => undefined,
        );
      });
      return new Promise<void>((release) => {
        letGo = release;
      });
    });
    held.catch((err: unknown) => {
      const n = (err as Error)?.name;
      if (n === 'AbortError' || n === 'TimeoutError') {
        reject(new DiskError('EBUSY', `Disk "${name}" is open elsewhere (this or another tab): close it there first.`));
      } else {
        reject(toDiskError(err));
      }
    });
  });
}

/**
 * Runs `fn` holding the disk's lock, waiting up to `timeoutMs` for a disk
 * just closed or killed to give it back; rejects EBUSY if it stays held.
 */
export async function withDiskLock<T>(name: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  if (!haveLocks()) return fn();
  try {
    return await navigator.locks.request(lockName(name), { signal: AbortSignal.timeout(timeoutMs) }, fn);
  } catch (err) {
    const n = (err as Error)?.name;
    if (n === 'AbortError' || n === 'TimeoutError') {
      throw new DiskError('EBUSY', `Disk "${name}" is open (this or another tab): close it before deleting.`);
    }
    throw err;
  }
}
