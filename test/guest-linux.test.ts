import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { V86 } from 'v86';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIOS_DIR } from '../scripts/guest.mjs';
import { buildLinuxGuest, LINUX_DISK_SIZE, type LinuxGuest } from '../scripts/linux-guest.mjs';
import { createV86Disk, type V86BackingDisk, type V86Disk } from '../src/adapters/v86';
import { BlockDevice } from '../src/core/block-device';
import { MemoryStore } from '../src/stores/memory-store';
import { stackStores } from '../src/stores/stack';

// `npm run test:guest` (vitest.guest.config.ts; not part of test:unit): a
// Linux guest — Debian's i386 kernel and a busybox initramfs, built by
// scripts/linux-guest.mjs — boots in v86 from a webdisk disk in `writeback`
// over the power-loss simulator (unsynced store writes die with the power).
// It writes a file on ext4 and runs `sync`; the power is cut; after a reboot
// the file is intact. That holds because the adapter reports a write cache,
// so Linux sends FLUSH CACHE on sync. With `writeCache: false` (v86's own
// IDENTIFY) Linux sends none, and a synced file is lost the same way.

const WASM = join(createRequire(import.meta.url).resolve('v86'), '../v86.wasm');
const BOOT_TIMEOUT = 240_000;
/**
 * The kernel's command line: the console on the serial port, and what costs
 * seconds in v86 and proves nothing here left out (PnP BIOS and ISA PnP
 * probes, audit, the crypto self-tests: a quarter of the boot).
 * WEBDISK_GUEST_CMDLINE adds to it ("loglevel=7 printk.time=1" shows the whole boot).
 */
const CMDLINE = [
  'console=ttyS0 loglevel=4 tsc=reliable mitigations=off',
  'pnpbios=off noisapnp audit=0 cryptomgr.notests',
  process.env.WEBDISK_GUEST_CMDLINE ?? '',
]
  .join(' ')
  .trim();
/** WEBDISK_GUEST_SERIAL=1 prints each boot's serial output. */
const PRINT_SERIAL = !!process.env.WEBDISK_GUEST_SERIAL;

/** The disk's backend files: memory, kept across power cycles as a browser keeps OPFS files. */
const files = { data: new MemoryStore(), meta: new MemoryStore() };

/** The disk in `writeback` over the power-loss simulator, with its plug. */
async function powerOn(create: boolean): Promise<{ dev: BlockDevice; power: { off: boolean } }> {
  for (const f of Object.values(files)) f.closed = false;
  const power = { off: false };
  const { data, meta } = await stackStores(files, { crashModel: 'power', power });
  const dev = await BlockDevice.open({ data, meta, cache: 'writeback', ...(create ? { size: LINUX_DISK_SIZE } : {}) });
  return { dev, power };
}

/** A BlockDevice as a Disk behaves for the adapter (write copies its data at once). */
function asDisk(dev: BlockDevice): V86BackingDisk {
  return {
    name: 'linux',
    get size() {
      return dev.size;
    },
    get cacheMode() {
      return dev.cacheMode;
    },
    read: (o, l) => dev.read(o, l),
    write: (o, data, opts) => dev.write(o, data.slice(), opts),
    flush: () => dev.flush(),
    setCacheMode: (m) => dev.setCacheMode(m),
  };
}

interface Boot {
  /** The guest's "WEBDISK …" lines. */
  lines: string[];
  serial: string;
  /** From power-on to the guest's "WEBDISK END". */
  ms: number;
  hda: V86Disk;
}

/**
 * Boots the guest with `webdisk=<steps>` (see the /init of
 * scripts/linux-guest.mjs) and waits for its "WEBDISK END"; then the power
 * is cut at once — nothing the disk had not made durable survives — and the
 * emulator is destroyed.
 */
