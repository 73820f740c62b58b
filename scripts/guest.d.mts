export const GUEST_SOURCE: string;
export const GUEST_BINARY: string;
export const BIOS_DIR: string;
/** The tools the guest tests need that are missing here, each with its Debian package. */
export function missingGuestTools(): string[];
/** Assembles guests/disktest/disktest.asm with nasm; its bytes. */
export function assembleGuest(): Uint8Array;
