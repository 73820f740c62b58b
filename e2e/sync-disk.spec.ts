// SyncDisk (issue 10): a blocking client in a dedicated worker the page
// starts (e2e/pages/sync-worker.js), beside the disk's async API.
import type { EnginePage } from './engines';
import { ENGINE_FACTS } from './engines/facts';
import { expect, harnessPath, playwrightPage, test } from './fixtures';
import type { SyncAnswer } from './page-globals';

const MiB = 1 << 20;

/** window.syncWorker(): a sync worker and a call() that reports its start and its end. */
async function installSyncWorker(page: EnginePage): Promise<void> {
  await page.evaluate(() => {
    window.syncWorker = () => {
      const worker = new Worker('/e2e/pages/sync-worker.js', { type: 'module' });
      const waiting = new Map<number, { started(): void; done(a: SyncAnswer): void }>();
      worker.onmessage = (ev: MessageEvent<{ id: number; started?: boolean } & SyncAnswer>) => {
        const w = waiting.get(ev.data.id);
        if (ev.data.started) return w?.started();
        waiting.delete(ev.data.id);
        w?.done(ev.data);
      };
      let seq = 0;
      return {
        call(op: string, args?: object) {
          const id = ++seq;
          let started = () => {};
          let done = (_: SyncAnswer) => {};
          const s = new Promise<void>((r) => {
            started = r;
          });
          const d = new Promise<SyncAnswer>((r) => {
            done = r;
          });
          waiting.set(id, { started, done });
          worker.postMessage({ id, op, args });
          return { started: s, done: d };
        },
        terminate: () => worker.terminate(),
      };
    };
    window.syncDiskInWorker = async (name, opts, port) => {
      await window.webdisk.deleteDisk(name);
      const disk = await window.webdisk.openDisk({ name, ...opts });
      const w = window.syncWorker?.();
      if (!w) throw new Error('no sync worker');
      const opened = await w.call('open', { port: await disk.openSync(port) }).done;
      if (!opened.ok) throw new Error(`SyncDisk: ${opened.message}`);
      return { disk, w };
    };
  });
}

function needsSharedMemory(engine: keyof typeof ENGINE_FACTS): void {
  test.skip(
    !ENGINE_FACTS[engine].sharedArrayBuffer,
    `SyncDisk needs SharedArrayBuffer; ${engine} has none here (see e2e/engines/facts.ts)`,
  );
}

