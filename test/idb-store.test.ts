import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { DEFAULT_CHUNK_SIZE, idbDisks } from '../src/stores/idb-disks';
import type { DiskSchema } from '../src/stores/idb-store';
import { idbDatabaseName } from '../src/stores/layout';
import { pattern, sameBytes } from './helpers';

/**
 * The IndexedDB store's promises about transactions, counted on
 * fake-indexeddb: group commit, one strict transaction per flush, no read
 * before a whole-chunk put, one range request per sequential read.
 */
const KiB = 1024;
const CHUNK = DEFAULT_CHUNK_SIZE;
/** Block records per chunk. */
const PER = CHUNK / (4 * KiB);

/** IndexedDB calls, counted by spies that call through. */
function spies() {
  const tx = vi.spyOn(IDBDatabase.prototype, 'transaction');
  const get = vi.spyOn(IDBObjectStore.prototype, 'get');
  const getAll = vi.spyOn(IDBObjectStore.prototype, 'getAll');
  const put = vi.spyOn(IDBObjectStore.prototype, 'put');
  const writes = (durability?: string) =>
    tx.mock.calls.filter(([, mode, o]) => mode === 'readwrite' && (!durability || o?.durability === durability)).length;
  return {
    get readwrite() {
      return writes();
    },
    get strict() {
      return writes('strict');
    },
    get relaxed() {
      return writes('relaxed');
    },
    get gets() {
      return get.mock.calls.length;
    },
    get getAlls() {
      return getAll.mock.calls.length;
    },
    get puts() {
      return put.mock.calls.length;
    },
  };
}

let counts: ReturnType<typeof spies>;
let disk = 0;

