/**
 * A SQLite file path → the name of the disk that holds it. Disk names are
 * 1–64 characters of `A-Z a-z 0-9 . _ -`; a path that is not already one
 * (after the VFS's prefix) keeps a readable part and gets a CRC of the whole
 * path, so two paths never share a disk by accident of spelling.
 */
import { crc32 } from '../../core/crc32';

const MAX = 64;
const SAFE = /^[A-Za-z0-9._-]+$/;

export function diskNameFor(vfsName: string, path: string): string {
  const full = `${vfsName}.${path.replace(/^\/+/, '')}`;
  if (full.length <= MAX && SAFE.test(full)) return full;
  const hash = crc32(new TextEncoder().encode(full)).toString(16).padStart(8, '0');
  const readable = full.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${readable.slice(0, MAX - 9)}-${hash}`;
}

/** A VFS name short and plain enough to prefix its disks' names (WebdiskVFS.create checks it). */
export function validVfsName(name: string): boolean {
  return name.length >= 1 && name.length <= 24 && SAFE.test(name);
}
