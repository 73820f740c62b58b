import { DiskError, toDiskError } from '../core/errors';
import type { BlockStore } from '../core/store';
import type { Backend, BackendChoice } from '../core/types';
import { DATA_FILE, lockName, META_FILE, ROOT_DIR } from '../stores/layout';
import { MemoryStore } from '../stores/memory-store';
import { OpfsStore, type SyncAccessHandle } from '../stores/opfs-store';

export interface OpenedBackend {
  backend: Backend;
  data: BlockStore;
  meta: BlockStore;
  /** Removes the disk again if this open created it (call after closing the stores). */
  discardIfNew(): Promise<void>;
}

type FileHandleWithSync = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncAccessHandle> };

export function opfsAvailable(): boolean {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof FileSystemFileHandle !== 'undefined' &&
    'createSyncAccessHandle' in FileSystemFileHandle.prototype
  );
}

export function resolveBackend(choice: BackendChoice): Backend {
  if (choice === 'memory') return 'memory';
  if (opfsAvailable()) return 'opfs';
  throw new DiskError(
    'ENOTSUP',
    choice === 'opfs'
      ? 'OPFS sync access handles are missing in this browser (needs Chrome 108+, Firefox 111+ or Safari 16.4+, in a secure context).'
      : 'No persistent storage backend is available here (OPFS is missing); use backend: "memory" for a volatile disk.',
  );
}

/**
 * After a worker holding a handle is killed mid-write, Chromium keeps the
 * file locked for ~2 s. We hold the disk's Web Lock, so nobody else has it
 * open: retry for a while instead of reporting the disk busy.
 */
async function openSyncHandle(file: FileHandleWithSync, waitMs = 6000): Promise<SyncAccessHandle> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await file.createSyncAccessHandle();
    } catch (err) {
      if ((err as Error)?.name !== 'NoModificationAllowedError' || Date.now() > deadline) throw toDiskError(err);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function openOpfs(name: string, create: boolean): Promise<OpenedBackend> {
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle(ROOT_DIR, { create: true });
  let dir: FileSystemDirectoryHandle;
  let existed = true;
  try {
    dir = await top.getDirectoryHandle(name);
  } catch {
    existed = false;
  }
  try {
    dir = await top.getDirectoryHandle(name, { create });
  } catch (err) {
    if ((err as Error)?.name === 'NotFoundError') {
      throw new DiskError('EINVAL', `Disk "${name}" does not exist: give its size to create it.`);
    }
    throw toDiskError(err);
  }
  const dataFile = (await dir.getFileHandle(DATA_FILE, { create: true })) as FileHandleWithSync;
  const metaFile = (await dir.getFileHandle(META_FILE, { create: true })) as FileHandleWithSync;
  const dataHandle = await openSyncHandle(dataFile);
  let metaHandle: SyncAccessHandle;
  try {
    metaHandle = await openSyncHandle(metaFile);
  } catch (err) {
    dataHandle.close();
    throw err;
  }
  const discardIfNew = async () => {
    if (!existed) await top.removeEntry(name, { recursive: true }).catch(() => undefined);
  };
  return { backend: 'opfs', data: new OpfsStore(dataHandle), meta: new OpfsStore(metaHandle), discardIfNew };
}

export async function openBackend(backend: Backend, name: string, create: boolean): Promise<OpenedBackend> {
  if (backend === 'memory') {
    return { backend, data: new MemoryStore(), meta: new MemoryStore(), discardIfNew: async () => {} };
  }
  return openOpfs(name, create);
}

/**
 * Takes the disk's lock, waiting up to `timeoutMs` (a just-closed or
 * just-killed holder releases it asynchronously). Resolves with the
 * release function, or rejects EBUSY.
 */
export function acquireDiskLock(name: string, timeoutMs: number): Promise<() => void> {
  if (typeof navigator === 'undefined' || !navigator.locks) return Promise.resolve(() => {});
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