async function bootLinux(
  guest: LinuxGuest,
  dev: BlockDevice,
  power: { off: boolean },
  steps: string,
  writeCache?: boolean,
): Promise<Boot> {
  const errors: unknown[] = [];
  const hda = await createV86Disk(asDisk(dev), {
    writeCache,
    onError: (err) => {
      if (!power.off) errors.push(err);
    },
  });
  const buffer = (path: string) => new Uint8Array(readFileSync(path)).buffer;
  const t0 = performance.now();
  const emulator = new V86({
    wasm_path: WASM,
    bios: { buffer: buffer(join(BIOS_DIR, 'bios.bin')) },
    vga_bios: { buffer: buffer(join(BIOS_DIR, 'vgabios-stdvga.bin')) },
    bzimage: { buffer: buffer(guest.kernel) },
    initrd: { buffer: buffer(guest.initrd) },
    cmdline: `${CMDLINE} webdisk=${steps}`,
    hda: hda as never,
    memory_size: 128 << 20,
    vga_memory_size: 2 << 20,
    autostart: false,
    disable_speaker: true,
    disable_keyboard: true,
    disable_mouse: true,
  });
  let serial = '';
  let detach: (() => void) | undefined;
  try {
    const ms = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "WEBDISK END" in ${BOOT_TIMEOUT} ms; serial:\n${serial}`)),
        BOOT_TIMEOUT,
      );
      emulator.add_listener('serial0-output-byte', (b: number) => {
        serial += String.fromCharCode(b);
        if (b === 10 && serial.endsWith('WEBDISK END\r\n')) {
          power.off = true; // before the emulator runs one more instruction
          clearTimeout(timer);
          resolve(Math.round(performance.now() - t0));
        }
      });
      emulator.add_listener('emulator-loaded', () => {
        try {
          detach = hda.attach(emulator);
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        void emulator.run();
      });
    });
    if (PRINT_SERIAL) console.log(`serial output (${steps}):\n${serial}`);
    const lines = serial
      .split(/\r?\n/)
      .filter((l) => l.startsWith('WEBDISK '))
      .map((l) => l.slice(8).trim());
    if (errors.length > 0 || lines.some((l) => l.startsWith('FAIL'))) {
      throw new Error(`the guest failed (disk errors: ${errors.map(String).join('; ') || 'none'}); serial:\n${serial}`);
    }
    return { lines, serial, ms, hda };
  } finally {
    power.off = true;
    detach?.();
    await emulator.destroy();
  }
}

/** The value a guest line `<key> …` carries ("CACHE write back", "FILE name md5"). */
function said(boot: Boot, key: string): string {
  const line = boot.lines.find((l) => l.startsWith(`${key} `));
  if (line === undefined) throw new Error(`the guest never said "${key}"; serial:\n${boot.serial}`);
  return line.slice(key.length + 1);
}

/** Runs `check` and prints the serial output if it throws. */
function explained(boot: Boot, check: () => void): void {
  try {
    check();
  } catch (err) {
    console.error(`serial output of the failing boot:\n${boot.serial}`);
    throw err;
  }
}

describe('a Linux guest on a webdisk disk in v86', () => {
  let guest: LinuxGuest;

  beforeAll(() => {
    guest = buildLinuxGuest({ log: (m) => console.log(`linux-guest: ${m}`) });
    for (const f of ['bios.bin', 'vgabios-stdvga.bin']) {
      if (!existsSync(join(BIOS_DIR, f)))
        throw new Error(`needs SeaBIOS: ${join(BIOS_DIR, f)} (apt-get install seabios)`);
    }
  }, 300_000);

  it('a file written and synced survives a power loss (the write cache is reported, so Linux flushes); without it, it does not', async () => {
    // A fresh ext4 disk (mkfs.ext4, with a journal), made durable.
    let { dev, power } = await powerOn(true);
    const image = readFileSync(guest.disk);
    const CHUNK = 64 * 1024;
    for (let at = 0; at < image.length; at += CHUNK) {
      const chunk = image.subarray(at, at + CHUNK);
      if (chunk.some((b) => b !== 0)) await dev.write(at, chunk);
    }
    await dev.flush();

    // Boot 1, the adapter's default: the guest sees a write cache; its sync flushes.
    const b1 = await bootLinux(guest, dev, power, 'write:synced');
    const synced = said(b1, 'SYNCED synced');
    explained(b1, () => {
      expect(said(b1, 'CACHE')).toBe('write back');
      expect(synced).toMatch(/^[0-9a-f]{32}$/);
      expect(b1.hda.counters.guestFlushes).toBeGreaterThan(0);
    });
    console.log(`boot 1 (write, sync, power loss): ${b1.ms} ms, ${b1.hda.counters.guestFlushes} guest flushes`);

    // Power back on: the disk was not closed; the file is there.
    ({ dev, power } = await powerOn(false));
    expect(dev.uncleanShutdown).toBe(true);
    // Boot 2 with v86's own IDENTIFY ("no write cache"): Linux syncs without a flush.
    const b2 = await bootLinux(guest, dev, power, 'check:synced,write:unflushed', false);
    const unflushed = said(b2, 'SYNCED unflushed');
    explained(b2, () => {
      expect(said(b2, 'FILE synced')).toBe(synced);
      expect(said(b2, 'CACHE')).toBe('write through');
      expect(b2.hda.counters.guestFlushes).toBe(0);
      expect(b2.hda.counters.writes).toBeGreaterThan(0);
    });
    console.log(`boot 2 (check; write, sync without a flush, power loss): ${b2.ms} ms`);

    // Boot 3: the first file is still intact; the one synced without a flush is gone.
    ({ dev, power } = await powerOn(false));
    const b3 = await bootLinux(guest, dev, power, 'check:synced,check:unflushed');
    explained(b3, () => {
      expect(said(b3, 'FILE synced')).toBe(synced);
      expect(said(b3, 'FILE unflushed')).not.toBe(unflushed);
    });
    console.log(`boot 3 (check): ${b3.ms} ms; the unflushed file: ${said(b3, 'FILE unflushed')}`);
  }, 900_000);
});
