import { DiskError } from '../index';

/**
 * What went wrong, in words a person can act on: the DiskError's stable
 * code, a plain sentence for the states that would surprise, and the
 * library's own message.
 */
export function explainError(err: unknown, diskName: string): { code: string; text: string } {
  if (!(err instanceof DiskError)) {
    const message = err instanceof Error ? err.message : String(err);
    return { code: 'ERROR', text: `Something unexpected failed: ${message}` };
  }
  const plain: Partial<Record<DiskError['code'], string>> = {
    EBUSY: `Disk “${diskName}” is busy: it is open in another tab or window of this site. Close it there, or type another disk name and press Open disk.`,
    ENOSPC:
      'The browser’s storage quota for this site is full. Delete disk (or other disks), pick a smaller size, or free space in the browser’s site settings.',
    ENOTSUP:
      'This browser offers no origin-private file system (OPFS) here: it needs a recent browser and a secure page (https or localhost). You can still try everything on a volatile memory disk.',
    ECLOSED: 'The disk is not open any more (it was closed or lost power).',
    ECORRUPT: 'The disk’s metadata is unreadable: delete the disk to start again.',
    EIO: 'The storage failed in an unexpected way.',
  };
  const sentence = plain[err.code];
  return { code: err.code, text: sentence ? `${sentence} (${err.message})` : err.message };
}