test('large transfers in pieces, errors thrown at once, one order with the async API', async ({ harness, engine }) => {
  needsSharedMemory(engine);
  await installSyncWorker(harness);
  const r = await harness.evaluate(async (MiB) => {
    const { openDisk, deleteDisk } = window.webdisk;
    const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => ((i * 31 + seed) % 251) + 1);
    const same = (a: unknown, b: Uint8Array) =>
      a instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
    await deleteDisk('sync-a');
    const disk = await openDisk({ name: 'sync-a', size: 32 * MiB, cacheSize: 4 * MiB });
    const port = await disk.openSync(); // 4 MiB data area
    const small = await disk.openSync({ bufferSize: 64 * 1024 });
    const w = window.syncWorker?.();
    const v = window.syncWorker?.();
    if (!w || !v) throw new Error('no sync worker');
    const opened = await w.call('open', { port }).done;
    await v.call('open', { port: small }).done;
    // A port is one SyncDisk's: a second one on it is refused.
    const again = window.syncWorker?.();
    const second = await again?.call('open', { port }).done;
    again?.terminate();
    // 5 MiB + 5 bytes at an odd offset: bigger than the 4 MiB data area (two pieces).
    const big = bytes(5 * MiB + 5, 1);
    const wrote = await w.call('write', { offset: 3 * MiB + 7, data: big }).done;
    const asyncSeesSync = same(await disk.read(3 * MiB + 7, big.length), big);
    const back = await w.call('read', { offset: 3 * MiB + 7, length: big.length }).done;
    // Through the small port: many pieces.
    const mid = bytes(300 * 1024 + 3, 2);
    await disk.write(20 * MiB + 1, mid);
    const syncSeesAsync = await v.call('readInto', { offset: 20 * MiB + 1, length: mid.length }).done;
    const fua = await v.call('write', { offset: 0, data: bytes(4096, 3), fua: true }).done;
    const flush = await v.call('flush').done;
    const discard = await w.call('discard', { offset: 20 * MiB, length: MiB }).done;
    const discarded = (await disk.read(20 * MiB, MiB)).every((b) => b === 0);
    const stats = await disk.stats();
    const errors = {
      pastEnd: await w.call('read', { offset: 32 * MiB - 10, length: 11 }).done,
      negative: await w.call('write', { offset: -1, data: bytes(1, 1) }).done,
      notBytes: await w.call('write', { offset: 0, data: [1, 2, 3] }).done,
    };
    // On the page's own thread Atomics.wait is not allowed: ENOTSUP, and the port stays free.
    let mainThread: { code?: string; message: string } | undefined;
    try {
      new window.webdisk.SyncDisk(await disk.openSync());
    } catch (e) {
      mainThread = { code: (e as { code?: string }).code, message: String((e as Error).message) };
    }
    const stillWorks = await w.call('read', { offset: 0, length: 4096 }).done;
    await disk.close();
    w.terminate();
    v.terminate();
    await deleteDisk('sync-a');
    return {
      opened,
      second,
      wrote: wrote.ok,
      asyncSeesSync,
      back: back.ok && same(back.value, big),
      syncSeesAsync: syncSeesAsync.ok && same(syncSeesAsync.value, mid),
      fua: fua.ok,
      flush: flush.ok,
      discard: discard.ok && discarded,
      fuaWrites: stats.fuaWrites,
      errors,
      mainThread,
      stillWorks: stillWorks.ok,
    };
  }, MiB);
  expect(r.opened).toMatchObject({ ok: true, value: { name: 'sync-a', size: 32 * MiB, blockSize: 4096 } });
  expect(r.second).toMatchObject({ ok: false, code: 'EBUSY', isDiskError: true });
  expect(r).toMatchObject({ wrote: true, asyncSeesSync: true, back: true, syncSeesAsync: true, fua: true });
  expect(r).toMatchObject({ flush: true, discard: true, fuaWrites: 1, stillWorks: true });
  expect(r.errors.pastEnd).toMatchObject({ ok: false, name: 'DiskError', code: 'ERANGE', isDiskError: true });
  expect(r.errors.negative).toMatchObject({ ok: false, code: 'EINVAL', isDiskError: true });
  expect(r.errors.notBytes).toMatchObject({ ok: false, code: 'EINVAL', isDiskError: true });
  expect(r.mainThread?.code).toBe('ENOTSUP');
  expect(r.mainThread?.message).toContain('worker');
});

test('power loss while a sync call waits: it throws ECLOSED, and so does every later call', async ({
  harness,
  engine,
}) => {
  needsSharedMemory(engine);
  await installSyncWorker(harness);
  const r = await harness.evaluate(async (MiB) => {
    const { openDisk, deleteDisk } = window.webdisk;
    // An overlay whose base stops answering: a read of the base waits (up
    // to timeoutMs) — a sync call that is certainly blocked when the plug is pulled.
    const name = 'sync-stall';
    await fetch(`/base-control/${name}?size=${4 * MiB}&seed=11`);
    await deleteDisk(name);
    const disk = await openDisk({ name, base: { url: `/base/${name}`, timeoutMs: 20_000 } });
    await fetch(`/base-control/${name}?size=${4 * MiB}&seed=11&stallAfter=0`);
    const w = window.syncWorker?.();
    if (!w) throw new Error('no sync worker');
    await w.call('open', { port: await disk.openSync() }).done;
    const blocked = w.call('read', { offset: 2 * MiB, length: 4096 });
    await blocked.started;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const t = performance.now();
    disk.powerLoss();
    const answer = await blocked.done;
    const wokeMs = performance.now() - t;
    const later = await w.call('write', { offset: 0, data: new Uint8Array(10) }).done;
    const closed = await w.call('closed').done;
    const openAfter = await disk.openSync().then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    );
    w.terminate();
    await fetch(`/base-control/${name}?size=${4 * MiB}&seed=11`);
    await deleteDisk(name);
    return { answer, wokeMs, later, closed, openAfter };
  }, MiB);
  expect(r.answer).toMatchObject({ ok: false, name: 'DiskError', code: 'ECLOSED', isDiskError: true });
  expect(r.answer.ms, 'it was waiting').toBeGreaterThan(250);
  expect(r.wokeMs, 'it woke at once').toBeLessThan(1000);
  expect(r.later).toMatchObject({ ok: false, code: 'ECLOSED' });
  expect(r.closed).toMatchObject({ ok: true, value: true });
  expect(r.openAfter).toBe('ECLOSED');
});

