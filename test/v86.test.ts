import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { V86 } from 'v86';
import { describe, expect, it } from 'vitest';
import { handleBaseImage } from '../scripts/base-images.mjs';
import { assembleGuest, BIOS_DIR, GUEST_BINARY, missingGuestTools } from '../scripts/guest.mjs';
import { createV86Disk, switchedMode, type V86BackingDisk } from '../src/adapters/v86';
import type { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { bootGuest, checkRegions, counterOf, GUEST_SPAN } from '../src/demo/emulator/guest';
import { type Backing, newBacking, newBackingOf, openOn, rejectsWith } from './helpers';

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
const GUEST_BINARY_SIZE = statSync(GUEST_BINARY).size;

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

describe('a guest booting from an overlay over a URL', () => {
  guestIt(
    'boots from its base fetched lazily; its writes stay local; reset() gives the base back',
    async () => {
      const server = createServer((req, res) => {
        if (!handleBaseImage(req, res)) res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        // The guest's image as an OS image on a server: Range requests, counted.
        await fetch(`${origin}/base-control/guest?file=public/guests/disktest.bin`);
        const url = `${origin}/base/guest`;
        const thin = newBackingOf('thin');
        const backing: Backing = { kind: 'overlay', base: { url }, open: () => thin.open() };
        let dev = await openOn(backing, { size: DISK, cache: 'writeback' });
        expect((await boot(dev)).line).toMatch(/^DONE 00000001 /);
        await dev.close();
        dev = await openOn(backing, { cache: 'writeback' });
        expect((await boot(dev)).line).toMatch(/^DONE 00000002 /);
        const stats = await (await fetch(`${origin}/base-stats/guest`)).json();
        expect(stats.bytes - 1, 'the base fetched once, after the 1-byte probe').toBe(GUEST_BINARY_SIZE);
        await dev.reset();
        expect((await boot(dev)).line, 'the base again: a first boot').toMatch(/^DONE 00000001 /);
        await dev.close();
      } finally {
        server.close();
      }
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

/**
 * The few parts of v86's IDE emulation attach() touches, as plain objects:
 * the hook's behaviour without booting anything (the guest tests above
 * check it against the real v86).
 */
function fakeEmulator(hda: unknown) {
  const calls: string[] = [];
  const drive = {
    buffer: hda,
    is_atapi: false,
    data: new Uint8Array(512),
    current_command: -1,
    status_reg: 0x50,
    error_reg: 0,
    features_reg: 0,
    push_irq: () => calls.push(`irq status=${drive.status_reg.toString(16)}`),
  };
  const channel = {
    command_base: 0x1f0,
    irq: 14,
    current_interface: drive,
    master: drive,
    slave: { ...drive, buffer: undefined },
    cpu: { device_lower_irq: () => calls.push('lower') },
  };
  const ports: { write8: (this: typeof channel, v: number) => void }[] = [];
  // v86's own command handler: answers at once, as v86 does for FLUSH CACHE.
  ports[0x1f7] = {
    write8(this: typeof channel, v: number) {
      calls.push(`v86 command ${v.toString(16)}`);
      if (v === 0xec) this.current_interface.data.fill(0);
    },
  };
  const emulator = { v86: { cpu: { io: { ports }, devices: { ide: { primary: channel } } } } };
  const command = (v: number) => ports[0x1f7].write8.call(channel, v);
  return { emulator, drive, calls, command };
}

describe('attach(): the IDE hooks', () => {
  it('FLUSH CACHE keeps the drive busy until disk.flush() resolves; a failed flush completes with ABRT', async () => {
    const dev = await openOn(newBacking(), { size: 1 << 20, cache: 'writeback' });
    const disk = counted(dev);
    let release: () => void = () => undefined;
    let fail = false;
    const flush = disk.flush;
    disk.flush = () =>
      new Promise<void>((resolve, reject) => {
        release = () => (fail ? reject(new Error('no space')) : flush().then(resolve, reject));
      });
    const errors: unknown[] = [];
    const hda = await createV86Disk(disk, { onError: (e) => errors.push(e) });
    const f = fakeEmulator(hda);
    const detach = hda.attach(f.emulator);
    f.command(0xe7);
    expect(f.drive.status_reg, 'busy while the flush runs').toBe(0xd0);
    expect(f.calls).not.toContain('v86 command e7'); // v86 would have completed it at once
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(f.drive.status_reg).toBe(0x50);
    expect(f.calls.at(-1)).toBe('irq status=50');
    expect(hda.counters.guestFlushes).toBe(1);
    fail = true;
    f.command(0xea);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(f.drive.status_reg).toBe(0x51);
    expect(f.drive.error_reg).toBe(0x04);
    expect(errors).toHaveLength(1);
    // Other commands are v86's; after detach, FLUSH is too.
    f.command(0x20);
    expect(f.calls.at(-1)).toBe('v86 command 20');
    detach();
    f.command(0xe7);
    expect(f.calls.at(-1)).toBe('v86 command e7');
    await dev.close();
  });

  it('IDENTIFY reports the write cache; the guest turning it off and on switches the cache mode', async () => {
    const dev = await openOn(newBacking(), { size: 1 << 20, cache: 'writeback' });
    const hda = await createV86Disk(counted(dev));
    const f = fakeEmulator(hda);
    hda.attach(f.emulator);
    f.command(0xec);
    expect(f.drive.data[82 * 2] & 0x20).toBe(0x20);
    expect(f.drive.data[85 * 2] & 0x20).toBe(0x20);
    f.drive.features_reg = 0x82; // SET FEATURES: disable write cache
    f.command(0xef);
    await new Promise((r) => setTimeout(r, 10));
    expect(dev.cacheMode).toBe('writethrough');
    f.command(0xec);
    expect(f.drive.data[85 * 2] & 0x20).toBe(0);
    f.drive.features_reg = 0x02;
    f.command(0xef);
    await new Promise((r) => setTimeout(r, 10));
    expect(dev.cacheMode).toBe('writeback');
    // writeCache: false leaves v86's IDENTIFY as it is.
    const plain = await createV86Disk(counted(dev), { writeCache: false });
    const g = fakeEmulator(plain);
    plain.attach(g.emulator);
    g.command(0xec);
    expect(g.drive.data[85 * 2] & 0x20).toBe(0);
    await dev.close();
  });

  it('flushIntervalMs flushes while the guest writes, and not while it does not', async () => {
    const dev = await openOn(newBacking(), { size: 1 << 20, cache: 'writeback' });
    const disk = counted(dev);
    const hda = await createV86Disk(disk, { flushIntervalMs: 20 });
    const detach = hda.attach(fakeEmulator(hda).emulator);
    await new Promise((r) => setTimeout(r, 80));
    expect(disk.flushes, 'nothing written: no flush').toBe(0);
    await new Promise<void>((resolve) => hda.set(0, new Uint8Array(512).fill(1), resolve));
    await new Promise((r) => setTimeout(r, 80));
    expect(disk.flushes).toBe(1);
    expect(hda.counters.timedFlushes).toBe(1);
    detach();
    await dev.close();
  });
});
