import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { crc32 } from '../src/core/crc32';
import { DiskError } from '../src/core/errors';
import type { MaybePromise } from '../src/core/store';
import type { CacheMode } from '../src/core/types';
import { ClusterMapStore } from '../src/layers/cluster-map';
import { MEMORY_CHUNK, MemoryStore } from '../src/stores/memory-store';
import { PowerLossStore } from '../src/stores/power-loss-store';
import { sameBytes, stacked } from './helpers';

// The cluster map of a thin disk (src/layers/cluster-map.ts) on its own:
// against a Uint8Array model, for space, and under crashes by a device
// that writes the map at once and keeps data in its cache — the order that
// hurts if the layer ever writes a map entry before its data is durable.

const CS = 4096;
/** Clusters: more than one L2 table (1024 entries each). */
const CLUSTERS = 1100;
const DISK = CLUSTERS * CS;
const geometry = { clusterSize: CS, diskSize: DISK };

type Op =
  | { kind: 'write'; cluster: number; within: number; words: number }
  | { kind: 'discard'; cluster: number; within: number; length: number }
  | { kind: 'sync' }
  | { kind: 'reopen' };

/** Clusters in a few regions (so L2 tables are shared and reused clusters are common). */
const clusterArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1010, max: CLUSTERS - 1 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      cluster: clusterArb,
      within: fc.integer({ min: 0, max: CS / 8 - 1 }),
      words: fc.integer({ min: 1, max: 3 * (CS / 8) }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('discard' as const),
      cluster: clusterArb,
      within: fc.constantFrom(0, 0, 100),
      length: fc.constantFrom(CS, 2 * CS, 5 * CS, 300),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

/** 8-byte words naming the cluster they were written to (u32) and a generation (u32): foreign bytes show. */
function tagged(offset: number, words: number, gen: number): Uint8Array {
  const out = new Uint8Array(words * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words; i++) {
    view.setUint32(i * 8, Math.floor((offset + i * 8) / CS) + 1, true);
    view.setUint32(i * 8 + 4, gen, true);
  }
  return out;
}

function clampWrite(op: Extract<Op, { kind: 'write' }>): { offset: number; words: number } {
  const offset = op.cluster * CS + op.within * 8;
  return { offset, words: Math.min(op.words, (DISK - offset) / 8) };
}

function clampDiscard(op: Extract<Op, { kind: 'discard' }>): { offset: number; length: number } {
  const offset = op.cluster * CS + op.within;
  return { offset, length: Math.min(op.length, DISK - offset) };
}

async function done(r: MaybePromise): Promise<void> {
  await r;
}

describe('cluster map', () => {
  it('reads equal a plain byte array through writes, discards, syncs and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        const files = { data: new MemoryStore(), map: new MemoryStore() };
        let store = await ClusterMapStore.open(files.data, files.map, geometry);
        const model = new Uint8Array(DISK);
        let gen = 0;
        for (const op of ops) {
          if (op.kind === 'write') {
            const { offset, words } = clampWrite(op);
            const bytes = tagged(offset, words, ++gen);
            model.set(bytes, offset);
            await done(store.write(offset, bytes));
          } else if (op.kind === 'discard') {
            const { offset, length } = clampDiscard(op);
            model.fill(0, offset, offset + length);
            await done(store.discard(offset, length));
          } else if (op.kind === 'sync') {
            await done(store.sync());
          } else {
            await done(store.close());
            store = await ClusterMapStore.open(files.data, files.map);
          }
        }
        const back = new Uint8Array(DISK);
        await done(store.read(0, back));
        sameBytes(back, model);
        // Space follows data: every allocated cluster holds something the model has, or was written whole with zeros.
        const used = new Set<number>();
        for (let c = 0; c < CLUSTERS; c++) if (model.subarray(c * CS, (c + 1) * CS).some((b) => b !== 0)) used.add(c);
        expect(store.allocatedBytes()).toBeGreaterThanOrEqual(used.size * CS);
        await done(store.close());
        // The data file holds no more clusters than are mapped (freed ones are reused, a free tail is cut),
        // give or take 16 clusters, counted in the memory store's 64 KiB chunks.
        const bound = Math.ceil((Math.max(store.allocatedBytes(), CS) + 64 * 1024) / MEMORY_CHUNK) * MEMORY_CHUNK;
        expect(files.data.allocatedBytes()).toBeLessThanOrEqual(bound);
      }),
      { numRuns: 40 },
    );
  }, 180_000);

  it('a 64 GiB thin disk written at its last block stores one cluster; discard then rewrite does not grow', async () => {
    const files = { data: new MemoryStore(), map: new MemoryStore() };
    const size = 64 * 1024 ** 3;
    const cs = 64 * 1024;
    const store = await ClusterMapStore.open(files.data, files.map, { clusterSize: cs, diskSize: size });
    await done(store.write(size - 4096, new Uint8Array(4096).fill(7)));
    await done(store.sync());
    expect(store.allocatedBytes()).toBe(cs);
    expect(files.data.allocatedBytes()).toBe(cs);
    // The map: header, L1 (4 pages for 1M clusters), one L2 table.
    expect(files.map.allocatedBytes()).toBeLessThanOrEqual(8 * 64 * 1024);
    for (let i = 0; i < 16; i++) await done(store.write(i * cs, new Uint8Array(cs).fill(i + 1)));
    await done(store.sync());
    const before = files.data.allocatedBytes();
    await done(store.discard(0, 16 * cs));
    await done(store.sync());
    expect(store.allocatedBytes()).toBe(cs);
    for (let i = 0; i < 16; i++) await done(store.write((100 + i) * cs, new Uint8Array(cs).fill(i + 1)));
    await done(store.sync());
    expect(files.data.allocatedBytes()).toBeLessThanOrEqual(before);
    const status = store.blockStatus(0, 200 * cs);
    expect(status).toEqual([
      { offset: 0, length: 16 * cs, state: 'zero' },
      { offset: 16 * cs, length: 84 * cs, state: 'unallocated' },
      { offset: 100 * cs, length: 16 * cs, state: 'data' },
      { offset: 116 * cs, length: 84 * cs, state: 'unallocated' },
    ]);
  });
});