test('close(): calls issued before it complete, calls after it throw ECLOSED, none hangs', async ({
  harness,
  engine,
}) => {
  needsSharedMemory(engine);
  await installSyncWorker(harness);
  const r = await harness.evaluate(async (MiB) => {
    const { openDisk, deleteDisk } = window.webdisk;
    await deleteDisk('sync-close');
    const disk = await openDisk({ name: 'sync-close', size: 8 * MiB });
    const w = window.syncWorker?.();
    if (!w) throw new Error('no sync worker');
    await w.call('open', { port: await disk.openSync() }).done;
    const data = new Uint8Array(64 * 1024).fill(9);
    const wrote = await w.call('write', { offset: MiB, data }).done;
    // Reads in a loop while the disk closes under them: the loop ends with ECLOSED.
    const loop = w.call('readUntilError');
    await loop.started;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await disk.close();
    const answer = await loop.done;
    const after = await w.call('flush').done;
    w.terminate();
    // The sync write was acknowledged before close(): the clean close kept it.
    const again = await openDisk({ name: 'sync-close' });
    const kept = (await again.read(MiB, data.length)).every((b) => b === 9);
    await again.close();
    await deleteDisk('sync-close');
    return { wrote: wrote.ok, answer, after, kept };
  }, MiB);
  expect(r.wrote).toBe(true);
  expect(r.answer).toMatchObject({ ok: false, name: 'DiskError', code: 'ECLOSED', isDiskError: true });
  expect(r.after).toMatchObject({ ok: false, code: 'ECLOSED' });
  expect(r.kept).toBe(true);
});

