// A dedicated worker for e2e/sync-disk.spec.ts: it holds a SyncDisk (which
// blocks, so it cannot live in the page) and runs the page's commands one
// at a time. Before each call it says it is starting; after it, how the
// call ended: a value, or the error's name, code and message.
import { DiskError, SyncDisk } from '/dist/webdisk.js';

let disk;

function run(op, a) {
  switch (op) {
    case 'open':
      disk = new SyncDisk(a.port);
      return { name: disk.name, size: disk.size, blockSize: disk.blockSize };
    case 'read':
      return disk.read(a.offset, a.length);
    case 'readInto': {
      const dst = new Uint8Array(a.length);
      return disk.readInto(a.offset, dst) === dst ? dst : 'not the same buffer';
    }
    case 'write':
      return disk.write(a.offset, a.data, { fua: a.fua, wait: a.wait });
    case 'settle':
      return disk.settle();
    case 'postThenRead': {
      // n posted 4 KiB writes (byte i + 1 each), then one read of them all: it must see every one, in order.
      for (let i = 0; i < a.n; i++) disk.write(a.offset + i * 4096, new Uint8Array(4096).fill(i + 1), { wait: false });
      const back = disk.read(a.offset, a.n * 4096);
      disk.settle();
      return back;
    }
    case 'flush':
      return disk.flush();
    case 'discard':
      return disk.discard(a.offset, a.length);
    case 'closed':
      return disk.closed;
    case 'readUntilError': {
      // Reads until a call throws (the disk closing under it); the error is the answer.
      for (let i = 0; ; i++) disk.read((i * 4096) % disk.size, 4096);
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
}

addEventListener('message', (ev) => {
  const { id, op, args } = ev.data;
  postMessage({ id, started: true });
  const t = performance.now();
  try {
    const value = run(op, args);
    postMessage({ id, ok: true, value, ms: performance.now() - t });
  } catch (e) {
    postMessage({
      id,
      ok: false,
      name: e?.name,
      code: e?.code,
      message: String(e?.message ?? e),
      isDiskError: e instanceof DiskError,
      ms: performance.now() - t,
    });
  }
});
