/** Where the guest's packages, apt state and build outputs are kept (gitignored). */
export const LINUX_GUEST_DIR: string;
/** The size of the ext4 disk image the guest mounts. */
export const LINUX_DISK_SIZE: number;
/** The built guest: paths under LINUX_GUEST_DIR, and what went into it. */
export interface LinuxGuest {
  kernel: string;
  initrd: string;
  /** An empty ext4 file system (mkfs.ext4, with a journal), LINUX_DISK_SIZE bytes. */
  disk: string;
  info: string;
  kernelVersion: string;
  packages: Record<string, string>;
  modules: string[];
}
/** What building the guest needs and does not find here, each with its Debian package. */
export function missingLinuxGuestTools(): string[];
/** Fetches (once, into LINUX_GUEST_DIR) and builds the guest; throws naming what is missing. */
export function buildLinuxGuest(options?: { refresh?: boolean; log?: (message: string) => void }): LinuxGuest;