test('export(): a write through a SyncDisk while it runs makes the stream error EBUSY, not end', async ({
  harness,
  engine,
}) => {
  needsSharedMemory(engine);
  await installSyncWorker(harness);
  const r = await harness.evaluate(async (MiB) => {
    const { openDisk, deleteDisk } = window.webdisk;
    await deleteDisk('sync-export');
    const disk = await openDisk({ name: 'sync-export', size: 8 * MiB });
    await disk.write(0, new Uint8Array(8 * MiB).fill(1));
    const w = window.syncWorker?.();
    if (!w) throw new Error('no sync worker');
    await w.call('open', { port: await disk.openSync() }).done;
    const outcome = async (format: 'raw' | 'qcow2', write: boolean) => {
      const reader = disk.export({ format }).getReader();
      await reader.read();
      if (write) await w.call('write', { offset: 4 * MiB, data: new Uint8Array(512).fill(2) }).done;
      try {
        while (!(await reader.read()).done) {}
        return 'ended';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    const got = {
      raw: await outcome('raw', true),
      qcow2: await outcome('qcow2', true),
      quiet: await outcome('raw', false),
    };
    w.terminate();
    await disk.close();
    await deleteDisk('sync-export');
    return got;
  }, MiB);
  expect(r).toEqual({ raw: 'EBUSY', qcow2: 'EBUSY', quiet: 'ended' });
});

test('posted writes (wait: false): a later read sees them all, in order, through a full data area and ring', async ({
  harness,
  engine,
}) => {
  needsSharedMemory(engine);
  await installSyncWorker(harness);
  const r = await harness.evaluate(async (MiB) => {
    // A 64 KiB data area and 300 posts: both the area (16 writes) and the ring (256 slots) fill up on the way.
    const { disk, w } = await window.syncDiskInWorker!('sync-posted', { size: 8 * MiB }, { bufferSize: 64 * 1024 });
    const n = 300;
    const back = await w.call('postThenRead', { offset: MiB, n }).done;
    const v = back.ok ? back.value : undefined;
    const inOrder =
      v instanceof Uint8Array && Array.from({ length: n }, (_, i) => v[i * 4096] === ((i + 1) & 255)).every(Boolean);
    const asyncSees = (await disk.read(MiB + (n - 1) * 4096, 1))[0] === (n & 255);
    w.terminate();
    await disk.close();
    await window.webdisk.deleteDisk('sync-posted');
    return { inOrder, asyncSees };
  }, MiB);
  expect(r).toEqual({ inOrder: true, asyncSees: true });
});

test('posted writes past the storage quota: each posts, settle() throws ENOSPC once, a read does not', async ({
  harness,
  engine,
  expectedBackend,
  baseURL,
}) => {
  test.skip(engine !== 'chromium', 'a small quota needs CDP (Storage.overrideQuotaForOrigin)');
  test.skip(expectedBackend !== 'opfs', 'OPFS refuses the write itself; IndexedDB may refuse later, at its commit');
  await installSyncWorker(harness);
  const page = playwrightPage(harness);
  const origin = new URL(baseURL as string).origin;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 24 * 1024 * 1024 });
  try {
    const r = await harness.evaluate(async (MiB) => {
      // cache=none: each write goes to the store at once, where the quota refuses it.
      const { disk, w } = await window.syncDiskInWorker!('sync-quota', { size: 64 * MiB, cache: 'none' });
      const posts = [];
      for (let i = 0; i < 40; i++)
        posts.push(
          (await w.call('write', { offset: i * MiB, data: new Uint8Array(MiB).fill(1), wait: false }).done).ok,
        );
      const read = await w.call('read', { offset: 0, length: 1 }).done;
      const settled = await w.call('settle').done;
      const again = await w.call('settle').done;
      w.terminate();
      await disk.close().catch(() => undefined);
      await window.webdisk.deleteDisk('sync-quota');
      return { posted: posts.every(Boolean), read: read.ok, settled, again: again.ok };
    }, MiB);
    expect(r).toMatchObject({ posted: true, read: true, again: true });
    expect(r.settled).toMatchObject({ ok: false, code: 'ENOSPC', isDiskError: true });
  } finally {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await cdp.detach();
  }
});

test('a page that is not cross-origin isolated: openSync() rejects ENOTSUP naming the headers', async ({
  harness,
  backend,
}) => {
  await harness.goto(harnessPath(backend, { isolation: 'off' }));
  const r = await harness.evaluate(async () => {
    const disk = await window.webdisk.openDisk({ name: 'sync-noiso', size: 1 << 20, backend: 'memory' });
    let threw = false;
    let p: Promise<unknown> | undefined;
    try {
      p = disk.openSync();
    } catch {
      threw = true;
    }
    const e = await p?.then(
      () => undefined,
      (err: { name?: string; code?: string; message?: string }) => err,
    );
    await disk.close();
    return { threw, isolated: crossOriginIsolated, name: e?.name, code: e?.code, message: e?.message };
  });
  expect(r.isolated).toBe(false);
  expect(r.threw, 'a rejected promise, not a throw').toBe(false);
  expect(r).toMatchObject({ name: 'DiskError', code: 'ENOTSUP' });
  expect(r.message).toContain('Cross-Origin-Opener-Policy: same-origin');
  expect(r.message).toContain('Cross-Origin-Embedder-Policy: require-corp');
});
