import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseBytes, handleBaseImage } from '../scripts/base-images.mjs';
import { BlockDevice } from '../src/core/block-device';
import { CACHE_MODES } from '../src/core/types';
import { ClusterMapStore } from '../src/layers/cluster-map';
import { type OverlayOptions, OverlayStore } from '../src/layers/overlay';
import { type BaseSpec, openBase } from '../src/stores/base-image';
import { MemoryStore } from '../src/stores/memory-store';
import { stackStores } from '../src/stores/stack';
import { randomCrashPoint, runCrashTest, verifyDisk } from '../src/testing/crash-test';
import { type Backing, newBackingOf, OVERLAY_KINDS, openOn, pattern, rejectsWith, sameBytes } from './helpers';

// Overlays (src/layers/overlay.ts) in Node: against a model, over a Blob
// base on memory files and IndexedDB, and over a URL served by the test
// server's base-image handler, which counts every Range request.

const CS = 64 * 1024;

let server: Server;
let origin = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    if (!handleBaseImage(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections(); // stalled answers (stallAfter) never end by themselves
  return new Promise<void>((r) => server.close(() => r()));
});

/** Defines base image `name` on the test server (see scripts/base-images.mjs); its URL. */
async function serveBase(name: string, q: Record<string, string | number>): Promise<string> {
  const params = new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]));
  await fetch(`${origin}/base-control/${name}?${params}`);
  return `${origin}/base/${name}`;
}

async function baseStats(
  name: string,
): Promise<{ requests: number; bytes: number; ranges: string[]; delivered: number; aborted: number }> {
  return (await fetch(`${origin}/base-stats/${name}`)).json();
}

/** A backing (memory files, as on OPFS) for an overlay over `base`. */
function overlayBacking(base: BaseSpec): Backing {
  const thin = newBackingOf('thin');
  return { kind: 'overlay', base, open: () => thin.open() };
}

/** An overlay of four clusters over a Blob base of `seed`'s bytes, on memory files, as the layer sees it. */
async function blobOverlay(seed: number) {
  const base = new Uint8Array(baseBytes(4 * CS, seed));
  const files = { data: new MemoryStore(), map: new MemoryStore() };
  const image = await openBase({ blob: new Blob([base]) });
  const map = await ClusterMapStore.open(files.data, files.map, {
    clusterSize: CS,
    diskSize: 4 * CS,
    base: image.identity,
  });
  return { base, files, image, map, overlay: new OverlayStore(map, image) };
}

type Op =
  | { kind: 'write'; offset: number; length: number; seed: number }
  | { kind: 'read'; offset: number; length: number }
  | { kind: 'discard'; offset: number; length: number }
  | { kind: 'flush' }
  | { kind: 'reset' }
  | { kind: 'reopen' };

describe('an overlay matches a model: base bytes until written, zeros after a discard, the base again after reset', () => {
  // A base whose length is not a multiple of 512: the disk rounds up, and reads zeros past the base.
  const BASE = 5 * CS + 1000;
  const SIZE = Math.ceil(BASE / 512) * 512;
  const span = fc.integer({ min: 0, max: SIZE - 1 }).chain((offset) =>
    fc.record({
      offset: fc.constant(offset),
      length: fc.integer({ min: 1, max: Math.min(SIZE - offset, 3 * CS) }),
    }),
  );
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: span.chain((s) => fc.record({ kind: fc.constant('write' as const), ...pick(s), seed: fc.nat() })),
    },
    { weight: 5, arbitrary: span.map((s) => ({ kind: 'read' as const, ...s })) },
    { weight: 2, arbitrary: span.map((s) => ({ kind: 'discard' as const, ...s })) },
    { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  );

  it.each(OVERLAY_KINDS)(
    '%s',
    async (kind) => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), fc.constantFrom(4096, 65536), async (ops, cacheBlock) => {
          const b = newBackingOf(kind, BASE);
          const initial = new Uint8Array(SIZE);
          initial.set(b.initial as Uint8Array);
          const model = initial.slice();
          const open = () => openOn(b, { cache: 'writeback', cacheSize: 8 * cacheBlock, blockSize: cacheBlock });
          let d = await open();
          expect(d.size).toBe(SIZE);
          for (const op of ops) {
            if (op.kind === 'write') {
              const bytes = pattern(op.length, op.seed);
              await d.write(op.offset, bytes);
              model.set(bytes, op.offset);
            } else if (op.kind === 'read') {
              sameBytes(await d.read(op.offset, op.length), model.subarray(op.offset, op.offset + op.length), 'read');
            } else if (op.kind === 'discard') {
              await d.discard(op.offset, op.length);
              model.fill(0, op.offset, op.offset + op.length);
            } else if (op.kind === 'flush') {
              await d.flush();
            } else if (op.kind === 'reset') {
              await d.reset();
              model.set(initial);
            } else {
              await d.close();
              d = await open();
            }
          }
          sameBytes(await d.read(0, SIZE), model, 'whole disk');
          await d.close();
        }),
        { numRuns: Number(process.env.FC_RUNS ?? 60) },
      );
    },
    120_000,
  );
});

