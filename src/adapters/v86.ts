/**
 * webdisk as a v86 hard disk: `new V86({ hda: await createV86Disk(disk) })`.
 *
 * v86 (npm `v86` 0.5.x) takes any object with `get`, `set` and `load` as a
 * disk (its starter duck-types them). What it calls, read from its source
 * and checked against real boots (test/v86.test.ts, e2e/v86.spec.ts):
 * - `byteLength`, read while the IDE controller is built, and the
 *   synchronous `get_from_cache(0, 512)` (the MBR gives the CHS geometry);
 *   `get_and_cache(0, 512, cb)` is awaited before that, `load()` must call
 *   `this.onload()`.
 * - `get(start, len, cb)` for every ATA read; `set(start, data, cb)` for
 *   every ATA write. For a PIO write v86 has already completed the command
 *   when it calls `set` (its callback is a no-op) and `data` is a view into
 *   a buffer it reuses: the write is copied at once (Disk.write copies) and
 *   webdisk's in-order processing makes the guest's next read see it. For a
 *   DMA write the callback completes the command: it runs once the write is
 *   acknowledged under the disk's cache mode.
 * - v86 answers ATA FLUSH CACHE itself and never tells the disk, and its
 *   IDENTIFY data says "no write cache", so guests never flush. `attach()`
 *   fixes both (see there).
 */
import type { Disk } from '../client/disk';
import { DiskError } from '../core/errors';
import type { CacheMode } from '../core/types';

/** What the adapter needs of a disk: a `Disk`, or anything shaped like one (a test's BlockDevice). */
export type V86BackingDisk = Pick<Disk, 'size' | 'read' | 'write' | 'flush' | 'cacheMode' | 'setCacheMode'> & {
  readonly name?: string;
};

export interface V86DiskOptions {
  /**
   * Report a volatile write cache to the guest (IDENTIFY words 82 and 85,
   * bit 5), so that it sends FLUSH CACHE where it needs durability, as a
   * QEMU guest does with `cache.writeback=on`. Default true: with v86's own
   * answer ("no write cache") a Linux guest never flushes and believes
   * every completed write is stable, which `writeback` does not promise.
   * Takes effect once `attach()` is called.
   */
  writeCache?: boolean;
  /** Flush the disk this often while attached, if the guest wrote since the last flush (default: off). */
  flushIntervalMs?: number;
  /** A disk error v86 cannot be told about (a read or write that failed). Default: console.error. */
  onError?: (err: unknown) => void;
}

/** The guest's I/O as the adapter saw it. */
export interface V86DiskCounters {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  /** FLUSH CACHE / FLUSH CACHE EXT commands the guest sent (each became a disk.flush()). */
  guestFlushes: number;
  /** Flushes of flushIntervalMs. */
  timedFlushes: number;
  errors: number;
}

/** The object v86 takes as `hda` (or `hdb`, `fda`…). */
export interface V86Disk {
  readonly disk: V86BackingDisk;
  readonly byteLength: number;
  readonly counters: V86DiskCounters;
  /** Set by v86 before it calls load(). */
  onload: ((e: object) => void) | undefined;
  onprogress: ((e: object) => void) | undefined;
  load(): void;
  get(start: number, len: number, fn: (data: Uint8Array) => void, options?: { signal?: AbortSignal }): void;
  set(start: number, data: Uint8Array, fn: () => void): void;
  get_and_cache(start: number, len: number, fn: (data: Uint8Array) => void): void;
  get_from_cache(start: number, len: number): Uint8Array | undefined;
  /** For v86's save_state(): names the disk, never embeds it. */
  get_state(): [string, number];
  set_state(state: [string, number]): void;
  /**
   * Hooks the emulator (call it on "emulator-loaded", before `run()`, and
   * again after a `restore_state()`): the guest's FLUSH CACHE (0xE7) and
   * FLUSH CACHE EXT (0xEA) become `disk.flush()`, and the command completes
   * only once the flush has (the guest waits for durability, as for a real
   * disk); IDENTIFY reports the write cache (`writeCache`); the guest turning
   * its write cache off (SET FEATURES 0x82) switches `writeback` to
   * `writethrough` (`none` to `directsync`), and back on 0x02. Returns a
   * function that undoes the hooks.
   */
  attach(emulator: unknown): () => void;
}

