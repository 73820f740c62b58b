// webdisk/sqlite's DiskFile over a stand-in disk that keeps, as webdisk's
// writeback does, what was written apart from what a flush made durable:
// the length is durable exactly at sync(), a delete at once, a write's
// error surfaces at the next sync, and stale bytes past the end never show.
// Each case runs twice: through the async Disk API (WebdiskVFS) and through
// blocking SyncDisk calls (WebdiskSyncVFS), the two FileIo of one DiskFile.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiskFile } from '../src/adapters/sqlite/disk-file';
import { AsyncFileIo, type FileIo, type Wait } from '../src/adapters/sqlite/file-io';
import { HEADER_BYTES } from '../src/adapters/sqlite/header';
import { SyncFileIo } from '../src/adapters/sqlite/sync-file-io';
import { DiskError } from '../src/core/errors';
import { sameBytes } from './helpers';

/** A disk with a volatile cache: `durable` holds what flushes (and FUA writes) made durable. Blocking calls. */
class CachedDisk {
  readonly size = 1 << 20;
  /** Every write's [offset, end), in order. */
  readonly writes: [number, number][] = [];
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
    this.writes.push([offset, offset + data.length]);
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

  it('WAL frames (24 + 4096 bytes) appended go to the disk as whole blocks: none is left for the disk to merge', async () => {
    const disk = new CachedDisk();
    const f = await load(disk);
    f.create();
    const frames = [1, 2, 3, 4].map((v) => bytes(4120, v));
    for (const [i, frame] of frames.entries()) f.write(frame, 32 + i * 4120);
    await f.sync();
    const appended = disk.writes.filter(([o]) => o >= HEADER_BYTES);
    expect(appended.length).toBe(4);
    for (const [, end] of appended) expect(end % HEADER_BYTES).toBe(0);
    // Rewriting a frame inside the file pads nothing: the next frame's bytes stay.
    f.write(bytes(4120, 9), 32 + 4120);
    await f.sync(); // (the async Disk writes later)
    expect(disk.writes.at(-1)).toEqual([HEADER_BYTES + 32 + 4120, HEADER_BYTES + 32 + 2 * 4120]);
    expect(await read(f, 32 + 2 * 4120, 4120)).toEqual(frames[2]);
  });

  it('random writes, truncates and syncs read back as a model file does, before and after a power loss', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        offset: fc.nat(40_000),
        n: fc.integer({ min: 1, max: 9000 }),
        v: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({ kind: fc.constant('truncate' as const), size: fc.nat(50_000) }),
      fc.record({ kind: fc.constant('sync' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const disk = new CachedDisk();
        const f = await load(disk);
        f.create();
        let model = new Uint8Array(0);
        let synced = model;
        for (const o of ops) {
          if (o.kind === 'write') {
            const grown = new Uint8Array(Math.max(model.length, o.offset + o.n));
            grown.set(model);
            grown.fill(o.v, o.offset, o.offset + o.n);
            model = grown;
            f.write(bytes(o.n, o.v), o.offset);
          } else if (o.kind === 'truncate') {
            const cut = new Uint8Array(o.size);
            cut.set(model.subarray(0, o.size));
            model = cut;
            f.truncate(o.size);
          } else {
            await f.sync();
            synced = model;
          }
          expect(f.length).toBe(model.length);
          sameBytes(await read(f, 0, model.length + 100), model, 'the file');
        }
        await f.sync();
        synced = model;
        const again = await load(disk.afterPowerLoss());
        expect(again.length).toBe(synced.length);
        sameBytes(await read(again, 0, synced.length + 100), synced, 'the file after a power loss');
      }),
      { numRuns: 150 },
    );
  });
});
