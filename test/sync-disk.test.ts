import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RingTransport } from '../src/client/ring-transport';
import { SyncPorts } from '../src/client/sync-ports';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { CTRL } from '../src/protocol/ring';
import { closeSyncRing, createSyncPort, type SyncDiskPort } from '../src/protocol/sync-port';
import { MemoryStore } from '../src/stores/memory-store';
import { execute } from '../src/worker/execute';
import { RingServer } from '../src/worker/ring-server';
import { pattern, rejectsWith, sameBytes } from './helpers';
import type { ThreadAnswer, ThreadCommand } from './threads/sync-disk-thread';

// A SyncDisk blocks its thread: it runs in a worker thread (bundled once
// here: worker_threads do not load TypeScript), the disk's device and
// RingServer on the main thread, as a disk worker would run them.
let dir: string;
let threadScript: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'webdisk-sync-test-'));
  await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      ssr: fileURLToPath(new URL('./threads/sync-disk-thread.ts', import.meta.url)),
      outDir: dir,
      emptyOutDir: true,
      rollupOptions: { output: { format: 'es', entryFileNames: 'sync-disk-thread.mjs' } },
    },
  });
  threadScript = join(dir, 'sync-disk-thread.mjs');
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 1 << 20;

/** A memory disk served on a sync port of `dataBytes`, and a thread holding a SyncDisk of it. */
async function setup(dataBytes: number, serve = true, spinUs = 0) {
  const dev = await BlockDevice.open({
    data: new MemoryStore(),
    meta: new MemoryStore(),
    size: SIZE,
    cacheSize: 64 << 10,
  });
  const { port, ctrl } = createSyncPort({ name: 'sync-test', size: SIZE, blockSize: 4096 }, dataBytes);
  const server = new RingServer(port.buffer, (req, data) => execute(dev, req, data), { spinUs });
  if (serve) void server.run();
  const thread = new Worker(threadScript);
  const send = (cmd: ThreadCommand) =>
    new Promise<ThreadAnswer>((resolve) => {
      thread.once('message', resolve);
      thread.postMessage(cmd);
    });
  const opened = await send({ op: 'open', port });
  expect(opened.ok).toBe(true);
  return {
    dev,
    port,
    ctrl,
    server,
    send,
    async end() {
      server.stop();
      await thread.terminate();
    },
  };
}

function failed(a: ThreadAnswer): { code?: string; message: string } {
  if (a.ok) throw new Error('expected the call to throw');
  expect(a.name).toBe('DiskError');
  return { code: a.code, message: a.message };
}

