import { DiskError, toDiskError } from '../core/errors';
import { newestMeta } from '../core/metadata';
import type { DiskBackend, DiskEntry, OpenedBackend } from './backends';
import { DATA_FILE, MAP_FILE, META_FILE, ROOT_DIR } from './layout';
import { OpfsStore, type SyncAccessHandle } from './opfs-store';

/** Disks in the origin-private file system: a folder `webdisk/<name>/` each. */

type FileHandleWithSync = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncAccessHandle> };

function haveDirectory(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';
}

/** The `webdisk` folder, created on demand, or undefined where there is no OPFS. */
async function topDir(create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
  if (!haveDirectory()) return undefined;
  const root = await navigator.storage.getDirectory();
  try {
    return await root.getDirectoryHandle(ROOT_DIR, { create });
  } catch (err) {
    if ((err as Error)?.name === 'NotFoundError') return undefined;
    throw toDiskError(err);
  }
}

async function diskDir(name: string): Promise<FileSystemDirectoryHandle | undefined> {
  const top = await topDir(false);
  if (!top) return undefined;
  try {
    return await top.getDirectoryHandle(name);
  } catch {
    return undefined;
  }
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

async function fileExists(dir: FileSystemDirectoryHandle, name: string): Promise<boolean> {
  try {
    await dir.getFileHandle(name);
    return true;
  } catch {
    return false;
  }
}

/** The logical size recorded in a disk folder's metadata (NaN if unreadable). */
async function sizeOf(dir: FileSystemDirectoryHandle): Promise<number> {
  try {
    const file = await (await dir.getFileHandle(META_FILE)).getFile();
    return newestMeta(new Uint8Array(await file.arrayBuffer()))?.size ?? Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export const opfsDisks: DiskBackend = {
  name: 'opfs',

  canOpen() {
    return (
      haveDirectory() &&
      typeof FileSystemFileHandle !== 'undefined' &&
      'createSyncAccessHandle' in FileSystemFileHandle.prototype
    );
  },

  canList: haveDirectory,

  async exists(name) {
    return (await diskDir(name)) !== undefined;
  },

  async open(name, create): Promise<OpenedBackend> {
    const top = (await topDir(true)) as FileSystemDirectoryHandle;
    const existed = (await diskDir(name)) !== undefined;
    if (!existed && !create)
      throw new DiskError('EINVAL', `Disk "${name}" does not exist: give its size to create it.`);
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await top.getDirectoryHandle(name, { create: true });
    } catch (err) {
      throw toDiskError(err);
    }
    // A new disk is thin: its map file comes first, so a folder without
    // one is a raw disk made before thin disks (format 1), opened as it is.
    const thin = !existed || (await fileExists(dir, MAP_FILE));
    const names = thin ? [MAP_FILE, META_FILE, DATA_FILE] : [META_FILE, DATA_FILE];
    const handles: SyncAccessHandle[] = [];
    try {
      for (const n of names) {
        const file = (await dir.getFileHandle(n, { create: true })) as FileHandleWithSync;
        handles.push(await openSyncHandle(file));
      }
    } catch (err) {
      for (const h of handles) h.close();
      throw toDiskError(err);
    }
    const [data, meta, map] = [handles.at(-1), handles.at(-2), thin ? handles[0] : undefined].map((h) =>
      h ? new OpfsStore(h) : undefined,
    );
    return {
      data: data as OpfsStore,
      meta: meta as OpfsStore,
      map,
      discardIfNew: async () => {
        if (!existed) await top.removeEntry(name, { recursive: true }).catch(() => undefined);
      },
    };
  },

  async list(): Promise<DiskEntry[]> {
    const top = await topDir(false);
    if (!top) return [];
    const out: DiskEntry[] = [];
    for await (const [name, handle] of top as unknown as AsyncIterable<[string, FileSystemHandle]>) {
      if (handle.kind !== 'directory') continue;
      out.push({ name, size: await sizeOf(handle as FileSystemDirectoryHandle), backend: 'opfs' });
    }
    return out;
  },

  async remove(name) {
    const top = await topDir(false);
    if (!top) return;
    try {
      await top.removeEntry(name, { recursive: true });
    } catch (err) {
      if ((err as Error)?.name === 'NotFoundError') return;
      throw toDiskError(err);
    }
  },
};