/** fast-check record fields from a plain span (keeps the write arbitrary one line). */
function pick(s: { offset: number; length: number }) {
  return { offset: fc.constant(s.offset), length: fc.constant(s.length) };
}

describe('an overlay over a URL', () => {
  it('fetches each cluster once, adjacent clusters in one Range request, and keeps them across a reopen', async () => {
    const url = await serveBase('once', { size: 16 * CS, seed: 7 });
    const expected = baseBytes(16 * CS, 7);
    const b = overlayBacking({ url });
    let d = await openOn(b, { cache: 'writeback' });
    expect(d.size).toBe(16 * CS);
    const probe = await baseStats('once');
    expect(probe.ranges, 'creation asks for one byte: the length and validators').toEqual(['0-0']);
    // A large read (around the cache) of 8 unallocated clusters: one request.
    sameBytes(await d.read(2 * CS, 8 * CS), expected.subarray(2 * CS, 10 * CS));
    expect((await baseStats('once')).ranges.slice(1)).toEqual([`${2 * CS}-${10 * CS - 1}`]);
    // Small reads through the cache: each cluster once, never one already here.
    for (let off = 0; off < 16 * CS; off += 4096)
      sameBytes(await d.read(off, 4096), expected.subarray(off, off + 4096));
    const after = await baseStats('once');
    expect(after.bytes, 'every base byte fetched exactly once').toBe(1 + 16 * CS);
    expect((await d.stats()).baseBytesFetched).toBe(16 * CS);
    expect((await d.stats()).allocatedBytes, 'copy-on-read: all of it is local now').toBe(16 * CS);
    await d.close();
    d = await openOn(b, {});
    sameBytes(await d.read(0, 16 * CS), expected);
    expect((await baseStats('once')).requests, 'a reopened overlay reads its copy').toBe(after.requests);
    await d.close();
  });

  it('a sequential reader gets one streamed Range request for the rest of the stretch, each byte still fetched once', async () => {
    const SIZE = 40 * 1024 * 1024 + 3 * CS;
    const url = await serveBase('sequential', { size: SIZE, seed: 12 });
    const expected = baseBytes(SIZE, 12);
    const d = await openOn(overlayBacking({ url }), { cache: 'writeback' });
    const MiB = 1024 * 1024;
    for (let off = 0; off < SIZE; off += MiB) {
      const n = Math.min(MiB, SIZE - off);
      sameBytes(await d.read(off, n), expected.subarray(off, off + n), `at ${off}`);
    }
    const s = await baseStats('sequential');
    expect(s.bytes, 'every byte fetched once').toBe(1 + SIZE);
    const sizes = s.ranges.slice(1).map((r) => {
      const [a, b] = r.split('-').map(Number);
      return b - a + 1;
    });
    // The first read is alone (nothing says it is sequential yet); the second
    // streams the rest of the unallocated stretch (under 256 MiB) in one request.
    expect(sizes, '1 MiB read alone, then one stream of the rest').toEqual([MiB, SIZE - MiB]);
    expect(s.aborted, 'the stream ran to its end').toBe(0);
    await d.close();
  });

  it('concurrent reads of one cluster fetch it once; a write into a base cluster keeps the rest of it', async () => {
    const url = await serveBase('concurrent', { size: 4 * CS, seed: 8 });
    const expected = baseBytes(4 * CS, 8).slice();
    const d = await openOn(overlayBacking({ url }), { cache: 'none' });
    const reads = await Promise.all([0, 100, 4096, 60_000].map((off) => d.read(off, 512)));
    for (const [i, off] of [0, 100, 4096, 60_000].entries()) sameBytes(reads[i], expected.subarray(off, off + 512));
    expect((await baseStats('concurrent')).ranges.slice(1)).toEqual([`0-${CS - 1}`]);
    const patch = pattern(1000, 3);
    await d.write(CS + 500, patch);
    expected.set(patch, CS + 500);
    sameBytes(await d.read(CS, CS), expected.subarray(CS, 2 * CS));
    await d.discard(2 * CS + 10, 20);
    expected.fill(0, 2 * CS + 10, 2 * CS + 30);
    await d.discard(3 * CS, CS);
    expected.fill(0, 3 * CS, 4 * CS);
    sameBytes(await d.read(0, 4 * CS), expected, 'discarded clusters read zeros, not the base');
    await d.close();
  });

  it('reset() drops every local change, durably; a disk without a base refuses it', async () => {
    const url = await serveBase('reset', { size: 4 * CS, seed: 9 });
    const b = overlayBacking({ url });
    let d = await openOn(b, { cache: 'writeback' });
    await d.write(0, new Uint8Array(4 * CS).fill(5));
    await d.flush();
    expect((await d.stats()).allocatedBytes).toBe(4 * CS);
    await d.reset();
    expect((await d.stats()).allocatedBytes).toBe(0);
    sameBytes(await d.read(0, CS), baseBytes(CS, 9));
    await d.write(CS, new Uint8Array(512).fill(6));
    await d.close();
    d = await openOn(b, {});
    const back = await d.read(0, 2 * CS);
    const want = baseBytes(2 * CS, 9).slice();
    want.fill(6, CS, CS + 512);
    sameBytes(back, want);
    await d.close();
    const plain = await openOn(newBackingOf('thin'), { size: CS });
    await rejectsWith(plain.reset(), 'ENOTSUP');
    await plain.close();
  });

  it('a base that changed, failed or vanished is EIO naming the URL; local clusters stay readable and writable', async () => {
    const url = await serveBase('changing', { size: 4 * CS, seed: 10, lastModified: 1 });
    const b = overlayBacking({ url });
    let d = await openOn(b, { cache: 'writethrough' });
    await d.write(0, new Uint8Array(CS).fill(1));
    await d.close();
    const expectEIO = async (p: Promise<unknown>, ...words: string[]) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
      expect(err?.code).toBe('EIO');
      for (const w of [url, ...words]) expect(err?.message).toContain(w);
    };
    // Same length, new content (new ETag and Last-Modified).
    await serveBase('changing', { size: 4 * CS, seed: 11, lastModified: 1 });
    d = await openOn(b, {});
    await expectEIO(d.read(CS, 512), 'changed');
    sameBytes(await d.read(0, 512), new Uint8Array(512).fill(1), 'a local cluster');
    await d.write(2 * CS, new Uint8Array(CS).fill(2), { fua: true });
    sameBytes(await d.read(2 * CS, 512), new Uint8Array(512).fill(2), 'a whole cluster written');
    await expectEIO(d.write(3 * CS + 7, new Uint8Array(10)), 'changed');
    // Failing, then gone.
    await serveBase('changing', { size: 4 * CS, seed: 10, lastModified: 1, status: 503 });
    await expectEIO(d.read(CS, 512), '503');
    await expectEIO(d.read(3 * CS, 512), '503');
    sameBytes(await d.read(0, 512), new Uint8Array(512).fill(1));
    // Back as it was: the same disk works again.
    await serveBase('changing', { size: 4 * CS, seed: 10, lastModified: 1 });
    sameBytes(await d.read(CS, 512), baseBytes(4 * CS, 10).subarray(CS, CS + 512));
    await d.close();
    // Nobody listening at all.
    const dead = overlayBacking({ url: 'http://127.0.0.1:9/base/none' });
    const files = await dead.open();
    await rejectsWith(stackStores(files, { crashModel: 'process', base: dead.base }), 'EIO');
  });

  it('a base server that stalls (before or within a body) is EIO after timeoutMs; the disk goes on', async () => {
    const url = await serveBase('stalling', { size: 4 * CS, seed: 12 });
    const b = overlayBacking({ url, timeoutMs: 300 });
    const d = await openOn(b, { cache: 'writethrough' });
    await d.write(0, new Uint8Array(CS).fill(3));
    for (const stallAfter of [0, 1000]) {
      await serveBase('stalling', { size: 4 * CS, seed: 12, stallAfter });
      const t = performance.now();
      const err = await d.read(CS, 512).then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
      expect(err?.code, `stallAfter ${stallAfter}`).toBe('EIO');
      expect(err?.message).toContain(url);
      expect(err?.message).toContain('sent nothing for 0.3 s');
      expect(performance.now() - t).toBeGreaterThanOrEqual(250);
      sameBytes(await d.read(0, 512), new Uint8Array(512).fill(3), 'a local cluster');
    }
    // The server answers again: the same disk reads the base.
    await serveBase('stalling', { size: 4 * CS, seed: 12 });
    sameBytes(await d.read(CS, 512), baseBytes(4 * CS, 12).subarray(CS, CS + 512));
    await d.close();
  });

  it('a server without Range support is ENOTSUP at creation, saying so', async () => {
    const url = await serveBase('norange', { size: 2 * CS, seed: 1, ranges: 0 });
    const files = await newBackingOf('thin').open();
    await rejectsWith(stackStores(files, { crashModel: 'process', base: { url } }), 'ENOTSUP');
  });
});

