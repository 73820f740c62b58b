/**
 * emulator.html: the tiny test guest (guest.ts) boots in v86 from a
 * webdisk disk through the v86 adapter; Power loss kills the disk worker
 * mid-flight, Reopen shows what survived. Query `?disk=NAME` picks the
 * disk (the e2e test uses its own).
 */
import { V86 } from 'v86';
import wasmUrl from 'v86/build/v86.wasm?url';
import { createV86Disk, type V86Disk } from '../../adapters/v86';
import { CACHE_MODE_HELP } from '../../core/cache-modes';
import { CACHE_MODES, type CacheMode } from '../../core/types';
import { type Disk, deleteDisk, openDisk } from '../../index';
import '../style.css';
import './emulator.css';
import { bootGuest, checkRegions, counterOf, GUEST_SPAN } from './guest';

const DISK_SIZE = 4 * 1024 * 1024;
const name = new URLSearchParams(location.search).get('disk') ?? 'emulator-guest';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const modeSelect = $<HTMLSelectElement>('cache-mode');
const buttons = {
  boot: $<HTMLButtonElement>('boot'),
  power: $<HTMLButtonElement>('power'),
  reopen: $<HTMLButtonElement>('reopen'),
  wipe: $<HTMLButtonElement>('wipe'),
};

let disk: Disk | undefined;
let hda: V86Disk | undefined;
let firmware: { bios: ArrayBuffer; vgaBios: ArrayBuffer; guest: ArrayBuffer } | undefined;
let booting = false;

type Phase = 'loading' | 'missing-bios' | 'open' | 'booting' | 'power-lost' | 'error';

function show(phase: Phase, text: string, kind: 'info' | 'busy' | 'error' = 'info'): void {
  document.body.dataset.phase = phase;
  status.textContent = text;
  status.dataset.kind = kind;
  buttons.boot.disabled = phase !== 'open';
  buttons.power.disabled = !(phase === 'open' || phase === 'booting');
  buttons.reopen.disabled = phase !== 'power-lost';
  buttons.wipe.disabled = !(phase === 'open' || phase === 'power-lost');
  modeSelect.disabled = phase !== 'open';
}

async function fetchBytes(url: string): Promise<ArrayBuffer | undefined> {
  const res = await fetch(url);
  return res.ok ? res.arrayBuffer() : undefined;
}

/** SeaBIOS and the guest: served beside the page (bios/ maps to Debian's seabios package in dev and tests). */
async function loadFirmware(): Promise<boolean> {
  const [bios, vgaBios, guest] = await Promise.all([
    fetchBytes('./bios/bios.bin'),
    fetchBytes('./bios/vgabios-stdvga.bin'),
    fetchBytes('./guests/disktest.bin'),
  ]);
  if (!bios || !vgaBios || !guest) {
    show(
      'missing-bios',
      'The BIOS files are missing: install Debian’s seabios package (apt-get install seabios; npm start serves /usr/share/seabios), or copy bios.bin and vgabios-stdvga.bin from SeaBIOS into public/bios/.',
      'error',
    );
    return false;
  }
  firmware = { bios, vgaBios, guest };
  return true;
}

/** Opens (creating and installing the guest if needed) the disk in the chosen mode; reports what it holds. */
async function open(): Promise<void> {
  const cache = modeSelect.value as CacheMode;
  disk = await openDisk({ name, size: DISK_SIZE, cache });
  const head = await disk.read(0, GUEST_SPAN);
  if (head[510] !== 0x55 || head[511] !== 0xaa) {
    // A new disk: the guest goes on it, durably.
    await disk.write(0, new Uint8Array((firmware as { guest: ArrayBuffer }).guest));
    await disk.flush();
  }
  hda = await createV86Disk(disk, { onError: (err) => show('error', `Disk error: ${String(err)}`, 'error') });
  const unclean = disk.uncleanShutdown ? ' It was not shut down cleanly (power loss).' : '';
  show('open', `Disk "${name}" open (${disk.backend}, ${disk.cacheMode}).${unclean} ${await describeDisk()}`);
}

