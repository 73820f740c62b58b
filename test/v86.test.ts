import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { V86 } from 'v86';
import { describe, expect, it } from 'vitest';
import { assembleGuest, BIOS_DIR, GUEST_BINARY, missingGuestTools } from '../scripts/guest.mjs';
import { createV86Disk, switchedMode, type V86BackingDisk } from '../src/adapters/v86';
import type { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { bootGuest, checkRegions, counterOf, GUEST_SPAN } from '../src/demo/emulator/guest';
import { newBacking, openOn, rejectsWith } from './helpers';

// The v86 adapter (src/adapters/v86.ts) under a real v86 in Node, booting
// the tiny guest (guests/disktest/disktest.asm, assembled with nasm here)
// from SeaBIOS: its writes through BIOS, ATA PIO and ATA DMA reach the
// disk, its FLUSH CACHE reaches disk.flush(), and it sees what it wrote.

const missing = missingGuestTools();
if (missing.length > 0 && process.env.CI === 'true') {
  throw new Error(`CI=true: the v86 guest tests need ${missing.join(', ')}`);
}
if (missing.length > 0) console.warn(`SKIPPED v86 guest boots: install ${missing.join(', ')}`);
const guestIt = missing.length > 0 ? it.skip : it;

const WASM = join(createRequire(import.meta.url).resolve('v86'), '../v86.wasm');
const file = (name: string) => new Uint8Array(readFileSync(join(BIOS_DIR, name))).buffer;
const DISK = 4 * 1024 * 1024;

/** A BlockDevice as a Disk behaves for the adapter (write copies its data at once), counting flushes. */
function counted(dev: BlockDevice): V86BackingDisk & { flushes: number } {
  const d = {
    flushes: 0,
    get size() {
      return dev.size;
    },
    get cacheMode() {
      return dev.cacheMode;
    },
    read: (o: number, l: number) => dev.read(o, l),
    write: (o: number, data: Uint8Array, opts?: { fua?: boolean }) => dev.write(o, data.slice(), opts),
    flush: () => {
      d.flushes++;
      return dev.flush();
    },
    setCacheMode: (m: Parameters<BlockDevice['setCacheMode']>[0]) => dev.setCacheMode(m),
  };
  return d;
}

async function boot(dev: BlockDevice) {
  const disk = counted(dev);
  const hda = await createV86Disk(disk);
  const result = await bootGuest({
    V86,
    wasmPath: WASM,
    bios: file('bios.bin'),
    vgaBios: file('vgabios-stdvga.bin'),
    hda,
  });
  return { ...result, hda, flushes: disk.flushes };
}

describe('the v86 adapter under a real guest', () => {
  guestIt('the committed guest binary is what nasm makes of its source', () => {
    expect(Buffer.from(assembleGuest()).equals(readFileSync(GUEST_BINARY))).toBe(true);
  });

  guestIt(
    'a guest writes through BIOS, PIO and DMA, flushes, and finds it all after a reboot and after a crash',
    async () => {
      const b = newBacking();
      let dev = await openOn(b, { size: DISK, cache: 'writeback' });
      await dev.write(0, assembleGuest());
      await dev.flush();
      // Boot 1, then a clean close.
      let r = await boot(dev);
      expect(r.line).toMatch(/^DONE 00000001 /);
      // The adapter makes v86 report a write cache (IDENTIFY words 82 and 85, bit 5).
      expect(r.line).toContain('W82=4020');
      expect(r.line).toContain('W85=4020');
      expect(r.flushes).toBe(2); // FLUSH CACHE and FLUSH CACHE EXT
      expect(r.hda.counters).toMatchObject({ guestFlushes: 2, errors: 0 });
      expect(r.hda.counters.writes).toBeGreaterThanOrEqual(5);
      let image = await dev.read(0, GUEST_SPAN);
      expect(counterOf(image)).toBe(1);
      expect(checkRegions(image, 1).filter((x) => x.badBytes > 0)).toEqual([]);
      await dev.close();
      // Boot 2 after a reopen: the counter goes on.
      dev = await openOn(b, { cache: 'writeback' });
      r = await boot(dev);
      expect(r.line).toMatch(/^DONE 00000002 /);
      // A crash of the worker now (no close, no write-back of the cache): in
      // writeback only the guest's FLUSH made its writes durable.
      b.data.closed = true;
      b.meta.closed = true;
      dev = await openOn(b, { cache: 'writeback' });
      expect(dev.uncleanShutdown).toBe(true);
      image = await dev.read(0, GUEST_SPAN);
      expect(counterOf(image)).toBe(2);
      expect(checkRegions(image, 2).filter((x) => x.badBytes > 0)).toEqual([]);
      await dev.close();
    },
    120_000,
  );
});

describe('the v86 adapter, unit', () => {
  it('answers get_from_cache from the first sectors, kept current by writes', async () => {
    const b = newBacking();
    const dev = await openOn(b, { size: 1 << 20 });
    await dev.write(0, new Uint8Array(512).fill(7));
    const hda = await createV86Disk(counted(dev));
    expect(hda.byteLength).toBe(1 << 20);
    expect(hda.get_from_cache(0, 512)).toEqual(new Uint8Array(512).fill(7));
    const done = new Promise<void>((resolve) => hda.set(256, new Uint8Array(512).fill(9), resolve));
    expect(hda.get_from_cache(0, 512)?.[300]).toBe(9); // at once: v86 asks synchronously
    await done;
    const got = await new Promise<Uint8Array>((resolve) => hda.get(256, 512, resolve));
    expect(got).toEqual(new Uint8Array(512).fill(9));
    expect(hda.get_from_cache(1 << 19, 512)).toBeUndefined();
    expect(hda.get_state()).toEqual(['', 1 << 20]);
    expect(() => hda.set_state(['', 512])).toThrow(DiskError);
    await dev.close();
  });

  it('set() is done with the data when it returns (v86 reuses its buffer at once)', async () => {
    const dev = await openOn(newBacking(), { size: 1 << 20 });
    const hda = await createV86Disk(counted(dev));
    const buf = new Uint8Array(1024).fill(1);
    const done = new Promise<void>((resolve) => hda.set(4096, buf, resolve));
    buf.fill(2);
    await done;
    expect(await dev.read(4096, 1024)).toEqual(new Uint8Array(1024).fill(1));
    await dev.close();
  });

  it('refuses what v86 cannot use, clearly', async () => {
    const dev = await openOn(newBacking(), { size: 1 << 20 });
    await rejectsWith(createV86Disk(dev, { flushIntervalMs: 0 }), 'EINVAL');
    const hda = await createV86Disk(dev);
    expect(() => hda.attach({})).toThrow(/IDE controller/);
    await dev.close();
  });

  it('a guest switching its write cache moves between the paired modes', () => {
    expect(switchedMode('writeback', false)).toBe('writethrough');
    expect(switchedMode('writethrough', true)).toBe('writeback');
    expect(switchedMode('none', false)).toBe('directsync');
    expect(switchedMode('directsync', true)).toBe('none');
    expect(switchedMode('unsafe', false)).toBeUndefined();
    expect(switchedMode('writeback', true)).toBeUndefined();
  });
});