describe('overlay open rules', () => {
  it('a Blob overlay needs its Blob again; another Blob is EIO; a disk without a base cannot become one', async () => {
    const bytes = new Uint8Array(baseBytes(2 * CS, 3));
    const blob = new Blob([bytes]);
    const thin = newBackingOf('thin');
    const b = { ...overlayBacking({ blob }), open: () => thin.open() };
    const d = await openOn(b, {});
    await d.write(0, new Uint8Array(10).fill(9));
    await d.close();
    await rejectsWith(stackStores(await thin.open(), { crashModel: 'process' }), 'EINVAL');
    await rejectsWith(
      stackStores(await thin.open(), { crashModel: 'process', base: { blob: new Blob([bytes, new Uint8Array(1)]) } }),
      'EIO',
    );
    const again = await openOn(b, {});
    const want = bytes.slice(0, 100);
    want.fill(9, 0, 10);
    sameBytes(await again.read(0, 100), want);
    await again.close();
    const plain = newBackingOf('thin');
    await (await openOn(plain, { size: CS })).close();
    await rejectsWith(stackStores(await plain.open(), { crashModel: 'process', base: { blob } }), 'EINVAL');
  });
});

/**
 * The crash rule overlays add: the map must never point at a copied
 * cluster before its data is durable, or a crash shows zeros where the base
 * was. A device that writes the map through and caches data makes that
 * visible; a layer that skips the sync is caught.
 */