describe('SyncDisk', () => {
  it('moves transfers larger than its data area in pieces, in order with the async client', async () => {
    const t = await setup(4096);
    // 40 KiB + 17 bytes at an odd offset: pieces cut at multiples of the data area.
    const big = pattern(40 * 1024 + 17, 3);
    expect((await t.send({ op: 'write', offset: 1000, data: big })).ok).toBe(true);
    // Sync write, then an async read sees it.
    sameBytes(await t.dev.read(1000, big.length), big);
    const back = await t.send({ op: 'read', offset: 1000, length: big.length });
    if (!back.ok || !back.bytes) throw new Error('read failed');
    sameBytes(back.bytes, big);
    // Async write, then a sync read sees it.
    const small = pattern(5000, 9);
    await t.dev.write(70_000, small);
    const got = await t.send({ op: 'read', offset: 70_000, length: small.length });
    if (!got.ok || !got.bytes) throw new Error('read failed');
    sameBytes(got.bytes, small);
    expect((await t.send({ op: 'discard', offset: 70_000, length: 4096 })).ok).toBe(true);
    expect((await t.dev.read(70_000, 4096)).every((b) => b === 0)).toBe(true);
    expect((await t.send({ op: 'write', offset: 0, data: pattern(4096, 1), fua: true })).ok).toBe(true);
    expect((await t.send({ op: 'flush' })).ok).toBe(true);
    const stats = await t.dev.stats();
    expect(stats.fuaWrites).toBe(1);
    expect(stats.flushes).toBe(1);
    await t.end();
  });

  it('throws bad calls at once, and the worker side errors with their code and message', async () => {
    const t = await setup(4096);
    expect(failed(await t.send({ op: 'read', offset: SIZE, length: 1 })).code).toBe('ERANGE');
    expect(failed(await t.send({ op: 'read', offset: -1, length: 1 })).code).toBe('EINVAL');
    expect(failed(await t.send({ op: 'discard', offset: 0.5, length: 1 })).code).toBe('EINVAL');
    // Past the SyncDisk's own checks: the device refuses, and its error crosses as is.
    await t.dev.close();
    const e = failed(await t.send({ op: 'read', offset: 0, length: 10 }));
    expect(e).toEqual({ code: 'ECLOSED', message: 'The disk is closed: open it again.' });
    await t.end();
  });

  it('a call blocked on a ring nobody serves throws once the page closes it: ECLOSED, EIO after a crash', async () => {
    for (const [by, code] of [
      ['powerLoss', 'ECLOSED'],
      ['close', 'ECLOSED'],
      ['crash', 'EIO'],
    ] as const) {
      const t = await setup(4096, false);
      const pending = t.send({ op: 'write', offset: 0, data: pattern(10_000, 2) });
      setTimeout(() => closeSyncRing(t.ctrl, by), 150);
      const a = await pending;
      expect(failed(a).code).toBe(code);
      expect(a.ms).toBeGreaterThan(100); // it did wait, and woke soon after
      expect(a.ms).toBeLessThan(2000);
      // Later calls throw at once.
      expect(failed(await t.send({ op: 'flush' })).code).toBe(code);
      await t.end();
    }
  });

  it("a spinning server takes a one-in-flight client's next request without sleeping; idle, it stops spinning", async () => {
    // A generous spin: the thread's next read comes microseconds after its answer.
    const spun = await setup(4096, true, 20_000);
    await spun.dev.write(0, pattern(4096, 1));
    const got = await spun.send({ op: 'reads', offset: 0, length: 4096, count: 200 });
    expect(got.ok).toBe(true);
    sameBytes((got as { bytes: Uint8Array }).bytes, pattern(4096, 1));
    expect(spun.server.spins.caught, 'requests taken by a spin').toBeGreaterThan(150);
    // Idle now: a few spins find nothing, then the server only sleeps.
    await new Promise((r) => setTimeout(r, 200));
    const missed = spun.server.spins.missed;
    expect(missed).toBeLessThanOrEqual(4);
    await new Promise((r) => setTimeout(r, 100));
    expect(spun.server.spins.missed, 'no spinning while idle').toBe(missed);
    await spun.end();
    // Without a spin budget: never.
    const plain = await setup(4096);
    await plain.send({ op: 'reads', offset: 0, length: 4096, count: 50 });
    expect(plain.server.spins).toEqual({ caught: 0, missed: 0 });
    await plain.end();
  });

  it("a SyncDisk call comes after every async write acknowledged before it, even one still in the page's ring", async () => {
    const dev = await BlockDevice.open({ data: new MemoryStore(), meta: new MemoryStore(), size: SIZE });
    // The page's ring, its server not running: an early-acknowledged write stays published, not taken.
    const page = new RingTransport(64 * 1024);
    const pageServer = new RingServer(page.sab, (req, data) => execute(dev, req, data));
    const { port } = createSyncPort({ name: 'sync-follows', size: SIZE, blockSize: 4096 }, 4096);
    const server = new RingServer(port.buffer, (req, data) => execute(dev, req, data), { follows: pageServer });
    void server.run();
    const thread = new Worker(threadScript);
    const send = (cmd: ThreadCommand) =>
      new Promise<ThreadAnswer>((resolve) => {
        thread.once('message', resolve);
        thread.postMessage(cmd);
      });
    expect((await send({ op: 'open', port })).ok).toBe(true);
    await page.call({ op: 'write', offset: 8192, length: 4096, at: 0, fua: false }, pattern(4096, 9), {
      ackOnPublish: true,
    });
    const got = await send({ op: 'read', offset: 8192, length: 4096 });
    expect(got.ok).toBe(true);
    sameBytes((got as { bytes: Uint8Array }).bytes, pattern(4096, 9), 'the sync read sees the acknowledged write');
    server.stop();
    pageServer.stop();
    await thread.terminate();
  });

  it('one SyncDisk per port; a port that is not one is EINVAL', async () => {
    const t = await setup(4096);
    const second = new Worker(threadScript);
    const answer = await new Promise<ThreadAnswer>((resolve) => {
      second.once('message', resolve);
      second.postMessage({ op: 'open', port: t.port } satisfies ThreadCommand);
    });
    expect(failed(answer).code).toBe('EBUSY');
    const bad = await new Promise<ThreadAnswer>((resolve) => {
      second.once('message', resolve);
      second.postMessage({ op: 'open', port: { ...t.port, kind: 'other' } as unknown as SyncDiskPort });
    });
    expect(failed(bad).code).toBe('EINVAL');
    await second.terminate();
    expect(Atomics.load(t.ctrl, CTRL.owner)).toBe(1);
    await t.end();
  });

  it('openSync needs a cross-origin isolated context: ENOTSUP naming the headers', async () => {
    const ports = new SyncPorts({ postMessage() {} } as unknown as globalThis.Worker, {
      name: 'x',
      size: SIZE,
      blockSize: 4096,
    });
    await rejectsWith(ports.open(), 'ENOTSUP');
    const err = await ports.open().catch((e: DiskError) => e);
    expect(err).toBeInstanceOf(DiskError);
    expect(String((err as DiskError).message)).toContain('Cross-Origin-Opener-Policy: same-origin');
    expect(String((err as DiskError).message)).toContain('Cross-Origin-Embedder-Policy: require-corp');
    await rejectsWith(ports.open({ bufferSize: 100 }), 'EINVAL');
    ports.closeAll('powerLoss');
    await rejectsWith(ports.open(), 'ECLOSED');
  });
});
