/**
 * The tiny test guest (guests/disktest/disktest.asm) as the emulator page
 * and the tests boot it: where it writes, what it writes, and a boot in v86
 * that ends at its one line on the serial port.
 *
 * Each boot increments a counter at LBA 10 and writes sectors whose byte i
 * at LBA L is (counter + L + i) & 0xff, through every path v86 has: BIOS
 * int 13h CHS and extended writes, ATA PIO and ATA DMA; then it sends FLUSH
 * CACHE and FLUSH CACHE EXT, reads everything back and prints
 * "DONE <counter hex> …" or "FAIL <stage> …".
 */
import type { V86 } from 'v86';
import type { V86Disk } from '../../adapters/v86';

export const SECTOR = 512;
export const COUNTER_LBA = 10;
/** The sectors a boot writes, by the path that writes them. */
export const REGIONS = [
  { path: 'BIOS int 13h CHS write', lba: 20, sectors: 2 },
  { path: 'BIOS int 13h extended write', lba: 30, sectors: 4 },
  { path: 'ATA PIO WRITE SECTORS', lba: 40, sectors: 4 },
  { path: 'ATA WRITE DMA', lba: 50, sectors: 8 },
] as const;
/** Bytes from the disk's start that hold everything the guest reads and writes. */
export const GUEST_SPAN = 64 * SECTOR;

/** The boot counter in a disk image's first GUEST_SPAN bytes (undefined before the first boot). */
export function counterOf(image: Uint8Array): number | undefined {
  const at = COUNTER_LBA * SECTOR;
  const magic = String.fromCharCode(...image.subarray(at, at + 4));
  if (magic !== 'CNTR') return undefined;
  return new DataView(image.buffer, image.byteOffset + at + 4, 4).getUint32(0, true);
}

/** Each region's bad bytes against the pattern of boot `counter` (all 0: the boot's writes are there). */
export function checkRegions(image: Uint8Array, counter: number): { path: string; badBytes: number }[] {
  return REGIONS.map((r) => {
    let bad = 0;
    for (let s = 0; s < r.sectors; s++) {
      const lba = r.lba + s;
      for (let i = 0; i < SECTOR; i++) if (image[lba * SECTOR + i] !== ((counter + lba + i) & 0xff)) bad++;
    }
    return { path: r.path, badBytes: bad };
  });
}

export interface BootOptions {
  /** The V86 class (from the `v86` package). */
  V86: typeof V86;
  /** v86.wasm's URL (a page) or path (Node). */
  wasmPath: string;
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
  hda: V86Disk;
  /** Where v86 draws the screen (a page); none in Node. */
  screen?: HTMLElement;
  /** Gives up after this long (default 60 s). */
  timeoutMs?: number;
  /** Called with the emulator once it runs (to keep it, stop it, power it off). */
  onStart?: (emulator: V86) => void;
}

export interface BootResult {
  /** The guest's serial line: "DONE …" or "FAIL …". */
  line: string;
  ms: number;
}

/** Boots the guest on `hda` and waits for its serial line; the emulator is destroyed after. */
export async function bootGuest(o: BootOptions): Promise<BootResult> {
  const t0 = performance.now();
  const emulator = new o.V86({
    wasm_path: o.wasmPath,
    bios: { buffer: o.bios },
    vga_bios: { buffer: o.vgaBios },
    // v86 duck-types a disk object with get/set/load (its own type knows only images).
    hda: o.hda as never,
    memory_size: 32 << 20,
    vga_memory_size: 2 << 20,
    autostart: false,
    disable_speaker: true,
    disable_keyboard: true,
    disable_mouse: true,
    ...(o.screen ? { screen_container: o.screen } : {}),
  });
  let serial = '';
  let detach: (() => void) | undefined;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`the guest did not finish in ${o.timeoutMs ?? 60_000} ms; serial: ${JSON.stringify(serial)}`),
          ),
        o.timeoutMs ?? 60_000,
      );
      emulator.add_listener('serial0-output-byte', (b: number) => {
        serial += String.fromCharCode(b);
        const m = /(DONE|FAIL)[^\n]*\n/.exec(serial);
        if (m) {
          clearTimeout(timer);
          resolve(m[0].trim());
        }
      });
      emulator.add_listener('emulator-loaded', () => {
        try {
          detach = o.hda.attach(emulator);
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        o.onStart?.(emulator);
        void emulator.run();
      });
    });
    return { line, ms: Math.round(performance.now() - t0) };
  } finally {
    detach?.();
    await emulator.destroy();
  }
}
