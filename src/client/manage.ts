import { checkName } from '../core/validate';
import { type DiskEntry, PERSISTENT_BACKENDS } from '../stores/backends';
import { withDiskLock } from '../stores/locks';

/** How long deleteDisk waits for a disk just closed (or killed) to give its lock back. */
const DELETE_LOCK_WAIT_MS = 1000;

export type { DiskEntry };

/** The persistent disks of this origin, on every backend, by name (code-unit order: the same in every browser). */
export async function listDisks(): Promise<DiskEntry[]> {
  const lists = await Promise.all(PERSISTENT_BACKENDS.filter((b) => b.canList()).map((b) => b.list()));
  return lists.flat().sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/**
 * Deletes a disk and its data, on whichever backend holds it. Rejects
 * EBUSY while it is open (here or in another tab: after waiting a second
 * for one just closed or killed); a missing disk is not an error.
 */
export async function deleteDisk(name: string): Promise<void> {
  checkName(name);
  await withDiskLock(name, DELETE_LOCK_WAIT_MS, async () => {
    for (const b of PERSISTENT_BACKENDS) if (b.canList()) await b.remove(name);
  });
}