/** The boot counter and whether that boot's sectors are all there, as read from the disk now. */
async function describeDisk(): Promise<string> {
  const check = $<HTMLParagraphElement>('check');
  const image = await (disk as Disk).read(0, GUEST_SPAN);
  const counter = counterOf(image);
  if (counter === undefined) {
    check.textContent = 'Never booted: no boot counter yet.';
    check.dataset.counter = '0';
    check.dataset.bad = '0';
    return 'The guest has not booted yet.';
  }
  const bad = checkRegions(image, counter).filter((r) => r.badBytes > 0);
  check.dataset.counter = String(counter);
  check.dataset.bad = String(bad.length);
  check.textContent =
    bad.length === 0
      ? `Boot counter ${counter}; every sector boot ${counter} wrote is on the disk (BIOS, PIO and DMA writes).`
      : `Boot counter ${counter}, but boot ${counter}'s sectors are not all there: ${bad.map((r) => r.path).join(', ')}.`;
  return `Boot counter on disk: ${counter}.`;
}

async function boot(): Promise<void> {
  if (!disk || !hda || !firmware) return;
  booting = true;
  show('booting', 'Booting the guest…', 'busy');
  $<HTMLOutputElement>('serial').textContent = '…';
  try {
    const r = await bootGuest({
      V86,
      wasmPath: wasmUrl,
      bios: firmware.bios,
      vgaBios: firmware.vgaBios,
      hda,
      screen: $<HTMLDivElement>('screen'),
    });
    $<HTMLOutputElement>('serial').textContent = r.line;
    if (document.body.dataset.phase !== 'booting') return; // the plug was pulled meanwhile
    show('open', `The guest finished in ${(r.ms / 1000).toFixed(1)} s: ${r.line}. ${await describeDisk()}`);
  } catch (err) {
    if (document.body.dataset.phase === 'booting') show('error', `The boot failed: ${String(err)}`, 'error');
  } finally {
    booting = false;
  }
}

function powerLoss(): void {
  disk?.powerLoss();
  show(
    'power-lost',
    'Power lost: the disk worker is gone, and with it what the cache mode had not made durable. Reopen to see what survived.',
  );
}

async function run(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    show('error', String(err), 'error');
  }
}

/** The I/O counters, live. */
async function refresh(): Promise<void> {
  if (hda) {
    const c = hda.counters;
    $('c-reads').textContent = c.reads.toLocaleString('en');
    $('c-writes').textContent = c.writes.toLocaleString('en');
    $('c-flushes').textContent = c.guestFlushes.toLocaleString('en');
    $('c-errors').textContent = c.errors.toLocaleString('en');
  }
  if (disk && !disk.closed) {
    const s = await disk.stats().catch(() => undefined);
    if (s) {
      $('c-disk-flushes').textContent = s.flushes.toLocaleString('en');
      $('c-dirty').textContent = `${(s.dirtyBytes / 1024).toFixed(0)} KiB`;
    }
  }
}

for (const mode of CACHE_MODES) modeSelect.add(new Option(mode, mode, mode === 'writeback', mode === 'writeback'));
const help = () => {
  $('mode-help').textContent = CACHE_MODE_HELP[modeSelect.value as CacheMode];
};
modeSelect.addEventListener('change', () => {
  help();
  void run(async () => {
    await disk?.setCacheMode(modeSelect.value as CacheMode);
    show('open', `Cache mode: ${modeSelect.value}.`);
  });
});
buttons.boot.addEventListener('click', () => void run(boot));
buttons.power.addEventListener('click', powerLoss);
buttons.reopen.addEventListener('click', () => void run(open));
buttons.wipe.addEventListener(
  'click',
  () =>
    void run(async () => {
      if (!disk?.closed) await disk?.close();
      await deleteDisk(name);
      await open();
    }),
);
help();
setInterval(() => void refresh(), 500);

void run(async () => {
  if (await loadFirmware()) await open();
});

/** For tests: the page's disk and adapter. */
(window as unknown as { emulatorPage: object }).emulatorPage = {
  get disk() {
    return disk;
  },
  get hda() {
    return hda;
  },
  get booting() {
    return booting;
  },
};
