/**
 * A worker_threads entry for test/sync-disk.test.ts: a SyncDisk in a
 * thread of its own (it blocks), driven one command at a time so the test
 * can interleave async calls on the main thread. Each answer is how the
 * call ended: a value, or the error's code and message, and whether it was
 * thrown synchronously (it always should be).
 */
import { parentPort } from 'node:worker_threads';
import { SyncDisk } from '../../src/client/sync-disk';
import type { SyncDiskPort } from '../../src/protocol/sync-port';

export type ThreadCommand =
  | { op: 'open'; port: SyncDiskPort }
  | { op: 'read'; offset: number; length: number }
  /** `count` reads of `length` at `offset`, back to back: a client at one request in flight. */
  | { op: 'reads'; offset: number; length: number; count: number }
  | { op: 'write'; offset: number; data: Uint8Array; fua?: boolean }
  | { op: 'flush' }
  | { op: 'discard'; offset: number; length: number };

export type ThreadAnswer =
  | { ok: true; bytes?: Uint8Array; ms: number }
  | { ok: false; name: string; code?: string; message: string; ms: number };

let disk: SyncDisk | undefined;

function run(cmd: ThreadCommand): Uint8Array | undefined {
  if (cmd.op === 'open') {
    disk = new SyncDisk(cmd.port);
    return undefined;
  }
  if (!disk) throw new Error('open first');
  switch (cmd.op) {
    case 'read':
      return disk.read(cmd.offset, cmd.length);
    case 'reads':
      for (let i = 1; i < cmd.count; i++) disk.read(cmd.offset, cmd.length);
      return disk.read(cmd.offset, cmd.length);
    case 'write':
      disk.write(cmd.offset, cmd.data, { fua: cmd.fua });
      return undefined;
    case 'flush':
      disk.flush();
      return undefined;
    case 'discard':
      disk.discard(cmd.offset, cmd.length);
      return undefined;
  }
}

parentPort?.on('message', (cmd: ThreadCommand) => {
  const t = performance.now();
  let answer: ThreadAnswer;
  try {
    const bytes = run(cmd);
    answer = { ok: true, bytes, ms: performance.now() - t };
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string };
    answer = { ok: false, name: String(e.name), code: e.code, message: String(e.message), ms: performance.now() - t };
  }
  parentPort?.postMessage(answer);
});