class MapBeforeData extends ClusterMapStore {
  protected override syncDataBeforeMap(): void {}
}

async function crashedOverlay(kind: typeof ClusterMapStore, writes: [number, number][]): Promise<string[]> {
  const base = new Uint8Array(baseBytes(9 * CS, 4));
  const files = { data: new MemoryStore(), map: new MemoryStore() };
  const blob = new Blob([base]);
  const image = await openBase({ blob });
  const device = new PowerLossStoreLike(files.data);
  const map = await kind.open(device, files.map, { clusterSize: CS, diskSize: 9 * CS, base: image.identity });
  const overlay = new OverlayStore(map, image);
  const model = base.slice();
  for (const [offset, seed] of writes) {
    const bytes = pattern(100, seed);
    await overlay.write(offset, bytes);
    model.set(bytes, offset);
  }
  await overlay.sync();
  // One more copy-on-write (cluster 7), unsynced; then a whole new cluster
  // (8), whose allocation commits the map; then the power goes.
  await overlay.write(7 * CS + 5, pattern(10, 1));
  await overlay.write(8 * CS, pattern(CS, 2));
  const after = new OverlayStore(await ClusterMapStore.open(files.data, files.map), await openBase({ blob }));
  const back = new Uint8Array(9 * CS);
  await after.read(0, back);
  const problems: string[] = [];
  for (let c = 0; c < 7; c++) {
    if (!Buffer.from(back.buffer, c * CS, CS).equals(Buffer.from(model.buffer, c * CS, CS)))
      problems.push(`cluster ${c} differs from what was synced`);
  }
  const either = (c: number, ...options: Uint8Array[]) => {
    const got = Buffer.from(back.buffer, c * CS, CS);
    if (!options.some((o) => got.equals(Buffer.from(o.buffer, o.byteOffset, CS))))
      problems.push(`cluster ${c} is neither its old content nor the unsynced write`);
  };
  const updated = model.slice(7 * CS, 8 * CS);
  updated.set(pattern(10, 1), 5);
  either(7, model.subarray(7 * CS, 8 * CS), updated);
  either(8, model.subarray(8 * CS), pattern(CS, 2));
  return problems;
}

/** A device cache that loses every unsynced data write at the crash (sync destages). */
class PowerLossStoreLike extends MemoryStore {
  private pending: [number, Uint8Array][] = [];
  constructor(private readonly disk: MemoryStore) {
    super();
  }
  override read(offset: number, dst: Uint8Array): void {
    this.disk.read(offset, dst);
    for (const [at, bytes] of this.pending) {
      const from = Math.max(offset, at);
      const to = Math.min(offset + dst.length, at + bytes.length);
      if (to > from) dst.set(bytes.subarray(from - at, to - at), from - offset);
    }
  }
  override write(offset: number, src: Uint8Array): void {
    this.pending.push([offset, src.slice()]);
  }
  override sync(): void {
    for (const [at, bytes] of this.pending) this.disk.write(at, bytes);
    this.pending = [];
  }
}

describe('overlay crash ordering', () => {
  const writesArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 7 * CS - 100 }), fc.integer({ min: 1, max: 1000 })), {
    minLength: 1,
    maxLength: 6,
  });

  it('a crash shows the base or the copy, never zeros where the base was', async () => {
    await fc.assert(
      fc.asyncProperty(writesArb, async (w) => {
        expect(await crashedOverlay(ClusterMapStore, w)).toEqual([]);
      }),
      { numRuns: 50 },
    );
  });

  it('a write into a cluster a read installed (its map entry not yet committed) survives a crash of the worker', async () => {
    // Copy-on-read installs without a commit; a write that then goes in place
    // must commit that entry before it is acknowledged ('none' promises that).
    const { base, files, image, overlay } = await blobOverlay(3);
    await overlay.read(0, new Uint8Array(100)); // installs cluster 0
    await new Promise((r) => setTimeout(r, 20));
    await overlay.write(10, new Uint8Array(10).fill(7));
    await overlay.discard(CS - 100, 50); // in place too
    const after = new OverlayStore(await ClusterMapStore.open(files.data, files.map), image);
    const back = new Uint8Array(CS);
    await after.read(0, back);
    const want = base.slice(0, CS);
    want.fill(7, 10, 20);
    want.fill(0, CS - 100, CS - 50);
    sameBytes(back, want);
  });

  it('catches a map that points at a copied cluster before its data is durable', async () => {
    const problems = await crashedOverlay(MapBeforeData, [[100, 1]]);
    expect(problems.length, 'the broken ordering must be caught').toBeGreaterThan(0);
  });
});