beforeEach(() => {
  counts = spies();
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function newDisk(cache: 'writeback' | 'none' | 'writethrough', cacheSize = 8 * 1024 * KiB) {
  const name = `idb-unit-${++disk}`;
  const stores = await idbDisks.open(name, true, false);
  const device = await BlockDevice.open({ ...stores, size: 64 * 1024 * KiB, cache, cacheSize });
  /** The keys of chunks or block records stored, read through a connection of the test's own. */
  const keys = async (store: 'data' | 'blocks') => {
    const db = await openDB<DiskSchema>(idbDatabaseName(name));
    const found = (await db.getAllKeys(store)).filter((k) => k >= 0);
    db.close();
    return found;
  };
  const chunkKeys = () => keys('data');
  return { device, chunkKeys, keys, reset: () => vi.clearAllMocks() };
}

describe('IndexedDB store', () => {
  it('a writeback flush of hundreds of scattered blocks is one strict transaction', async () => {
    const { device, reset } = await newDisk('writeback');
    for (let i = 0; i < 300; i++) await device.write(((i * 7919) % 16000) * 4 * KiB, pattern(4 * KiB, i));
    reset();
    await device.flush();
    expect(counts.readwrite).toBe(1);
    expect(counts.strict).toBe(1);
    const s = await device.stats();
    expect(s.storeWrites).toBeGreaterThan(250);
    expect(s.storeSyncs).toBe(1);
    await device.close();
  });

  it('writes issued together share a transaction (none: 32 in flight)', async () => {
    const { device, reset } = await newDisk('none');
    reset();
    await Promise.all(Array.from({ length: 32 }, (_, i) => device.write(i * CHUNK, pattern(CHUNK, i))));
    expect(counts.readwrite).toBeLessThanOrEqual(2);
    expect(counts.strict).toBe(0);
    reset();
    await Promise.all(Array.from({ length: 32 }, (_, i) => device.write(i * CHUNK, pattern(100, i), { fua: true })));
    // A FUA write needs a strict commit after it: the 32 share one or two.
    expect(counts.strict).toBeGreaterThanOrEqual(1);
    expect(counts.readwrite).toBeLessThanOrEqual(2);
    await device.close();
  });

  it('writethrough acknowledges a write once a strict transaction holding it committed', async () => {
    const { device, reset } = await newDisk('writethrough');
    reset();
    await device.write(5000, pattern(3000, 1));
    expect(counts.strict).toBe(1);
    expect(counts.relaxed).toBe(0);
    await device.close();
  });

  it('a whole chunk is put without a read; whole 4 KiB blocks as block records, without a read', async () => {
    const { device, reset, keys } = await newDisk('none');
    reset();
    await device.write(3 * CHUNK, pattern(CHUNK, 1));
    expect(counts.gets).toBe(0);
    expect(counts.puts).toBe(1);
    reset();
    // Two whole 4 KiB blocks of chunk 3: two block records, no read, the chunk untouched.
    await device.write(3 * CHUNK + 8192, pattern(8192, 2));
    expect(counts.gets).toBe(0);
    expect(counts.puts).toBe(2);
    expect(await keys('blocks')).toEqual([3 * PER + 2, 3 * PER + 3]);
    const expected = pattern(CHUNK, 1);
    expected.set(pattern(8192, 2), 8192);
    sameBytes(await device.read(3 * CHUNK, CHUNK), expected);
    await device.close();
  });

  it('a partly written block reads its old bytes once: its record, else its chunk', async () => {
    const { device, reset, keys } = await newDisk('none');
    await device.write(3 * CHUNK, pattern(CHUNK, 1));
    reset();
    await device.write(3 * CHUNK + 100, pattern(1000, 2)); // inside block 0 of chunk 3
    expect(counts.gets).toBe(2); // the block's record (absent), then the chunk
    expect(counts.puts).toBe(1);
    reset();
    await device.write(3 * CHUNK + 2000, pattern(10, 3)); // the same block again: its record now
    expect(counts.gets).toBe(1);
    expect(await keys('blocks')).toEqual([3 * PER]);
    const expected = pattern(CHUNK, 1);
    expected.set(pattern(1000, 2), 100);
    expected.set(pattern(10, 3), 2000);
    sameBytes(await device.read(3 * CHUNK, CHUNK), expected);
    await device.close();
  });

  it('a chunk with more than half its blocks written at once is rewritten whole; its records go', async () => {
    const { device, reset, keys } = await newDisk('none');
    await device.write(5 * CHUNK + 4096, pattern(4096, 1));
    expect(await keys('blocks')).toEqual([5 * PER + 1]);
    reset();
    await device.write(5 * CHUNK + 100, pattern(CHUNK * 0.6, 2)); // 60% of its blocks
    expect(await keys('blocks')).toEqual([]);
    expect(await keys('data')).toEqual([5]);
    reset();
    await device.write(5 * CHUNK + CHUNK - 5000, pattern(100, 3));
    await device.write(5 * CHUNK, pattern(CHUNK, 4)); // whole: records go
    expect(await keys('blocks')).toEqual([]);
    sameBytes(await device.read(5 * CHUNK, CHUNK), pattern(CHUNK, 4));
    await device.close();
  });

  it('a sequential read is one range request per object store, not one get per chunk', async () => {
    const { device, reset } = await newDisk('none');
    await device.write(0, pattern(16 * CHUNK, 3));
    await device.write(5000, pattern(4096, 4)); // a block record in the range
    reset();
    const expected = pattern(16 * CHUNK, 3);
    expected.set(pattern(4096, 4), 5000);
    sameBytes(await device.read(0, 16 * CHUNK), expected);
    expect(counts.getAlls).toBe(2); // chunks, and block records
    expect(counts.gets).toBe(0);
    await device.close();
  });

  it('unwritten chunks take no space; a discard of whole chunks deletes them', async () => {
    const { device, chunkKeys } = await newDisk('none');
    await device.write(10 * CHUNK, pattern(3 * CHUNK, 4));
    await device.flush();
    expect(await chunkKeys()).toEqual([10, 11, 12]);
    await device.discard(10 * CHUNK + 100, 2 * CHUNK); // chunk 11 whole, parts of 10 and 12
    await device.flush();
    expect(await chunkKeys()).toEqual([10, 12]);
    const expected = pattern(3 * CHUNK, 4);
    expected.fill(0, 100, 100 + 2 * CHUNK);
    sameBytes(await device.read(10 * CHUNK, 3 * CHUNK), expected);
    await device.close();
  });
});

describe('IndexedDB store power cut', () => {
  it('abandon() aborts what is committing: none of it is stored, and every later call fails ECLOSED', async () => {
    const name = `idb-unit-${++disk}`;
    const stores = await idbDisks.open(name, true, false);
    const data = stores.data;
    await data.write(0, pattern(CHUNK, 1));
    await data.sync();
    // The cut comes just after the group's readwrite transaction has begun (whenever that is).
    const proto = IDBDatabase.prototype;
    const begin = proto.transaction;
    proto.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      const tx = begin.apply(this, args);
      if (tx.mode === 'readwrite') queueMicrotask(() => data.abandon?.());
      return tx;
    };
    try {
      await expect(data.write(0, pattern(2 * CHUNK, 2))).rejects.toThrow(/lost power/);
    } finally {
      proto.transaction = begin;
    }
    expect(() => data.write(0, pattern(10, 3))).toThrow(/lost power/);
    const again = await idbDisks.open(name, false, false);
    const back = new Uint8Array(2 * CHUNK);
    await again.data.read(0, back);
    sameBytes(back.subarray(0, CHUNK), pattern(CHUNK, 1), 'the chunk before the cut');
    sameBytes(back.subarray(CHUNK), new Uint8Array(CHUNK), 'the aborted group left nothing');
  });

  it('a second abandon() (a second power-off) settles only once the first one’s aborted transaction has ended', async () => {
    // Answered at once, it let the worker be terminated with the abort still on
    // its way: WebKitGTK then kept the transaction, and the next session's reads hung.
    const stores = await idbDisks.open(`idb-unit-${++disk}`, true, false);
    const data = stores.data;
    const proto = IDBDatabase.prototype;
    const begin = proto.transaction;
    let ended = false;
    let cut: Promise<void> | undefined;
    proto.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      const t = begin.apply(this, args);
      if (t.mode === 'readwrite') {
        const end = () => {
          ended = true;
        };
        t.addEventListener('abort', end);
        t.addEventListener('complete', end);
        // Two power-offs just after the group's transaction has begun.
        cut = new Promise((resolve) =>
          queueMicrotask(() => {
            const first = data.abandon?.();
            resolve(
              Promise.resolve(data.abandon?.()).then(() => {
                expect(ended, 'the second abandon() waited for the abort').toBe(true);
                return first;
              }),
            );
          }),
        );
      }
      return t;
    };
    try {
      const written = Promise.resolve(data.write(0, pattern(CHUNK, 1))).then(() => data.sync());
      await expect(written).rejects.toThrow(/lost power/);
      await cut;
      await expect(written).rejects.toThrow(/lost power/);
    } finally {
      proto.transaction = begin;
    }
  });
});

