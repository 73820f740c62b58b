import type { HeldRead } from '../client/transport';
import { DiskError } from '../core/errors';
import type { Extent } from '../core/store';
import { planQcow2, writeQcow2 } from './qcow2-write';
import { isZero } from './zeros';

export interface ExportProgress {
  /**
   * 'scan': a qcow2 export reading the clusters that may hold data (by the
   * disk's block status) to find those that do; 'copy': reading what goes
   * into the image.
   */
  phase: 'scan' | 'copy';
  /** Bytes of the disk read in this phase so far. */
  bytes: number;
  /** Bytes this phase reads. */
  total: number;
}

export interface ExportOptions {
  format?: 'raw' | 'qcow2';
  onProgress?: (progress: ExportProgress) => void;
  /** Aborting stops the export: the stream errors with the signal's reason. */
  signal?: AbortSignal;
}

/** What export needs of a disk (the Disk class gives it). */
export interface ExportableDisk {
  readonly name: string;
  readonly size: number;
  readonly closed: boolean;
  /** Counts write(), discard() and reset() calls: an export stops when it moves. */
  readonly changeCount: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  blockStatus(offset: number, length: number): Promise<Extent[]>;
  readInto(offset: number, into: Uint8Array): Promise<Uint8Array>;
  /** A read held where the transport put it until released (the raw export's read-ahead). */
  readHeld(offset: number, length: number): HeldRead;
  flush(): Promise<void>;
  /** The worker's counters: its writes and discards count those of every client (SyncDisk ports too). */
  stats(): Promise<{ writes: number; discards: number }>;
}

const PIECE = 1 << 20;
const CLUSTER = 64 * 1024;
/** Bytes between two looks at the worker's write counters (and one before the end). */
const WORKER_CHECK = 64 << 20;
/** Reads issued ahead of the one being sent: keeps the worker busy, memory bounded. */
const AHEAD = 4;

/**
 * The disk as an image, streamed. It flushes first, then reads in disk
 * order; a write, discard or reset issued through this Disk after export()
 * was called makes the stream error with EBUSY (the image would mix old and
 * new content): export again once writes have stopped. A qcow2 export
 * first finds the clusters that hold data (reading those the disk's block
 * status says may: on a thin disk only what was written), then writes
 * only those.
 */
