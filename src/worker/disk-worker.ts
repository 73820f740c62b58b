/**
 * The disk worker: one per open disk. It owns the stores and runs the
 * block core; killing it is the power loss. All it does is translate the
 * protocol into BlockDevice calls, in order.
 */
import type { BlockDevice } from '../core/block-device';
import { DiskError, errorToData } from '../core/errors';
import type { Envelope, FromWorker, OpenRequest, Reply, Request, Result, ToWorker } from '../protocol/messages';
import { powerSwitchOf } from '../protocol/ring';
import type { ReleaseLock } from '../stores/locks';
import { sharedPowerSwitch } from '../stores/power-switch';
import { execute } from './execute';
import { fillFromBlob } from './fill';
import { openDevice } from './open-device';
import { RingServer } from './ring-server';

// The DOM and WebWorker libs clash in one program: declare what we use.
declare const self: {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
};

let device: BlockDevice | undefined;
let releaseLock: ReleaseLock | undefined;
let ring: RingServer | undefined;
/**
 * How long the page's ring is watched after an answer before the worker
 * sleeps (see RingServer): catches a client at one request in flight, whose
 * next request comes ~25–40 µs after the answer it waited for.
 */
const RING_SPIN_US = 50;
/** The rings of SyncDisk ports (disk.openSync()), served beside `ring`. */
const syncRings: RingServer[] = [];
/** Buffers the page lent (disk.allocBuffer()), by number: its ring's requests may name them. */
const lent = new Map<number, Uint8Array>();
/** The switch a power-off message flips (pages without shared memory). */
const messagePower = { off: false };
/** Stops the disk's stores at once (aborting IndexedDB transactions still committing). */
let abandonStores: (() => Promise<void>) | undefined;
/** A power-off is under way: a second one (close() cut short) changes nothing. */
let poweringOff = false;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

async function open(o: OpenRequest, sab?: SharedArrayBuffer): Promise<void> {
  // powerLoss() flips the switch: no store call gets through after it. It
  // lives in the ring's control block when memory can be shared; otherwise
  // a power-off message flips it, between tasks.
  const power = sab ? sharedPowerSwitch(powerSwitchOf(sab)) : messagePower;
  // With shared memory the page reads cache hits itself (protocol/shared-cache.ts).
  const opened = await openDevice(o, power, sab !== undefined);
  const dev = opened.device;
  device = dev;
  releaseLock = opened.releaseLock;
  abandonStores = opened.abandon;
  if (sab) {
    ring = new RingServer(
      sab,
      (req, data) => call(dev, req, req.op === 'read' || req.op === 'write' ? data : undefined),
      { spinUs: RING_SPIN_US, lent: (id) => lent.get(id) },
    );
    void ring.run();
  }
  post({
    type: 'opened',
    info: {
      name: o.name,
      size: dev.size,
      blockSize: dev.blockSize,
      backend: opened.backend,
      backendReason: opened.backendReason,
      cacheMode: dev.cacheMode,
      uncleanShutdown: dev.uncleanShutdown,
      crashModel: o.crashModel,
      base: opened.baseLabel,
      sharedCache: dev.sharedCache,
    },
  });
}

/**
 * Executes a request. A completed close also gives up the ring and the
 * lock, and is answered only once the lock is free: a deleteDisk() or an
 * openDisk() right after close() resolves finds it free.
 */
function call(dev: BlockDevice, req: Request, data?: Uint8Array): Promise<Reply | undefined> {
  const done = execute(dev, req, data);
  if (req.op !== 'close') return done;
  return done.then(async () => {
    ring?.stop();
    for (const r of syncRings) r.stop();
    const release = releaseLock;
    releaseLock = undefined;
    await release?.();
    return undefined;
  });
}

async function runBatch(requests: Envelope[], payload: ArrayBuffer | null): Promise<void> {
  const dev = device;
  // Issue every request now: the device queues them in order, so the store
  // sees them back to back; answer the whole batch in one message.
  const settled = await Promise.allSettled(
    requests.map((req) => {
      if (!dev) return notOpen();
      try {
        // A batch of only empty writes carries no payload.
        const data = req.op === 'write' && payload ? new Uint8Array(payload, req.at, req.length) : undefined;
        return call(dev, req, data);
      } catch (err) {
        return Promise.reject(err);
      }
    }),
  );
  const results: Result[] = [];
  const transfer: Transferable[] = [];
  settled.forEach((s, i) => {
    const id = requests[i].id;
    if (s.status === 'rejected') {
      results.push({ id, ok: false, error: errorToData(s.reason) });
    } else {
      if (s.value instanceof Uint8Array) transfer.push(s.value.buffer as ArrayBuffer);
      results.push({ id, ok: true, value: s.value });
    }
  });
  if (payload) transfer.push(payload);
  post({ type: 'results', results, payload }, transfer);
}

function notOpen(): Promise<never> {
  return Promise.reject(new DiskError('ECLOSED', 'The disk is not open.'));
}

/** A SyncDisk may read, write, flush and discard; the rest (close, mode, stats) stays with the Disk. */
const SYNC_OPS: ReadonlySet<Request['op']> = new Set(['read', 'write', 'flush', 'discard']);

/**
 * Serves a SyncDisk's ring with a RingServer of its own, over the same
 * device: its requests join the device's one in-order queue as they
 * arrive, between the async client's, and neither ring waits on the other.
 */
function openSync(id: number, sab: SharedArrayBuffer): void {
  const dev = device;
  if (!dev || !ring) {
    const error = dev
      ? new DiskError('ENOTSUP', 'openSync needs the shared-memory transport, which this disk worker is not using.')
      : new DiskError('ECLOSED', 'The disk is not open.');
    post({ type: 'sync-failed', id, error: errorToData(error) });
    return;
  }
  const server = new RingServer(
    sab,
    (req, data) => {
      if (!SYNC_OPS.has(req.op)) return Promise.reject(new DiskError('EINVAL', `SyncDisk cannot ${req.op}.`));
      return call(dev, req, req.op === 'read' || req.op === 'write' ? data : undefined);
    },
    { follows: ring },
  );
  syncRings.push(server);
  void server.run();
  post({ type: 'sync-opened', id });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type === 'open') {
    open(msg.options, msg.ring).catch((err) => post({ type: 'open-failed', error: errorToData(err) }));
  } else if (msg.type === 'power-off') {
    messagePower.off = true;
    // Terminated while its aborts are still on their way, a worker can leave
    // a transaction open in WebKitGTK's storage process, and the disk's next
    // session waits on it for ever: report only once they have ended.
    if (poweringOff) return;
    poweringOff = true;
    (abandonStores?.() ?? Promise.resolve()).finally(() => post({ type: 'powered-off' }));
  } else if (msg.type === 'open-sync') {
    openSync(msg.id, msg.ring);
  } else if (msg.type === 'lend') {
    lent.set(msg.id, new Uint8Array(msg.buffer));
    post({ type: 'lent', id: msg.id });
  } else if (msg.type === 'fill') {
    const { id } = msg;
    const dev = device;
    (dev ? fillFromBlob(dev, msg.blob, (bytes) => post({ type: 'fill-progress', id, bytes })) : notOpen()).then(
      () => post({ type: 'fill-done', id }),
      (err: unknown) => post({ type: 'fill-done', id, error: errorToData(err) }),
    );
  } else if (msg.type === 'batch') {
    runBatch(msg.requests, msg.payload).catch((err) => console.error('webdisk worker: batch failed', err));
  }
};
