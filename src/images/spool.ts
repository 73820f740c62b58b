import { DiskError } from '../core/errors';

/** The OPFS folder streams are kept in while they are imported (not a disk: beside webdisk/, not in it). */
export const SPOOL_DIR = 'webdisk-spool';
/** A spool file older than this was left by an import that never finished (a closed tab): removed. */
const STALE_MS = 24 * 60 * 60 * 1000;

export interface Spooled {
  /** The stream's bytes, random access. */
  blob: Blob;
  /** Deletes the spool file (after the import read it). */
  remove(): Promise<void>;
}

type WritableHandle = FileSystemFileHandle & { createWritable(): Promise<WritableStream<Uint8Array>> };

/**
 * Keeps a stream in a file of the origin-private file system while it is
 * imported: an import needs random access (qcow2 tables, the size before
 * the disk is made), and a Blob of a large stream may be held in memory.
 * Where OPFS files cannot be written from this thread (no createWritable),
 * the stream becomes a Blob, as the browser keeps it.
 */
export async function spool(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<Spooled> {
  const dir = await spoolDir();
  if (!dir) return { blob: await new Response(stream).blob(), remove: async () => undefined };
  await removeStale(dir);
  const name = `${Date.now()}-${Math.random().toString(36).slice(2)}.img`;
  const handle = (await dir.getFileHandle(name, { create: true })) as WritableHandle;
  const remove = () => dir.removeEntry(name).catch(() => undefined);
  try {
    await stream.pipeTo(await handle.createWritable(), { signal });
    return { blob: await handle.getFile(), remove };
  } catch (err) {
    await remove();
    if (signal?.aborted) throw signal.reason;
    if (err instanceof DOMException && err.name === 'QuotaExceededError') {
      throw new DiskError(
        'ENOSPC',
        'The browser refused to store the image while importing it (quota exhausted): free space by deleting disks, or import from a Blob or URL.',
      );
    }
    throw err;
  }
}

async function spoolDir(): Promise<FileSystemDirectoryHandle | undefined> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.getDirectory !== 'function') return undefined;
  if (typeof FileSystemFileHandle === 'undefined' || !('createWritable' in FileSystemFileHandle.prototype)) {
    return undefined;
  }
  try {
    return await (await navigator.storage.getDirectory()).getDirectoryHandle(SPOOL_DIR, { create: true });
  } catch {
    return undefined; // OPFS refused (a private window in some browsers): a Blob then
  }
}

async function removeStale(dir: FileSystemDirectoryHandle): Promise<void> {
  const entries = (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values();
  for await (const entry of entries) {
    if (entry.kind !== 'file') continue;
    const file = await (entry as FileSystemFileHandle).getFile().catch(() => undefined);
    if (file && Date.now() - file.lastModified > STALE_MS) await dir.removeEntry(entry.name).catch(() => undefined);
  }
}