/** Bytes kept for get_from_cache: v86 asks for the MBR only. */
const HEAD_BYTES = 4096;
const SECTOR = 512;

/** Creates the v86 disk object over an open webdisk disk (its first sectors read now). */
export async function createV86Disk(disk: V86BackingDisk, options: V86DiskOptions = {}): Promise<V86Disk> {
  const {
    writeCache = true,
    flushIntervalMs,
    onError = (err: unknown) => console.error('webdisk/v86:', err),
  } = options;
  if (flushIntervalMs !== undefined && !(flushIntervalMs > 0)) {
    throw new DiskError('EINVAL', `flushIntervalMs must be a positive number of milliseconds, not ${flushIntervalMs}.`);
  }
  if (disk.size < SECTOR || disk.size % SECTOR !== 0) {
    throw new DiskError('EINVAL', `A v86 disk is whole 512-byte sectors: this disk has ${disk.size} bytes.`);
  }
  const head = await disk.read(0, Math.min(HEAD_BYTES, disk.size));
  const counters: V86DiskCounters = {
    reads: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    guestFlushes: 0,
    timedFlushes: 0,
    errors: 0,
  };
  let dirty = false;
  const failed = (err: unknown) => {
    counters.errors++;
    onError(err);
  };
  /** Keeps the cached head equal to the disk after a write. */
  const updateHead = (start: number, data: Uint8Array) => {
    if (start >= head.length) return;
    head.set(data.subarray(0, head.length - start), start);
  };

  const adapter: V86Disk = {
    disk,
    byteLength: disk.size,
    counters,
    onload: undefined,
    onprogress: undefined,
    load() {
      this.onload?.({});
    },
    get(start, len, fn) {
      counters.reads++;
      counters.bytesRead += len;
      // A failed read is never answered with made-up bytes: the command stays
      // pending, as on a failing disk, until the guest resets the controller.
      disk.read(start, len).then(fn, failed);
    },
    set(start, data, fn) {
      counters.writes++;
      counters.bytesWritten += data.length;
      dirty = true;
      updateHead(start, data);
      // write() copies `data` before it returns: v86 reuses the buffer at once.
      disk.write(start, data).then(() => fn(), failed);
    },
    get_and_cache(start, len, fn) {
      this.get(start, len, fn);
    },
    get_from_cache(start, len) {
      return start + len <= head.length ? head.slice(start, start + len) : undefined;
    },
    get_state() {
      return [disk.name ?? '', disk.size];
    },
    set_state(state) {
      if (!Array.isArray(state) || state[1] !== disk.size) {
        throw new DiskError(
          'EINVAL',
          `This v86 state was saved with another disk (${JSON.stringify(state)}); restore it with the disk it was saved with.`,
        );
      }
    },
    attach(emulator) {
      const undo = hookIde(emulator, adapter, {
        writeCache,
        flush: () => {
          counters.guestFlushes++;
          dirty = false;
          return disk.flush();
        },
        writeCacheSwitched: (on) => {
          const next = switchedMode(disk.cacheMode, on);
          if (next) disk.setCacheMode(next).catch(failed);
        },
        failed,
      });
      let timer: ReturnType<typeof setInterval> | undefined;
      if (flushIntervalMs !== undefined) {
        timer = setInterval(() => {
          if (!dirty) return;
          dirty = false;
          counters.timedFlushes++;
          disk.flush().catch(failed);
        }, flushIntervalMs);
      }
      return () => {
        clearInterval(timer);
        undo();
      };
    },
  };
  return adapter;
}

/** The mode a guest's write-cache switch asks for (QEMU's cache.writeback toggle); undefined: no change. */
export function switchedMode(mode: CacheMode, writeCacheOn: boolean): CacheMode | undefined {
  const pairs: [CacheMode, CacheMode][] = [
    ['writeback', 'writethrough'],
    ['none', 'directsync'],
  ];
  for (const [cached, direct] of pairs) {
    if (!writeCacheOn && mode === cached) return direct;
    if (writeCacheOn && mode === direct) return cached;
  }
  return undefined; // unsafe has no write-through twin; the others are already there
}

// ------------------------------------------------------------ v86's insides

