// webdisk/sqlite's DiskFile over a stand-in disk that keeps, as webdisk's
// writeback does, what was written apart from what a flush made durable:
// the length is durable exactly at sync(), a delete at once, a write's
// error surfaces at the next sync, and stale bytes past the end never show.
// Each case runs twice: through the async Disk API (WebdiskVFS) and through
// blocking SyncDisk calls (WebdiskSyncVFS), the two FileIo of one DiskFile.
import { describe, expect, it } from 'vitest';
import { DiskFile } from '../src/adapters/sqlite/disk-file';
import { AsyncFileIo, type FileIo, type Wait } from '../src/adapters/sqlite/file-io';
import { HEADER_BYTES } from '../src/adapters/sqlite/header';
import { SyncFileIo } from '../src/adapters/sqlite/sync-file-io';
import { DiskError } from '../src/core/errors';

/** A disk with a volatile cache: `durable` holds what flushes (and FUA writes) made durable. Blocking calls. */
class CachedDisk {
  readonly size = 1 << 20;
  readonly now = new Uint8Array(this.size);
  durable = new Uint8Array(this.size);
  failNextWrite: DiskError | undefined;
  flushes = 0;
  readInto(offset: number, into: Uint8Array): Uint8Array {
    into.set(this.now.subarray(offset, offset + into.length));
    return into;
  }
  write(offset: number, data: Uint8Array, opts?: { fua?: boolean }): void {
    const err = this.failNextWrite;
    this.failNextWrite = undefined;
    if (err) throw err;
    this.now.set(data, offset);
    if (opts?.fua) this.durable.set(data, offset);
  }
  flush(): void {
    this.flushes++;
    this.durable = this.now.slice();
  }
  discard(offset: number, length: number): void {
    this.now.fill(0, offset, offset + length);
  }
  settle(): void {}
  async close(): Promise<void> {
    this.flush();
  }
  powerLoss(): void {}
  /** The disk as a power loss leaves it (everything not durable gone). */
  afterPowerLoss(): CachedDisk {
    const d = new CachedDisk();
    d.now.set(this.durable);
    d.durable.set(this.durable);
    return d;
  }
}

/** The same disk through the async API, as a `Disk` answers: later, by promise. */
function asyncIo(d: CachedDisk): FileIo<Promise<void>> {
  const later = <T>(f: () => T) => Promise.resolve().then(f);
  return new AsyncFileIo({
    size: d.size,
    readInto: (o, into) => later(() => d.readInto(o, into)),
    write: (o, data, opts) => {
      const copy = data.slice(); // Disk.write copies before it returns
      return later(() => d.write(o, copy, opts));
    },
    flush: () => later(() => d.flush()),
    discard: (o, n) => later(() => d.discard(o, n)),
    close: () => d.close(),
    powerLoss: () => d.powerLoss(),
  });
}

const syncIo = (d: CachedDisk): FileIo<void> => new SyncFileIo(d, d);

const IOS: [string, (d: CachedDisk) => FileIo<Wait>][] = [
  ['async Disk', asyncIo],
  ['blocking SyncDisk', syncIo],
];

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

describe.each(IOS)('DiskFile through the %s', (_, io) => {
  const load = (d: CachedDisk) => DiskFile.load(io(d));
  const read = async (f: DiskFile, offset: number, n: number) => {
    const r = f.read(offset, n);
    await r.done;
    return r.bytes;
  };

  it('the length is durable exactly when sync() returns', async () => {
    const disk = new CachedDisk();
    const f = await load(disk);
    expect(f.exists).toBe(false);
    f.create();
    f.write(bytes(5000, 7), 0);
    expect(f.length).toBe(5000);
    const lost = await load(disk.afterPowerLoss());
    expect({ exists: lost.exists, length: lost.length }).toEqual({ exists: false, length: 0 });
    await f.sync();
    const kept = await load(disk.afterPowerLoss());
    expect({ exists: kept.exists, length: kept.length }).toEqual({ exists: true, length: 5000 });
    expect(Array.from(await read(kept, 4998, 10))).toEqual([7, 7]);
  });

  it('a sync with nothing new does no flush; a length-only sync is one FUA write', async () => {
    const disk = new CachedDisk();
    const f = await load(disk);
    f.create();
    f.write(bytes(100, 1), 0);
    await f.sync();
    const flushes = disk.flushes;
    await f.sync();
    expect(disk.flushes).toBe(flushes);
    f.truncate(10);
    await f.sync();
    expect(disk.flushes).toBe(flushes);
    expect((await load(disk.afterPowerLoss())).length).toBe(10);
  });

  it('remove() is durable when it returns, and the file can be made again, empty', async () => {
    const disk = new CachedDisk();
    const f = await load(disk);
    f.create();
    f.write(bytes(3000, 9), 0);
    await f.sync();
    await f.remove();
    expect((await load(disk.afterPowerLoss())).exists).toBe(false);
    f.create();
    expect(f.length).toBe(0);
  });

  it('bytes past the end never show: not after a shrink, not in a gap a later write leaves', async () => {
    const disk = new CachedDisk();
    const f = await load(disk);
    f.create();
    f.write(bytes(8192, 5), 0);
    f.truncate(1000);
    expect((await read(f, 0, 2000)).length).toBe(1000);
    f.write(bytes(10, 6), 6000); // leaves [1000, 6000) as a gap over old bytes
    const back = await read(f, 0, 6010);
    expect(back.length).toBe(6010);
    expect(back.subarray(1000, 6000).every((b) => b === 0)).toBe(true);
    expect(back.subarray(6000).every((b) => b === 6)).toBe(true);
    expect(disk.now[HEADER_BYTES + 999]).toBe(5);
  });

  it("a failed write's error is thrown by the next sync, once", async () => {
    const disk = new CachedDisk();
    const f = await load(disk);
    f.create();
    disk.failNextWrite = new DiskError('ENOSPC', 'full');
    f.write(bytes(10, 1), 0);
    await expect((async () => f.sync())()).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect((async () => f.sync())()).resolves.toBeUndefined();
  });
});