describe('a database a killed worker left held', () => {
  it('open rejects EBUSY after a deadline instead of a first read that never answers', async () => {
    const name = `idb-unit-${++disk}`;
    const made = await idbDisks.open(name, true, false);
    await made.data.write(0, pattern(CHUNK, 1));
    await made.data.sync();
    await made.data.close();
    await made.meta.close();
    // A transaction that never ends (WebKitGTK keeps one of a worker killed
    // mid-way): a connection of the test's own keeps requesting on it.
    const zombie = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(idbDatabaseName(name));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const tx = zombie.transaction('data', 'readwrite');
    const ended = new Promise((resolve) => {
      tx.oncomplete = resolve;
      tx.onabort = resolve;
    });
    let alive = true;
    const spin = () => {
      if (alive) tx.objectStore('data').get(0).onsuccess = spin;
    };
    spin();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const opening = idbDisks.open(name, false, false);
      const settled = opening.then(
        () => 'opened',
        (e: DiskError) => e,
      );
      // Fake seconds pass; fake-indexeddb's own steps run on real setImmediate between them.
      let outcome: string | DiskError = 'pending';
      void settled.then((o) => {
        outcome = o;
      });
      let waited = 0;
      while (outcome === 'pending' && waited < 60) {
        await new Promise((r) => setImmediate(r));
        await vi.advanceTimersByTimeAsync(1_000);
        waited++;
        if (waited === 5) expect(outcome, 'still waiting before the deadline').toBe('pending');
      }
      const err = await settled;
      expect(err).toBeInstanceOf(DiskError);
      expect(err).toMatchObject({ code: 'EBUSY' });
      expect(String((err as DiskError).message)).toMatch(/held by a transaction that does not end/);
    } finally {
      vi.useRealTimers();
      alive = false;
      await ended;
      zombie.close();
    }
    // Once that transaction ends, the disk opens, its data intact.
    const again = await idbDisks.open(name, false, false);
    const back = new Uint8Array(CHUNK);
    await again.data.read(0, back);
    sameBytes(back, pattern(CHUNK, 1), 'the chunk written before');
    await again.data.close();
    await again.meta.close();
  });
});
