// The tiny test guest (guests/disktest/disktest.asm): assembled with nasm
// (Debian's `nasm`) by the tests, and committed assembled as
// public/guests/disktest.bin so the emulator page works without nasm.
//
//   node scripts/guest.mjs     re-assembles public/guests/disktest.bin
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const GUEST_SOURCE = join(ROOT, 'guests/disktest/disktest.asm');
export const GUEST_BINARY = join(ROOT, 'public/guests/disktest.bin');
/** SeaBIOS as Debian's `seabios` installs it. */
export const BIOS_DIR = '/usr/share/seabios';

/** Whether `cmd` runs here. */
function runs(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/**
 * The tools the guest tests need, each with the Debian package that brings
 * it: missing ones are listed (a test skips naming them; under CI=true it
 * fails instead).
 */
export function missingGuestTools() {
  const missing = [];
  if (!runs('nasm', ['-v'])) missing.push('nasm (apt-get install nasm)');
  if (!existsSync(join(BIOS_DIR, 'bios.bin')) || !existsSync(join(BIOS_DIR, 'vgabios-stdvga.bin'))) {
    missing.push('SeaBIOS (apt-get install seabios)');
  }
  return missing;
}

/** Assembles the guest; its bytes. */
export function assembleGuest() {
  const dir = mkdtempSync(join(tmpdir(), 'webdisk-guest-'));
  try {
    const out = join(dir, 'disktest.bin');
    const r = spawnSync('nasm', ['-f', 'bin', GUEST_SOURCE, '-o', out], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`nasm failed: ${r.stderr || r.error}`);
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(GUEST_BINARY, assembleGuest());
  console.log(`wrote ${GUEST_BINARY}`);
}