describe('cluster map format', () => {
  it('a map written by a newer webdisk is ENOTSUP; a damaged header ECORRUPT; none at all EINVAL', async () => {
    const files = { data: new MemoryStore(), map: new MemoryStore() };
    await done((await ClusterMapStore.open(files.data, files.map, geometry)).close());
    const head = new Uint8Array(4096);
    files.map.read(0, head);
    const view = new DataView(head.buffer);
    view.setUint32(4, 99, true); // format
    view.setUint32(20, crc32(head.subarray(0, 20)), true);
    files.map.write(0, head);
    await expect(ClusterMapStore.open(files.data, files.map)).rejects.toMatchObject({ code: 'ENOTSUP' });
    head[9] ^= 1; // CRC no longer matches
    files.map.write(0, head);
    await expect(ClusterMapStore.open(files.data, files.map)).rejects.toMatchObject({ code: 'ECORRUPT' });
    await expect(ClusterMapStore.open(new MemoryStore(), new MemoryStore())).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

/** A data file that refuses to grow past `limit` bytes, as a full quota does. */
class SmallFile extends MemoryStore {
  limit = Number.POSITIVE_INFINITY;
  override write(offset: number, src: Uint8Array): void {
    if (offset + src.length > this.limit) throw new DiskError('ENOSPC', 'full');
    super.write(offset, src);
  }
}

describe('cluster map when the data file is full', () => {
  it('a refused allocating write leaves the range as it was and its clusters free', async () => {
    const files = { data: new SmallFile(), map: new MemoryStore() };
    const store = await ClusterMapStore.open(files.data, files.map, geometry);
    await done(store.write(0, new Uint8Array(CS).fill(1)));
    files.data.limit = 2 * CS; // room for one more cluster
    expect(() => store.write(10 * CS + 100, new Uint8Array(3 * CS).fill(2))).toThrow(/full/);
    expect(store.allocatedBytes()).toBe(CS);
    const back = new Uint8Array(5 * CS);
    await done(store.read(10 * CS, back));
    sameBytes(back, new Uint8Array(5 * CS), 'the refused range');
    files.data.limit = Number.POSITIVE_INFINITY;
    await done(store.write(10 * CS + 100, new Uint8Array(3 * CS).fill(2)));
    await done(store.sync());
    const again = await ClusterMapStore.open(files.data, files.map);
    await done(again.read(10 * CS, back));
    const expected = new Uint8Array(5 * CS);
    expected.fill(2, 100, 100 + 3 * CS);
    sameBytes(back, expected, 'written once there was room');
    expect(again.allocatedBytes()).toBe(5 * CS);
  });
});

/** A file whose sync fails while `fail` is set. */
class FailingSync extends MemoryStore {
  fail = false;
  override sync(): void {
    if (this.fail) throw new DiskError('EIO', 'sync failed');
    super.sync();
  }
}

describe('cluster map when a sync fails', () => {
  it('what the failed sync covered stays dirty: the next sync syncs data and map again', async () => {
    const files = { data: new FailingSync(), map: new FailingSync() };
    const store = await ClusterMapStore.open(files.data, files.map, geometry);
    // A reused cluster: its data must be synced before its map entry is written.
    await done(store.write(0, new Uint8Array(CS).fill(1)));
    await done(store.sync());
    await done(store.discard(0, CS));
    await done(store.sync());
    files.data.fail = true;
    const refused = store.write(5 * CS, new Uint8Array(CS).fill(2)); // waits for its commit
    expect(() => store.sync()).toThrow(/sync failed/);
    await expect(refused).rejects.toThrow(/sync failed/);
    files.data.fail = false;
    const before = [files.data.syncCount, files.map.syncCount];
    await done(store.sync());
    expect([files.data.syncCount - before[0], files.map.syncCount - before[1]]).toEqual([1, 1]);
    // The map entry that failed to go with it went with this sync: the write is there after a reopen.
    const again = await ClusterMapStore.open(files.data, files.map);
    const back = new Uint8Array(CS);
    await done(again.read(5 * CS, back));
    sameBytes(back, new Uint8Array(CS).fill(2));
  });
});

describe('cluster map when the worker dies (the stores keep what they accepted)', () => {
  it('a write into a cluster whose allocating write still waits for its commit is acknowledged only after that commit', async () => {
    // In `none` a write is acknowledged once the store has it, no sync. The
    // first write into a cluster waits for the commit that maps it; a second
    // write into the same cluster must not be acknowledged before that
    // commit either, or a crash right after its acknowledgement finds no map
    // entry and shows the cluster's old content.
    const files = { data: new MemoryStore(), map: new MemoryStore() };
    const store = await ClusterMapStore.open(files.data, files.map, geometry);
    const copy = (from: MemoryStore) => {
      const to = new MemoryStore();
      const bytes = new Uint8Array(from.byteLength());
      from.read(0, bytes);
      to.write(0, bytes);
      return to;
    };
    let crashed: { data: MemoryStore; map: MemoryStore } | undefined;
    const first = Promise.resolve(store.write(0, new Uint8Array(512).fill(1)));
    const second = Promise.resolve(store.write(512, new Uint8Array(512).fill(2))).then(() => {
      // The worker dies the moment the second write is acknowledged.
      crashed = { data: copy(files.data), map: copy(files.map) };
    });
    await Promise.all([first, second]);
    if (!crashed) throw new Error('the second write was never acknowledged');
    const after = await ClusterMapStore.open(crashed.data, crashed.map);
    const back = new Uint8Array(1024);
    await done(after.read(0, back));
    const want = new Uint8Array(1024).fill(1, 0, 512).fill(2, 512);
    sameBytes(back, want);
  });
});

/** The layer with its one ordering rule broken: map entries may reach the disk before their data. */
class MapBeforeData extends ClusterMapStore {
  protected override syncDataBeforeMap(): MaybePromise {
    return undefined;
  }
}

/**
 * Runs `ops` on a thin disk whose device keeps data writes in a large
 * volatile cache but writes the map through at once, cuts the power after
 * the last op, reopens, and lists what is wrong: a cluster showing bytes
 * written to another cluster, or a cluster synced and untouched since
 * that differs from what was synced.
 */
async function crashProblems(kind: typeof ClusterMapStore, ops: Op[]): Promise<string[]> {
  const files = { data: new MemoryStore(), map: new MemoryStore() };
  const device = () => ({
    data: new PowerLossStore(files.data, 64 * 1024 * 1024),
    map: new PowerLossStore(files.map, 0),
  });
  let dev = device();
  let store = await kind.open(dev.data, dev.map, geometry);
  const model = new Uint8Array(DISK);
  let synced = new Uint8Array(DISK);
  const touched = new Set<number>();
  let gen = 0;
  const touch = (offset: number, length: number) => {
    for (let c = Math.floor(offset / CS); c * CS < offset + length; c++) touched.add(c);
  };
  for (const op of ops) {
    if (op.kind === 'write') {
      const { offset, words } = clampWrite(op);
      const bytes = tagged(offset, words, ++gen);
      model.set(bytes, offset);
      touch(offset, bytes.length);
      await done(store.write(offset, bytes));
    } else if (op.kind === 'discard') {
      const { offset, length } = clampDiscard(op);
      model.fill(0, offset, offset + length);
      touch(offset, length);
      await done(store.discard(offset, length));
    } else {
      await done(store.sync());
      synced = model.slice();
      touched.clear();
      if (op.kind === 'reopen') {
        await done(store.close());
        dev = device();
        store = await kind.open(dev.data, dev.map);
      }
    }
  }
  // Power cut: whatever the device cache held is gone.
  const after = await ClusterMapStore.open(files.data, files.map);
  const back = new Uint8Array(DISK);
  await done(after.read(0, back));
  const problems: string[] = [];
  const view = new DataView(back.buffer);
  for (let c = 0; c < CLUSTERS; c++) {
    if (!touched.has(c)) {
      if (!Buffer.from(back.buffer, c * CS, CS).equals(Buffer.from(synced.buffer, c * CS, CS)))
        problems.push(`cluster ${c}: synced and untouched, yet changed`);
      continue;
    }
    for (let w = c * CS; w < (c + 1) * CS; w += 8) {
      const owner = view.getUint32(w, true);
      if (owner !== 0 && owner !== c + 1) {
        problems.push(`cluster ${c} shows bytes written to cluster ${owner - 1}`);
        break;
      }
    }
  }
  return problems;
}

/** Workloads that free clusters and reuse them: write, sync, discard whole clusters, sync, write elsewhere. */
const reuseArb = fc
  .tuple(
    fc.array(opArb, { minLength: 5, maxLength: 30 }),
    fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 10 }),
    fc.array(opArb, { minLength: 1, maxLength: 30 }),
  )
  .map(([first, freed, then]): Op[] => [
    ...first,
    { kind: 'sync' },
    ...freed.map((cluster): Op => ({ kind: 'discard', cluster, within: 0, length: CS })),
    { kind: 'sync' },
    ...then,
  ]);

describe('cluster map under power loss (data cached by the device, map written through)', () => {
  it('never shows one cluster’s bytes in another, never loses what was synced', async () => {
    await fc.assert(
      fc.asyncProperty(reuseArb, async (ops) => {
        expect(await crashProblems(ClusterMapStore, ops)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  }, 180_000);

  it('catches a layer that writes a map entry before its data is durable', async () => {
    const result = await fc.check(
      fc.asyncProperty(reuseArb, async (ops) => (await crashProblems(MapBeforeData, ops)).length === 0),
      { numRuns: 100 },
    );
    expect(result.failed, 'the broken ordering must be caught').toBe(true);
  }, 180_000);
});

describe('the syncs a thin disk pays, per cache mode (as in qcow2)', () => {
  /** Data and map syncs of one 4 KiB write: the first (allocating) and an overwrite of it. */
  async function syncsOf(cache: CacheMode) {
    const files = { data: new MemoryStore(), meta: new MemoryStore(), map: new MemoryStore() };
    const d = await BlockDevice.open({ ...(await stacked(files, 1 << 20)), size: 1 << 20, cache });
    const count = async (body: () => Promise<void>) => {
      const before = [files.data.syncCount, files.map.syncCount];
      await body();
      return { data: files.data.syncCount - before[0], map: files.map.syncCount - before[1] };
    };
    // The L2 table exists already (a new table costs one more map sync, once per 1024 clusters).
    await d.write(512 * 1024, new Uint8Array(1));
    await d.flush();
    const allocating = await count(() => d.write(0, new Uint8Array(4096).fill(1)));
    const overwrite = await count(() => d.write(0, new Uint8Array(4096).fill(2)));
    const flush = await count(() => d.flush());
    // A cluster freed by a discard (durably: flushed), then given to another virtual cluster.
    await d.discard(0, 65536);
    await d.flush();
    const reused = await count(() => d.write(3 * 65536, new Uint8Array(4096).fill(3)));
    await d.close();
    return { allocating, overwrite, flush, reused };
  }

  it('writethrough: an allocating write two syncs (data, then map), an overwrite one', async () => {
    expect(await syncsOf('writethrough')).toEqual({
      allocating: { data: 1, map: 1 },
      overwrite: { data: 1, map: 0 },
      flush: { data: 0, map: 0 },
      reused: { data: 1, map: 1 },
    });
  });

  it('none: a reused cluster’s data is synced before its map entry; a never-used one and an overwrite cost nothing', async () => {
    expect(await syncsOf('none')).toEqual({
      allocating: { data: 0, map: 0 },
      overwrite: { data: 0, map: 0 },
      flush: { data: 1, map: 1 },
      reused: { data: 1, map: 0 },
    });
  });

  it('writeback: nothing until the flush, which pays data and map', async () => {
    expect(await syncsOf('writeback')).toEqual({
      allocating: { data: 0, map: 0 },
      overwrite: { data: 0, map: 0 },
      flush: { data: 1, map: 1 },
      reused: { data: 0, map: 0 },
    });
  });
});