export function exportDisk(disk: ExportableDisk, opts: ExportOptions = {}): ReadableStream<Uint8Array> {
  const format = opts.format ?? 'raw';
  if (format !== 'raw' && format !== 'qcow2') {
    throw new DiskError('EINVAL', `Export format ${String(format)} is invalid: give 'raw' or 'qcow2'.`);
  }
  if (disk.closed) throw new DiskError('ECLOSED', `Disk "${disk.name}" is closed: open it again to export it.`);
  const start = disk.changeCount;
  let phase: ExportProgress['phase'] = format === 'qcow2' ? 'scan' : 'copy';
  let total = disk.size;
  let done = 0;
  const check = () => {
    opts.signal?.throwIfAborted();
    if (disk.changeCount !== start) {
      throw new DiskError(
        'EBUSY',
        `Disk "${disk.name}" was written while it was being exported: the image would not be consistent. Export again once writes have stopped.`,
      );
    }
  };
  const worker = new WorkerChanges(disk);
  const progressed = (bytes: number) => {
    done += bytes;
    opts.onProgress?.({ phase, bytes: done, total });
  };
  const read = async (offset: number, length: number, into?: Uint8Array) => {
    const bytes = into ? await disk.readInto(offset, into.subarray(0, length)) : await disk.read(offset, length);
    check();
    progressed(length);
    return bytes;
  };
  if (format === 'raw') return rawStream(disk, check, worker, progressed, opts.signal);
  const parts = (async function* (): AsyncGenerator<Uint8Array> {
    await disk.flush();
    check();
    await worker.check();
    // The clusters that may hold data, by the disk's block status; each is
    // read and kept only if not all zeros (a disk that cannot tell is all 'data').
    const candidates = await dataClusters(disk, CLUSTER);
    check();
    total = candidates.reduce((sum, [from, to]) => sum + Math.min(to * CLUSTER, disk.size) - from * CLUSTER, 0);
    const data: number[] = [];
    for await (const piece of readAhead(candidatePieces(candidates, disk.size, PIECE), PIECE, read)) {
      for (let at = 0; at < piece.bytes.length; at += CLUSTER) {
        if (!isZero(piece.bytes, at, Math.min(piece.bytes.length, at + CLUSTER)))
          data.push((piece.offset + at) / CLUSTER);
      }
    }
    const plan = planQcow2(disk.size, data, CLUSTER);
    phase = 'copy';
    done = 0;
    total = data.reduce((sum, v) => sum + Math.min(CLUSTER, disk.size - v * CLUSTER), 0);
    for await (const part of writeQcow2(plan, (v) => read(v * CLUSTER, Math.min(CLUSTER, disk.size - v * CLUSTER)))) {
      await worker.streamed(part.length);
      yield part;
    }
    await worker.check();
  })();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await parts.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          controller.error(opts.signal?.aborted ? opts.signal.reason : err);
        }
      },
      async cancel() {
        await parts.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A raw export as a byte stream (where the browser has them). AHEAD
 * pieces are read ahead and held where the transport put them (shared
 * memory), then copied once, straight into the reader's buffer: a reader
 * that brings its own (BYOB) gets no fresh memory per piece, which is slow
 * to touch here, and the worker reads the next pieces while this one is
 * copied. Other readers get pieces of PIECE bytes. Runs the disk's block
 * status says read as zeros are zero-filled, not read.
 */
function rawStream(
  disk: ExportableDisk,
  check: () => void,
  worker: WorkerChanges,
  progressed: (bytes: number) => void,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  let flushed = false;
  const pieces = new RawPieces(disk);
  /** Fills `into` with the image's next bytes: how many (0: the end). */
  const fill = async (into: Uint8Array): Promise<number> => {
    if (!flushed) {
      await disk.flush();
      flushed = true;
      check();
      await worker.check();
    }
    const n = await pieces.next(into);
    check();
    if (n === 0) {
      await worker.check();
      return 0;
    }
    await worker.streamed(n);
    progressed(n);
    return n;
  };
  const fail = (controller: { error(e: unknown): void }, err: unknown) => {
    pieces.release();
    controller.error(signal?.aborted ? signal.reason : err);
  };
  const cancel = () => pieces.release();
  if (!byteStreams()) {
    // WebKitGTK has no byte streams: pieces of PIECE bytes, each in new memory.
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            const into = new Uint8Array(PIECE);
            const n = await fill(into);
            if (n === 0) controller.close();
            else controller.enqueue(into.subarray(0, n));
          } catch (err) {
            fail(controller, err);
          }
        },
        cancel,
      },
      { highWaterMark: 0 },
    );
  }
  return new ReadableStream({
    type: 'bytes',
    autoAllocateChunkSize: PIECE,
    async pull(controller) {
      try {
        const req = controller.byobRequest as ReadableStreamBYOBRequest;
        const view = req.view as Uint8Array<ArrayBuffer>;
        const n = await fill(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        if (n === 0) controller.close();
        req.respond(n);
      } catch (err) {
        fail(controller, err);
      }
    },
    cancel,
  });
}

let hasByteStreams: boolean | undefined;
/** Whether this browser makes byte streams (type: 'bytes'); WebKitGTK's does not. */
function byteStreams(): boolean {
  if (hasByteStreams === undefined) {
    try {
      new ReadableStream({ type: 'bytes' });
      hasByteStreams = true;
    } catch {
      hasByteStreams = false;
    }
  }
  return hasByteStreams;
}

/** A piece of the raw image: read and held, or zeros. */
interface RawPiece {
  offset: number;
  length: number;
  /** Undefined: the piece reads as zeros. */
  read: HeldRead | undefined;
  /** Bytes of it already given out. */
  taken: number;
}

/** The disk front to back in pieces, AHEAD of them read ahead. */
class RawPieces {
  private readonly status: StatusCursor;
  private readonly queue: RawPiece[] = [];
  /** Where the next piece to plan starts. */
  private planned = 0;

  constructor(private readonly disk: ExportableDisk) {
    this.status = new StatusCursor(disk);
  }

  /** Copies the next bytes of the image into `into`; resolves with how many (0: the end). */
  async next(into: Uint8Array): Promise<number> {
    await this.plan();
    const piece = this.queue[0];
    if (!piece) return 0;
    const n = Math.min(into.length, piece.length - piece.taken);
    if (piece.read) into.set((await piece.read.bytes).subarray(piece.taken, piece.taken + n));
    else into.fill(0, 0, n);
    piece.taken += n;
    if (piece.taken === piece.length) {
      piece.read?.release();
      this.queue.shift();
      await this.plan();
    }
    return n;
  }

  /** Keeps AHEAD pieces planned (their reads issued) while the disk has more. */
  private async plan(): Promise<void> {
    while (this.queue.length < AHEAD && this.planned < this.disk.size) {
      const offset = this.planned;
      const run = await this.status.at(offset);
      const length = Math.min(run.offset + run.length - offset, PIECE);
      const read = run.state === 'data' ? this.disk.readHeld(offset, length) : undefined;
      this.queue.push({ offset, length, read, taken: 0 });
      this.planned = offset + length;
    }
  }

