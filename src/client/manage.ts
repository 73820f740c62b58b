import { DiskError, toDiskError } from '../core/errors';
import { newestMeta } from '../core/metadata';
import { checkName } from '../core/validate';
import { lockName, META_FILE, ROOT_DIR } from '../stores/layout';

export interface DiskEntry {
  name: string;
  /** Logical size in bytes (NaN if the metadata is unreadable). */
  size: number;
}

async function rootDir(): Promise<FileSystemDirectoryHandle | undefined> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.getDirectory !== 'function') return undefined;
  const root = await navigator.storage.getDirectory();
  try {
    return await root.getDirectoryHandle(ROOT_DIR);
  } catch {
    return undefined;
  }
}

async function sizeOf(dir: FileSystemDirectoryHandle): Promise<number> {
  try {
    const file = await (await dir.getFileHandle(META_FILE)).getFile();
    const bytes = new Uint8Array(await file.arrayBuffer());
    return newestMeta(bytes)?.size ?? Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The persistent disks of this origin, by name. */
export async function listDisks(): Promise<DiskEntry[]> {
  const top = await rootDir();
  if (!top) return [];
  const out: DiskEntry[] = [];
  for await (const [name, handle] of top as unknown as AsyncIterable<[string, FileSystemHandle]>) {
    if (handle.kind !== 'directory') continue;
    out.push({ name, size: await sizeOf(handle as FileSystemDirectoryHandle) });
  }
  return out.sort((x, y) => x.name.localeCompare(y.name));
}

/** Deletes a disk and its data. Rejects EBUSY while it is open; a missing disk is not an error. */
export async function deleteDisk(name: string): Promise<void> {
  checkName(name);
  const top = await rootDir();
  if (!top) return;
  const remove = async () => {
    try {
      await top.removeEntry(name, { recursive: true });
    } catch (err) {
      if ((err as Error)?.name === 'NotFoundError') return;
      throw toDiskError(err);
    }
  };
  if (!navigator.locks) return remove();
  const done = await navigator.locks.request(lockName(name), { ifAvailable: true }, async (lock) => {
    if (!lock) return false;
    await remove();
    return true;
  });
  if (!done) throw new DiskError('EBUSY', `Disk "${name}" is open (this or another tab): close it before deleting.`);
}