describe('an overlay disk as the worker stacks it', () => {
  it('size defaults to the base length rounded up to 512; a given larger size reads zeros past the base', async () => {
    const url = await serveBase('sized', { size: 3000, seed: 2 });
    const d = await openOn(overlayBacking({ url }), {});
    expect(d.size).toBe(3072);
    const back = await d.read(0, 3072);
    sameBytes(back.subarray(0, 3000), baseBytes(3000, 2));
    sameBytes(back.subarray(3000), new Uint8Array(72));
    await d.close();
    const big = await openOn(overlayBacking({ url }), { size: 4 * CS });
    sameBytes(await big.read(CS, 512), new Uint8Array(512));
    await big.close();
  });
});

describe('the crash workload on an overlay (as the browser suite runs it, scaled down)', () => {
  it.each(OVERLAY_KINDS)(
    '%s: random workloads, crashes anywhere, both crash models: 0 violations against the base',
    async (kind) => {
      const SIZE = 2 << 20;
      const problems: string[] = [];
      for (let seed = 1; seed <= 40; seed++) {
        const b = newBackingOf(kind, SIZE);
        const files = await b.open();
        const power = { off: false };
        const mode = CACHE_MODES[seed % 5];
        const crashModel = seed % 2 ? 'process' : 'power';
        const s = await stackStores(files, { crashModel, power, base: b.base, deviceCacheSize: 256 << 10 });
        const d = await BlockDevice.open({ ...s, size: s.size, cache: mode, cacheSize: 256 << 10 });
        const run = await runCrashTest(d, {
          seed,
          size: SIZE,
          initialMode: mode,
          requests: 160,
          maxWrite: 256 << 10,
          crash: randomCrashPoint(seed, 160),
          onCrash: () => {
            power.off = true;
          },
        });
        power.off = true;
        const again = await stackStores(files, { crashModel: 'process', base: b.base });
        const report = await verifyDisk(
          await BlockDevice.open({ ...again, cache: 'writethrough' }),
          run.log,
          SIZE,
          b.initial,
        );
        if (report.violations > 0) problems.push(`seed ${seed} ${mode}/${crashModel}: ${report.details[0]?.reason}`);
      }
      expect(problems).toEqual([]);
    },
    120_000,
  );
});

describe('requests queued behind one that waits for the base', () => {
  it('a read queued behind a fetching write sees that write, and finds its own clusters local', async () => {
    const { base, overlay } = await blobOverlay(21);
    const first = new Uint8Array(4096);
    await overlay.read(0, first); // cluster 0 is local from here on
    const patch = pattern(100, 5);
    const writing = overlay.write(CS + 5, patch); // waits for cluster 1 from the base
    const next = new Uint8Array(4096);
    const sequential = overlay.read(4096, next); // continues the first read; queued behind the write
    const across = new Uint8Array(200);
    const overWrite = overlay.read(CS, across); // issued after the write: must see it
    await Promise.all([writing, sequential, overWrite]);
    sameBytes(first, base.subarray(0, 4096));
    sameBytes(next, base.subarray(4096, 8192));
    const want = base.slice(CS, CS + 200);
    want.set(patch, 5);
    sameBytes(across, want);
  });
});