  /** Frees what is held (the export ended or failed). */
  release(): void {
    for (const piece of this.queue) piece.read?.release();
    this.queue.length = 0;
    this.planned = this.disk.size;
  }
}

/**
 * Writes through a SyncDisk port do not pass the Disk: the worker's own
 * counters see them. Checked after the flush, every WORKER_CHECK bytes
 * streamed and before the stream ends: an image they changed errors
 * instead of ending.
 */
class WorkerChanges {
  private seen: number | undefined;
  private sinceCheck = 0;

  constructor(private readonly disk: ExportableDisk) {}

  async check(): Promise<void> {
    const s = await this.disk.stats();
    const now = s.writes + s.discards;
    this.sinceCheck = 0;
    if (this.seen === undefined) this.seen = now;
    else if (now !== this.seen) {
      throw new DiskError(
        'EBUSY',
        `Disk "${this.disk.name}" was written (through a SyncDisk) while it was being exported: the image would not be consistent. Stop the writer and export again.`,
      );
    }
  }

  /** Counts bytes streamed; checks once WORKER_CHECK of them have gone by. */
  async streamed(bytes: number): Promise<void> {
    this.sinceCheck += bytes;
    if (this.sinceCheck >= WORKER_CHECK) await this.check();
  }
}

/** The disk's block status, asked for a window at a time as a reader moves forward. */
class StatusCursor {
  private runs: Extent[] = [];
  private i = 0;
  constructor(private readonly disk: ExportableDisk) {}

  /** The run holding `offset` (offsets asked for only grow). */
  async at(offset: number): Promise<Extent> {
    for (let asked = false; ; asked = true) {
      while (this.i < this.runs.length && this.runs[this.i].offset + this.runs[this.i].length <= offset) this.i++;
      const run = this.runs[this.i];
      if (run && run.offset <= offset) return run;
      if (asked) throw new DiskError('EIO', `The disk's block status does not cover byte ${offset}.`);
      this.runs = await this.disk.blockStatus(offset, Math.min(STATUS_WINDOW, this.disk.size - offset));
      this.i = 0;
    }
  }
}

/** Status is asked for this much of the disk at a time: the answer's memory stays bounded. */
const STATUS_WINDOW = 1 << 30;

/**
 * Runs of clusters [from, to) that the disk's block status says may hold
 * data (at least one byte of them is 'data'), merged, in order.
 */
async function dataClusters(disk: ExportableDisk, cluster: number): Promise<[number, number][]> {
  const out: [number, number][] = [];
  for (let at = 0; at < disk.size; at += STATUS_WINDOW) {
    for (const run of await disk.blockStatus(at, Math.min(STATUS_WINDOW, disk.size - at))) {
      if (run.state !== 'data') continue;
      const from = Math.floor(run.offset / cluster);
      const to = Math.ceil((run.offset + run.length) / cluster);
      const last = out.at(-1);
      if (last && last[1] >= from) last[1] = Math.max(last[1], to);
      else out.push([from, to]);
    }
  }
  return out;
}

/** The byte pieces (at most `piece` long) of those cluster runs, within the disk. */
function* candidatePieces(runs: [number, number][], size: number, piece: number): Generator<[number, number]> {
  for (const [from, to] of runs) {
    const end = Math.min(size, to * CLUSTER);
    for (let at = from * CLUSTER; at < end; at += piece) yield [at, Math.min(piece, end - at)];
  }
}

/**
 * The bytes of `pieces` ([offset, length] pairs) with their offsets, AHEAD
 * reads in flight, into AHEAD + 1 buffers used in turn: a piece is valid
 * until the next is asked for.
 */
async function* readAhead(
  pieces: Iterator<[number, number]>,
  piece: number,
  read: (offset: number, length: number, into: Uint8Array) => Promise<Uint8Array>,
): AsyncGenerator<{ offset: number; bytes: Uint8Array }> {
  const buffers = Array.from({ length: AHEAD + 1 }, () => new Uint8Array(piece));
  const queue: { offset: number; bytes: Promise<Uint8Array> }[] = [];
  let turn = 0;
  const issue = () => {
    while (queue.length < AHEAD) {
      const next = pieces.next();
      if (next.done) return;
      const [offset, length] = next.value;
      const bytes = read(offset, length, buffers[turn++ % buffers.length]);
      bytes.catch(() => undefined); // awaited in turn below
      queue.push({ offset, bytes });
    }
  };
  issue();
  while (queue.length > 0) {
    const head = queue.shift() as { offset: number; bytes: Promise<Uint8Array> };
    const bytes = await head.bytes;
    issue();
    yield { offset: head.offset, bytes };
  }
}
