import {
  type BackendChoice,
  type CacheMode,
  type CrashModel,
  type Disk,
  listDisks,
  openDisk,
  type PersistentBackend,
} from '../index';
import { patternBytes, RequestLog } from '../testing';

export interface DiskSettings {
  name: string;
  size: number;
  cache: CacheMode;
  backend: BackendChoice;
  crashModel: CrashModel;
}

/** Acknowledged requests of a session, cumulative. */
export interface Counters {
  writes: number;
  writeBytes: number;
  reads: number;
  readBytes: number;
  flushes: number;
}

/** The oracle keeps the whole log in memory and checks it in a few seconds up to about this many entries. */
export const MAX_LOG_ENTRIES = 300_000;

/** Largest single read when the page reads the whole disk. */
const READ_CHUNK = 8 * 1024 * 1024;

export interface SessionHooks {
  /** A write was acknowledged. */
  written(offset: number, length: number, mode: CacheMode, ackedAt: number): void;
  /** A flush issued at `issuedAt` in `mode` completed. */
  flushed(issuedAt: number, mode: CacheMode): void;
  /** A switch to `mode` issued at `issuedAt` completed. */
  switched(issuedAt: number, mode: CacheMode): void;
}

/**
 * One open of a disk, from openDisk to close or power loss: every request
 * goes through here so the RequestLog (what the oracle checks) records it
 * in issue order and marks it acknowledged when its promise resolves.
 * A write's bytes are patternBytes(length, seed): the log alone says what
 * each block should hold.
 */
export class Session {
  readonly disk: Disk;
  readonly log: RequestLog;
  /** The disk's content when the session began. */
  readonly base: Uint8Array;
  readonly counters: Counters = { writes: 0, writeBytes: 0, reads: 0, readBytes: 0, flushes: 0 };
  /** Every mode this session wrote in. */
  readonly modesUsed = new Set<CacheMode>();
  private readonly hooks: SessionHooks;
  private scratch = new Uint8Array(0);
  private nextSeed: number;

  constructor(disk: Disk, base: Uint8Array, hooks: SessionHooks) {
    this.disk = disk;
    this.base = base;
    this.hooks = hooks;
    this.log = new RequestLog(disk.cacheMode);
    this.nextSeed = (Math.random() * 2 ** 32) >>> 0;
  }

  get logFull(): boolean {
    return this.log.entries.length >= MAX_LOG_ENTRIES;
  }

  write(offset: number, length: number): Promise<void> {
    const seed = this.nextSeed;
    this.nextSeed = (this.nextSeed + 1) >>> 0;
    if (this.scratch.length < length) this.scratch = new Uint8Array(length);
    const entry = this.log.write(offset, length, seed);
    const mode = this.log.currentMode;
    this.modesUsed.add(mode);
    // write() copies the bytes at once: one scratch buffer serves every request.
    const done = this.disk.write(offset, patternBytes(length, seed, this.scratch.subarray(0, length)));
    return done.then(() => {
      this.log.ack(entry);
      this.counters.writes++;
      this.counters.writeBytes += length;
      this.hooks.written(offset, length, mode, entry.ackedAt as number);
    });
  }

  async read(offset: number, length: number): Promise<void> {
    await this.disk.read(offset, length);
    this.counters.reads++;
    this.counters.readBytes += length;
  }

  flush(): Promise<void> {
    const entry = this.log.flush();
    return this.disk.flush().then(() => {
      this.log.ack(entry);
      this.counters.flushes++;
      this.hooks.flushed(entry.issuedAt, entry.mode);
    });
  }

  setMode(mode: CacheMode): Promise<void> {
    const entry = this.log.setMode(mode);
    return this.disk.setCacheMode(mode).then(() => {
      this.log.ack(entry);
      this.hooks.switched(entry.issuedAt, mode);
    });
  }
}

/** Opens (creating if needed) the disk of `settings`; `known` is its content if the page already read it. */
export async function openSession(
  settings: DiskSettings,
  hooks: SessionHooks,
  known?: Uint8Array,
  onReadProgress?: (done: number) => void,
): Promise<{ session: Session; created: boolean }> {
  const persistent = settings.backend !== 'memory';
  const exists = persistent && (await listDisks()).some((d) => d.name === settings.name);
  const disk = await openDisk({
    name: settings.name,
    // An existing disk opens at its own size.
    size: exists ? undefined : settings.size,
    cache: settings.cache,
    backend: settings.backend,
    crashModel: settings.crashModel,
  });
  const base = known ?? (exists ? await readAll(disk, onReadProgress) : new Uint8Array(disk.size));
  return { session: new Session(disk, base, hooks), created: !exists };
}

/** The persistent backend disk `name` is on, if it exists. */
export async function diskLocation(name: string): Promise<PersistentBackend | undefined> {
  return (await listDisks()).find((d) => d.name === name)?.backend;
}

/** The whole disk, read in chunks. */
export async function readAll(disk: Disk, onProgress?: (done: number) => void): Promise<Uint8Array> {
  const out = new Uint8Array(disk.size);
  for (let at = 0; at < disk.size; at += READ_CHUNK) {
    out.set(await disk.read(at, Math.min(READ_CHUNK, disk.size - at)), at);
    onProgress?.(Math.min(1, (at + READ_CHUNK) / disk.size));
  }
  return out;
}