describe('streaming read-ahead (a sequential reader over a URL)', () => {
  const MiB = 1024 * 1024;

  /** An overlay over base `name` on memory files, as the layer sees it (no block core in the way). */
  async function streamed(url: string, o: OverlayOptions = {}, timeoutMs?: number) {
    const image = await openBase({ url, ...(timeoutMs ? { timeoutMs } : {}) });
    const files = { data: new MemoryStore(), map: new MemoryStore() };
    const diskSize = Math.ceil(image.identity.length / CS) * CS;
    const map = await ClusterMapStore.open(files.data, files.map, { clusterSize: CS, diskSize, base: image.identity });
    return { overlay: new OverlayStore(map, image, o), map, files, image, diskSize };
  }
  const readOf = async (o: OverlayStore, offset: number, length: number) => {
    const b = new Uint8Array(length);
    await o.read(offset, b);
    return b;
  };
  const errorOf = (p: unknown) =>
    Promise.resolve(p).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Waits until `cond` holds (polling; a busy machine is slow), at most `ms`. */
  const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
    for (const t = performance.now(); !(await cond()) && performance.now() - t < ms; ) await sleep(20);
  };
  const aborted = async (name: string, n: number) => until(async () => (await baseStats(name)).aborted >= n);

  it('a store slow to take installs (IndexedDB commits) holds the stream back: memory stays bounded', async () => {
    const SIZE = 40 * MiB;
    const url = await serveBase('slow-store', { size: SIZE, seed: 23 });
    const expected = baseBytes(SIZE, 23);
    const image = await openBase({ url });
    // Bytes land at once (reads see them, as IndexedDB's pending groups do); writes are acknowledged only when let go.
    let letGo: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      letGo = r;
    });
    class SlowStore extends MemoryStore {
      override write(offset: number, src: Uint8Array) {
        super.write(offset, src);
        return gate;
      }
    }
    const files = { data: new SlowStore(), map: new MemoryStore() };
    const map = await ClusterMapStore.open(files.data, files.map, {
      clusterSize: CS,
      diskSize: SIZE,
      base: image.identity,
    });
    const overlay = new OverlayStore(map, image, { leadBytes: 64 * MiB });
    sameBytes(await readOf(overlay, 0, MiB), expected.subarray(0, MiB));
    sameBytes(await readOf(overlay, MiB, MiB), expected.subarray(MiB, 2 * MiB)); // sequential: the stream starts
    await sleep(1000);
    const held = overlay.baseBytesFetched();
    expect(held, 'bytes taken in while no install was done').toBeLessThan(16 * MiB);
    letGo();
    for (let off = 2 * MiB; off < SIZE; off += MiB) {
      sameBytes(await readOf(overlay, off, MiB), expected.subarray(off, off + MiB), `at ${off}`);
    }
    expect(overlay.baseBytesFetched()).toBe(SIZE);
    await overlay.close();
  });

  it('fetches what the reader used plus a bounded lead; a reader that stops has its stream paused, then cancelled', async () => {
    const SIZE = 32 * MiB;
    const url = await serveBase('lead', { size: SIZE, seed: 31, pieceDelay: 1 });
    const expected = baseBytes(SIZE, 31);
    const { overlay } = await streamed(url, { leadBytes: MiB, idleMs: 400 });
    for (let off = 0; off < 2 * MiB; off += 256 * 1024)
      sameBytes(await readOf(overlay, off, 256 * 1024), expected.subarray(off, off + 256 * 1024));
    await until(() => overlay.baseBytesFetched() >= 3 * MiB);
    await sleep(100);
    const paused = overlay.baseBytesFetched();
    expect(paused, 'the stream ran a lead past the reader').toBeGreaterThanOrEqual(3 * MiB);
    expect(paused, '… and no further (one piece over at most)').toBeLessThanOrEqual(3 * MiB + 256 * 1024);
    await sleep(150);
    expect(overlay.baseBytesFetched(), 'paused: nothing pulled').toBe(paused);
    await aborted('lead', 1);
    const s = await baseStats('lead');
    expect(s.ranges.slice(1), 'the first read alone, then one stream').toEqual([
      `0-${256 * 1024 - 1}`,
      `${256 * 1024}-${SIZE - 1}`,
    ]);
    expect(s.aborted, 'paused past idleMs: cancelled, the connection closed').toBe(1);
    expect(s.delivered, 'the server stopped sending (socket buffers aside)').toBeLessThan(20 * MiB);
    // The reader comes back: a new stream from where the copy ends; every byte right.
    for (let off = 2 * MiB; off < SIZE; off += MiB)
      sameBytes(await readOf(overlay, off, MiB), expected.subarray(off, off + MiB));
    expect(overlay.baseBytesFetched(), 'each byte fetched once: the paused stream had installed what it got').toBe(
      SIZE,
    );
  });

  it('a write or discard into clusters the stream is still bringing is kept, in call order, and survives a crash', async () => {
    const SIZE = 8 * MiB;
    const url = await serveBase('racing', { size: SIZE, seed: 32, pieceDelay: 2 });
    const model = baseBytes(SIZE, 32).slice();
    const { overlay, map, files, image } = await streamed(url);
    await readOf(overlay, 0, CS);
    sameBytes(await readOf(overlay, CS, CS), model.subarray(CS, 2 * CS)); // sequential: the stream starts
    expect(
      map.blockStatus(100 * CS, 20 * CS).every((e) => e.state === 'unallocated'),
      'not arrived yet',
    ).toBe(true);
    const ops: Promise<unknown>[] = [];
    // Nothing waits: a whole-cluster write goes straight in; the stream must skip that cluster.
    const whole = pattern(CS, 1);
    ops.push(Promise.resolve(overlay.write(100 * CS, whole)));
    model.set(whole, 100 * CS);
    // A partial one waits for the stream to hand its cluster over.
    const part = pattern(100, 2);
    ops.push(Promise.resolve(overlay.write(101 * CS + 10, part)));
    model.set(part, 101 * CS + 10);
    const after = readOf(overlay, 100 * CS, 2 * CS);
    const afterWant = model.slice(100 * CS, 102 * CS);
    // A read issued before a write sees the base there; one issued after sees the write.
    const before = readOf(overlay, 110 * CS, CS);
    const beforeWant = model.slice(110 * CS, 111 * CS);
    const patch = pattern(300, 3);
    ops.push(Promise.resolve(overlay.write(110 * CS + 5, patch)));
    model.set(patch, 110 * CS + 5);
    const later = readOf(overlay, 110 * CS, CS);
    const laterWant = model.slice(110 * CS, 111 * CS);
    ops.push(Promise.resolve(overlay.discard(112 * CS, CS)), Promise.resolve(overlay.discard(113 * CS + 7, 70)));
    model.fill(0, 112 * CS, 113 * CS);
    model.fill(0, 113 * CS + 7, 113 * CS + 77);
    await Promise.all(ops);
    sameBytes(await after, afterWant, 'read after the writes');
    sameBytes(await before, beforeWant, 'read before the write');
    sameBytes(await later, laterWant, 'read after the write');
    sameBytes(await readOf(overlay, 0, SIZE), model, 'whole disk once the stream is through');
    const s = await baseStats('racing');
    expect(s.ranges.slice(1), 'no cluster fetched apart from the stream').toEqual([`0-${CS - 1}`, `${CS}-${SIZE - 1}`]);
    expect(s.aborted).toBe(0);
    // A crash of the worker now (no sync): every acknowledged write is there.
    const again = new OverlayStore(await ClusterMapStore.open(files.data, files.map), image);
    sameBytes(await readOf(again, 0, SIZE), model, 'after a crash');
  });

  it('a reader that jumps elsewhere cancels the stream: the server stops sending', async () => {
    const SIZE = 32 * MiB;
    const url = await serveBase('jumping', { size: SIZE, seed: 33, pieceDelay: 1 });
    const expected = baseBytes(SIZE, 33);
    const { overlay } = await streamed(url, { leadBytes: MiB });
    await readOf(overlay, 0, CS);
    await readOf(overlay, CS, CS);
    sameBytes(await readOf(overlay, 30 * MiB, CS), expected.subarray(30 * MiB, 30 * MiB + CS), 'far away');
    await aborted('jumping', 1);
    const s = await baseStats('jumping');
    expect(s.ranges.slice(1)).toEqual([`0-${CS - 1}`, `${CS}-${SIZE - 1}`, `${30 * MiB}-${30 * MiB + CS - 1}`]);
    expect(s.aborted, 'the stream was cancelled').toBe(1);
    expect(s.delivered).toBeLessThan(20 * MiB);
    expect(overlay.baseBytesFetched()).toBeLessThan(4 * MiB);
    sameBytes(await readOf(overlay, 0, SIZE), expected, 'everything still reads right');
  });

  it('a stream that fails mid-body (stall, cut, 503, changed base) fails exactly the reads that waited for missing bytes; the disk goes on', async () => {
    const SIZE = 4 * MiB;
    const expected = baseBytes(SIZE, 34);
    const url = await serveBase('failing', { size: SIZE, seed: 34 });
    const { overlay } = await streamed(url, {}, 300);
    await overlay.write(0, new Uint8Array(CS).fill(4));
    const local = new Uint8Array(CS).fill(4);
    let at = CS;
    for (const [how, q, words] of [
      ['stall', { stallAfter: 2 * CS }, ['sent nothing for 0.3 s']],
      ['cut', { cutAfter: 2 * CS + 1000 }, ['could not be fetched']],
    ] as const) {
      await serveBase('failing', { size: SIZE, seed: 34, ...q });
      await readOf(overlay, at - CS, 512); // makes the next read sequential
      const reads = [0, 1, 2, 3, 4].map((k) => overlay.read(at + 512 - CS + k * CS, new Uint8Array(CS)));
      // The stream starts at the first read's cluster: two clusters come, then
      // the third read fails; the fourth (queued behind it) starts a new stream,
      // which brings its two clusters, and the fifth fails the same way.
      const results = await Promise.all(reads.map(errorOf));
      expect(
        results.map((e) => e?.code),
        how,
      ).toEqual([undefined, undefined, 'EIO', undefined, 'EIO']);
      for (const err of [results[2], results[4]]) for (const w of [url, ...words]) expect(err?.message).toContain(w);
      sameBytes(await readOf(overlay, 0, CS), local, 'local clusters stay readable');
      at += 6 * CS;
    }
    for (const [q, word] of [
      [{ status: 503 }, '503'],
      [{ seed: 35 }, 'changed'],
    ] as const) {
      await serveBase('failing', { size: SIZE, seed: 34, ...q });
      await readOf(overlay, at - CS, 512).catch(() => undefined);
      const err = await errorOf(overlay.read(at - CS + 512, new Uint8Array(2 * CS)));
      expect(err?.code).toBe('EIO');
      expect(err?.message).toContain(word);
      at += 4 * CS;
    }
    // The base is back: the same disk reads everything right.
    await serveBase('failing', { size: SIZE, seed: 34 });
    const want = expected.slice();
    want.set(local);
    sameBytes(await readOf(overlay, 0, SIZE), want);
  });

  it('requests issued together around a stream take effect in call order (against a model; then a crash)', async () => {
    const SIZE = 48 * CS + 3000;
    const url = await serveBase('model-stream', { size: SIZE, seed: 37, pieceDelay: 1 });
    const initial = new Uint8Array(Math.ceil(SIZE / CS) * CS);
    initial.set(baseBytes(SIZE, 37));
    type StreamOp =
      | { kind: 'next'; length: number }
      | { kind: 'read' | 'discard'; offset: number; length: number }
      | { kind: 'write'; offset: number; length: number; seed: number };
    const span = fc.record({
      offset: fc.integer({ min: 0, max: initial.length - 1 }),
      length: fc.integer({ min: 1, max: 2 * CS }),
    });
    const opArb: fc.Arbitrary<StreamOp> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ kind: fc.constant('next' as const), length: fc.integer({ min: 1, max: 3 * CS }) }),
      },
      { weight: 1, arbitrary: span.map((x) => ({ kind: 'read' as const, ...x })) },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('write' as const),
          offset: span.map((x) => x.offset),
          length: fc.integer({ min: 1, max: 2 * CS }),
          seed: fc.nat(),
        }),
      },
      { weight: 1, arbitrary: span.map((x) => ({ kind: 'discard' as const, ...x })) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        async (ops, groups) => {
          const { overlay, files, image } = await streamed(url, { leadBytes: 4 * CS });
          const model = initial.slice();
          let next = 0;
          const pending: Promise<unknown>[] = [];
          for (const [i, op] of ops.entries()) {
            const clip = (o: number, n: number) => [o, Math.min(n, initial.length - o)] as const;
            if (op.kind === 'next' || op.kind === 'read') {
              const [o, n] = op.kind === 'next' ? clip(next % initial.length, op.length) : clip(op.offset, op.length);
              next = o + n;
              const want = model.slice(o, o + n);
              pending.push(readOf(overlay, o, n).then((got) => sameBytes(got, want, `op ${i}: read ${o}+${n}`)));
            } else if (op.kind === 'write') {
              const [o, n] = clip(op.offset, op.length);
              const bytes = pattern(n, op.seed);
              pending.push(Promise.resolve(overlay.write(o, bytes)));
              model.set(bytes, o);
            } else {
              const [o, n] = clip(op.offset, op.length);
              pending.push(Promise.resolve(overlay.discard(o, n)));
              model.fill(0, o, o + n);
            }
            // Now and then the caller waits (the stream goes on meanwhile).
            if (i % Math.ceil(ops.length / groups) === 0) await Promise.all(pending.splice(0));
          }
          await Promise.all(pending);
          sameBytes(await readOf(overlay, 0, initial.length), model, 'whole disk');
          // Crash of the worker: every acknowledged write is there.
          await overlay.abandon();
          const again = new OverlayStore(await ClusterMapStore.open(files.data, files.map), image);
          sameBytes(await readOf(again, 0, initial.length), model, 'after a crash');
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 25) },
    );
  }, 120_000);

  it('close() during a stream settles every request and ends the connection; so does a power cut, at once', async () => {
    const SIZE = 8 * MiB;
    const url = await serveBase('closing', { size: SIZE, seed: 36, pieceDelay: 2 });
    const expected = baseBytes(SIZE, 36);
    const a = await streamed(url);
    await readOf(a.overlay, 0, CS);
    const reads = [1, 2, 3, 4, 5, 6].map((k) => readOf(a.overlay, k * CS, CS));
    const closed = Promise.resolve(a.overlay.close());
    const got = await Promise.all(reads);
    for (const [i, b] of got.entries()) sameBytes(b, expected.subarray((i + 1) * CS, (i + 2) * CS));
    await closed;
    await aborted('closing', 1);
    expect((await baseStats('closing')).aborted, 'close() cancelled the stream').toBe(1);
    // A power cut: the read waiting for the stream fails ECLOSED now, not after a timeout.
    const b = await streamed(url);
    await readOf(b.overlay, 0, CS);
    await readOf(b.overlay, CS, CS);
    const waiting = errorOf(b.overlay.read(2 * CS, new Uint8Array(MiB)));
    const far = errorOf(b.overlay.read(2 * CS + MiB, new Uint8Array(MiB)));
    await sleep(20);
    const t = performance.now();
    await b.overlay.abandon();
    expect((await waiting)?.code).toBe('ECLOSED');
    expect((await far)?.code, 'queued behind it: no stream, fetched alone, or failed').not.toBe('EIO');
    expect(performance.now() - t).toBeLessThan(1000);
    await aborted('closing', 2);
    expect((await baseStats('closing')).aborted).toBe(2);
  });
});