/** The parts of v86's IDE emulation the hooks touch (v86 0.5.x). */
interface IdeInterface {
  buffer: unknown;
  is_atapi: boolean;
  data: Uint8Array;
  current_command: number;
  status_reg: number;
  error_reg: number;
  features_reg: number;
  push_irq(): void;
}
interface IdeChannel {
  command_base: number;
  irq: number;
  current_interface: IdeInterface;
  master: IdeInterface;
  slave: IdeInterface;
  cpu: { device_lower_irq(irq: number): void };
}
interface PortEntry {
  write8: (this: IdeChannel, value: number) => void;
}
interface Emulator {
  v86: { cpu: { io: { ports: PortEntry[] }; devices: { ide?: { primary?: IdeChannel; secondary?: IdeChannel } } } };
}

interface Hooks {
  writeCache: boolean;
  flush(): Promise<void>;
  writeCacheSwitched(on: boolean): void;
  failed(err: unknown): void;
}

const FLUSH_CACHE = 0xe7;
const FLUSH_CACHE_EXT = 0xea;
const IDENTIFY = 0xec;
const SET_FEATURES = 0xef;
/** ATA status bits. */
const BSY_DRDY = 0xd0;
const DRDY_DSC = 0x50;
const DRDY_DSC_ERR = 0x51;
const ABRT = 0x04;

function insides(emulator: unknown): { channels: IdeChannel[]; ports: PortEntry[] } {
  const e = emulator as Partial<Emulator> | null;
  const cpu = e?.v86?.cpu;
  const ide = cpu?.devices?.ide;
  const channels = [ide?.primary, ide?.secondary].filter((c): c is IdeChannel => c !== undefined);
  if (!cpu?.io?.ports || channels.length === 0) {
    throw new DiskError(
      'ENOTSUP',
      'attach() needs a V86 instance with its IDE controller (npm v86 0.5.x), after "emulator-loaded".',
    );
  }
  return { channels, ports: cpu.io.ports };
}

function hookIde(emulator: unknown, adapter: V86Disk, hooks: Hooks): () => void {
  const { channels, ports } = insides(emulator);
  if (!channels.some((c) => c.master?.buffer === adapter || c.slave?.buffer === adapter)) {
    throw new DiskError(
      'EINVAL',
      "attach(): this disk is not one of the emulator's IDE disks (give it as hda or hdb).",
    );
  }
  let cacheOn = hooks.writeCache;
  const undo: (() => void)[] = [];
  for (const channel of channels) {
    const entry = ports[channel.command_base | 7]; // 0x1F7, 0x177: the command register
    const original = entry.write8;
    entry.write8 = function (this: IdeChannel, value: number) {
      const drive = this.current_interface;
      if (drive.buffer !== adapter || drive.is_atapi) return original.call(this, value);
      if (value === FLUSH_CACHE || value === FLUSH_CACHE_EXT) return flushCommand(this, drive, value, hooks);
      if (value === SET_FEATURES) {
        const sub = drive.features_reg & 0xff;
        if (sub === 0x02 || sub === 0x82) {
          cacheOn = sub === 0x02;
          hooks.writeCacheSwitched(cacheOn);
        }
      }
      original.call(this, value);
      if (value === IDENTIFY && hooks.writeCache) {
        // Word 82 bit 5: write cache supported; word 85 bit 5: enabled.
        drive.data[82 * 2] |= 0x20;
        if (cacheOn) drive.data[85 * 2] |= 0x20;
        else drive.data[85 * 2] &= ~0x20;
      }
    };
    undo.push(() => {
      entry.write8 = original;
    });
  }
  return () => {
    for (const u of undo) u();
  };
}

/**
 * FLUSH CACHE: the drive goes busy and completes once disk.flush() has
 * (with an error status if it failed), so the guest waits for durability.
 */
function flushCommand(channel: IdeChannel, drive: IdeInterface, command: number, hooks: Hooks): void {
  drive.current_command = command;
  drive.error_reg = 0;
  drive.status_reg = BSY_DRDY;
  channel.cpu.device_lower_irq(channel.irq);
  // Completes only if nothing (a reset of the drive) came in between.
  const still = () => drive.current_command === command && drive.status_reg === BSY_DRDY;
  hooks.flush().then(
    () => {
      if (!still()) return;
      drive.status_reg = DRDY_DSC;
      drive.push_irq();
    },
    (err: unknown) => {
      hooks.failed(err);
      if (!still()) return;
      drive.error_reg = ABRT;
      drive.status_reg = DRDY_DSC_ERR;
      drive.push_irq();
    },
  );
}
