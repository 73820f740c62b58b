import { DiskError, type DiskErrorData, errorFromData } from '../core/errors';
import type { Op, Reply, ReplyOf, Request, RequestOf } from '../protocol/messages';
import {
  BUFFER_STAGING,
  CTRL,
  DEFAULT_ARENA,
  encodeIo,
  encodeRequest,
  MAX_CHUNK,
  newRing,
  RING_SLOTS,
  type RingViews,
  responseId,
  responseJson,
  responseStatus,
  ringViews,
  STATUS_OK,
  waitChange,
} from '../protocol/ring';
import { StagingArea, type Stretch } from './staging';
import type { CallOptions, HeldRead, Transport } from './transport';

/** Shared memory for the copies of writes waiting for room in the ring (past it, a plain copy). */
const STAGING_BYTES = 64 * 1024 * 1024;

/**
 * A request in the ring. One record per ring slot, reused request after
 * request (nothing is allocated per request): the record of the request
 * published as number n is slot n mod RING_SLOTS, and n is the id the
 * worker answers with.
 */
interface InFlight {
  id: number;
  op: Op;
  /** A read's or write's length in bytes. */
  length: number;
  /** The request, for ops other than read and write (they go as numbers). */
  request: Request | undefined;
  /** A read's destination, if the caller gave one. */
  into: Uint8Array | undefined;
  /** Arena window [start, end) in monotonic bytes; freed in FIFO order once done. */
  start: number;
  end: number;
  done: boolean;
  /** Acknowledged when published: an error answer is latched, not given to the caller. */
  acked: boolean;
  /** A held read (readHeld): its arena window stays reserved, after the answer, until released. */
  held: boolean;
  /** Its data is in a lent buffer, not the arena: a read's result is in place when answered. */
  lent: boolean;
  /** A staged write's stretch of the staging area, freed when answered. */
  stretch: Stretch | undefined;
  resolve(value: Reply | undefined): void;
  reject(err: DiskError): void;
}

const settleNothing = (): void => undefined;
/** What an early-acknowledged write returns: one promise, already resolved, for all of them. */
const ACKED: Promise<undefined> = Promise.resolve(undefined);

function emptyRecord(): InFlight {
  return {
    id: -1,
    op: 'stats',
    length: 0,
    request: undefined,
    into: undefined,
    start: 0,
    end: 0,
    done: true,
    acked: false,
    held: false,
    lent: false,
    stretch: undefined,
    resolve: settleNothing,
    reject: settleNothing,
  };
}

interface Waiting {
  request: Request;
  data: Uint8Array | undefined;
  /** A write's copy in the staging area: its stretch. */
  stretch: Stretch | undefined;
  ackOnPublish: boolean;
  resolve(value: Reply | undefined): void;
  reject(err: DiskError): void;
}

/**
 * The client's side of the shared-memory ring (see protocol/ring.ts). It
 * allocates request slots and arena space in FIFO order, copies write
 * data straight into the arena, and copies read results out when their
 * answer arrives. Requests that find the ring full wait in a backlog, in
 * order; requests bigger than a chunk are split.
 */
export class RingTransport implements Transport {
  readonly kind = 'shared-memory';
  readonly sab: SharedArrayBuffer;
  private readonly v: RingViews;
  private readonly arenaSize: number;
  /** Requests above this are split: a chunk must always fit the arena. */
  private readonly chunk: number;
  private published = 0;
  private answered = 0;
  /** The number of the oldest published request whose slot and arena window are not freed yet. */
  private oldest = 0;
  /** Monotonic arena positions: allocated up to head, freed up to tail. */
  private head = 0;
  private tail = 0;
  /** The requests' records, by slot. */
  private readonly records: InFlight[] = Array.from({ length: RING_SLOTS }, emptyRecord);
  /** A read or write for tryPublish without a request object (the hot path): its fields are copied. */
  private readonly io = { op: 'write' as 'read' | 'write', offset: 0, length: 0, at: 0, fua: false };
  private backlog: Waiting[] = [];
  /** Where backlogged writes' copies wait: in the ring's buffer, after the arena, where the worker reads them. */
  private readonly staging: StagingArea;
  private listening = false;
  private dead: DiskError | undefined;
  /** The first error of a write acknowledged at publish, for the next flush or close (QEMU reports write-back errors at fsync). */
  private latched: DiskError | undefined;
  /** Buffers lent to the worker (disk.allocBuffer()), by memory: their number in requests. */
  private readonly lentIds = new Map<ArrayBufferLike, number>();

  constructor(arenaBytes = DEFAULT_ARENA, stagingBytes = STAGING_BYTES) {
    this.arenaSize = arenaBytes;
    this.chunk = Math.max(1, Math.min(MAX_CHUNK, Math.floor(arenaBytes / 2)));
    this.sab = newRing(arenaBytes, stagingBytes);
    this.v = ringViews(this.sab);
    this.staging = new StagingArea(this.v.staging);
  }

  /**
   * Touches the arena once: first-touch page faults are slow on this
   * platform (~40 ms for 8 MiB). Called once the worker has been asked to
   * open the disk, so the two overlap. (The staging area is touched as
   * writes first use it, from its start.)
   */
  touch(): void {
    this.v.arena.fill(0);
  }

  handle(): boolean {
    return false; // everything arrives through shared memory
  }

  call<O extends Op>(request: RequestOf<O>, data?: Uint8Array, opts?: CallOptions): Promise<ReplyOf<O>> {
    // The reply's type follows the request's op: the worker answers per Operations.
    return this.send(request as Request, data, opts?.ackOnPublish === true) as Promise<ReplyOf<O>>;
  }

  /**
   * A write given as numbers (Disk.write's hot path): no request object,
   * no record; an early-acknowledged one allocates nothing at all.
   */
  write(offset: number, data: Uint8Array, fua: boolean, ackOnPublish: boolean): Promise<undefined> {
    if (!this.dead && this.backlog.length === 0 && data.length <= this.chunk) {
      const io = this.numbers('write', offset, data.length, fua);
      if (ackOnPublish && !fua && !this.lentIds.has(data.buffer)) {
        if (this.tryPublish(io, data, true, settleNothing, settleNothing, undefined)) return ACKED;
      } else {
        const p = this.publishNow(data);
        if (p) return p as Promise<undefined>;
      }
    }
    return this.send(
      { op: 'write', offset, length: data.length, at: 0, fua },
      data,
      ackOnPublish,
    ) as Promise<undefined>;
  }

  /** A read given as numbers (Disk.read's and readInto's hot path): no request object. */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!this.dead && this.backlog.length === 0 && length <= this.chunk) {
      this.numbers('read', offset, length, false);
      const p = this.publishNow(into);
      if (p) return p as Promise<Uint8Array>;
    }
    return this.send({ op: 'read', offset, length }, into, false) as Promise<Uint8Array>;
  }

  /** Fills the transport's `io` record with a read or write: what tryPublish takes from the hot path. */
  private numbers(op: 'read' | 'write', offset: number, length: number, fua: boolean): Request {
    const io = this.io;
    io.op = op;
    io.offset = offset;
    io.length = length;
    io.fua = fua;
    return io;
  }

  /** Publishes `io` now if there is room: its answer, or undefined (then nothing was sent). */
  private publishNow(data: Uint8Array | undefined): Promise<Reply | undefined> | undefined {
    let published = false;
    const answer = new Promise<Reply | undefined>((resolve, reject) => {
      published = this.tryPublish(this.io, data, false, resolve, reject, undefined);
    });
    return published ? answer : undefined;
  }

  /**
   * Registers a buffer the worker has been given (as number `id`): reads
   * into it and writes from it name it in their request, and their bytes
   * are moved by the worker alone.
   */
  lend(buffer: SharedArrayBuffer, id: number): void {
    this.lentIds.set(buffer, id);
  }

  private send(request: Request, data: Uint8Array | undefined, ackOnPublish: boolean): Promise<Reply | undefined> {
    if (this.dead) return Promise.reject(this.dead);
    const lent = data !== undefined && this.lentIds.has(data.buffer);
    // A lent buffer's bytes are the caller's again once the write settles: never before the worker took them.
    const early = ackOnPublish && request.op === 'write' && !request.fua && !lent;
    if (!lent && (request.op === 'read' || request.op === 'write') && request.length > this.chunk) {
      return this.split(request, data, early);
    }
    return new Promise((resolve, reject) => {
      if (this.backlog.length === 0 && this.tryPublish(request, data, early, resolve, reject, undefined)) return;
      // Copy now: the caller may reuse its buffer as soon as write() returns.
      // Into the staging area (shared, bounded), where the worker reads it
      // once the request gets a slot: one copy. Past the area's room, a
      // plain copy (and a second one into the arena). Acknowledged once
      // published either way: the backlog is not bounded by the ring.
      const copied = request.op === 'write' && data && !lent ? data : undefined;
      const staged = copied && this.staging.take(copied);
      this.backlog.push({
        request,
        data: staged ? staged.view : copied ? copied.slice() : data,
        stretch: staged?.stretch,
        ackOnPublish: early,
        resolve,
        reject,
      });
    });
  }

  idle(): boolean {
    // Every request published has had its answer drained, and none waits to be.
    return this.backlog.length === 0 && this.answered === this.published;
  }

  earlyAcksInFlight(): number {
    let n = 0;
    for (let i = this.oldest; i !== this.published; i = (i + 1) | 0) {
      const f = this.recordOf(i);
      if (f.acked && !f.done) n++;
    }
    return n;
  }

  get maxHeld(): number {
    return this.chunk;
  }

  /**
   * A read answered in the arena and left there: no copy until the caller
   * takes its bytes, and the next reads go on meanwhile. Its window (and
   * every later one, the arena being freed in order) stays reserved until
   * release(): callers hold a few, briefly.
   */
  readHeld(offset: number, length: number): HeldRead {
    if (length > this.chunk) throw new RangeError(`readHeld: at most ${this.chunk} bytes`);
    const request: Request = { op: 'read', offset, length };
    let entry: InFlight | undefined;
    let released = false;
    const bytes = new Promise<Uint8Array>((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      // Held, the answer is the arena's window; released unread, or behind the backlog, a copy.
      const answered = (copy: Reply | undefined) => {
        if (!entry?.held) return resolve(copy as Uint8Array);
        const pos = entry.start % this.arenaSize;
        resolve(this.v.arena.subarray(pos, pos + length));
      };
      if (this.backlog.length === 0 && this.tryPublish(request, undefined, false, answered, reject, undefined)) {
        entry = this.recordOf((this.published - 1) | 0);
        entry.held = true;
      } else {
        this.backlog.push({
          request,
          data: undefined,
          stretch: undefined,
          ackOnPublish: false,
          resolve: answered,
          reject,
        });
      }
    });
    bytes.catch(() => undefined); // awaited by the caller, or released unread
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        if (!entry?.held) return;
        entry.held = false;
        this.free();
      },
    };
  }

  /** Keeps the first error of an early-acknowledged write (later ones add nothing the caller can act on). */
  private latch(err: DiskError): void {
    this.latched ??= new DiskError(
      err.code,
      `A write acknowledged before the disk worker took it failed later: ${err.message} (writeback and unsafe report such errors at the next flush or close).`,
    );
  }

  fail(err: DiskError): void {
    this.dead ??= err;
    for (let i = this.oldest; i !== this.published; i = (i + 1) | 0) {
      const f = this.recordOf(i);
      if (f.done) continue;
      f.done = true;
      f.reject(err);
    }
    for (const w of this.backlog) w.reject(err);
    this.oldest = this.published;
    this.backlog = [];
  }

  /** Big reads and writes go as chunks, in order; the result is assembled here. */
  private async split(request: Request, data: Uint8Array | undefined, early: boolean): Promise<Reply | undefined> {
    if (request.op !== 'read' && request.op !== 'write') throw new Error('unreachable');
    const parts: Promise<unknown>[] = [];
    const out = request.op === 'read' ? (data ?? new Uint8Array(request.length)) : undefined;
    for (let done = 0; done < request.length; done += this.chunk) {
      const n = Math.min(this.chunk, request.length - done);
      const offset = request.offset + done;
      if (request.op === 'read') {
        // Straight into the result: no fresh buffer per chunk (fresh memory is slow to touch here).
        parts.push(this.send({ op: 'read', offset, length: n }, out?.subarray(done, done + n), false));
      } else {
        const chunk = data?.subarray(done, done + n);
        parts.push(this.send({ op: 'write', offset, length: n, at: 0, fua: request.fua }, chunk, early));
      }
    }
    await Promise.all(parts);
    return out;
  }

  /**
   * Publishes at once if a slot and arena space are free. `request` may be
   * the transport's own `io` record (a read or write given as numbers):
   * its fields are copied, it is not kept.
   */
  private tryPublish(
    request: Request,
    data: Uint8Array | undefined,
    ackOnPublish: boolean,
    resolve: (v: Reply | undefined) => void,
    reject: (e: DiskError) => void,
    stretch: Stretch | undefined,
  ): boolean {
    const count = (this.published - this.oldest) | 0;
    if (count >= RING_SLOTS) return false;
    if (count === 0) this.head = this.tail = 0; // empty: start afresh, no wasted tail
    const readOrWrite = request.op === 'read' || request.op === 'write';
    const length = readOrWrite ? request.length : 0;
    // Where the bytes are: the staging area (a staged write), a lent buffer, or the arena.
    const buffer = stretch ? BUFFER_STAGING : data ? this.lentIds.get(data.buffer) : undefined;
    const lent = buffer !== undefined;
    // Arena space: a request's own bytes; a staged write reserves its length
    // unused, so that staging changes where the worker reads, not how much
    // the ring lets in (the early acknowledgements' bound).
    const bytes = !lent || stretch ? length : 0;
    let start = this.head;
    const within = start % this.arenaSize;
    // A window never wraps around the arena's end: skip to its start.
    if (within + bytes > this.arenaSize) start += this.arenaSize - within;
    if (start + bytes - this.tail > this.arenaSize) return false;
    const pos = !lent
      ? start % this.arenaSize
      : stretch
        ? (data as Uint8Array).byteOffset - this.v.staging.byteOffset
        : (data as Uint8Array).byteOffset;
    if (request.op === 'write' && data && bytes > 0 && !lent) this.v.arena.set(data, pos);
    this.head = start + bytes;
    const id = this.published;
    const slot = id & (RING_SLOTS - 1);
    const f = this.records[slot];
    f.id = id;
    f.op = request.op;
    f.length = length;
    f.request = readOrWrite ? undefined : request;
    f.into = request.op === 'read' ? data : undefined;
    f.start = start;
    f.end = this.head;
    f.done = false;
    f.acked = ackOnPublish;
    f.held = false;
    f.lent = lent;
    f.stretch = stretch;
    f.resolve = resolve;
    f.reject = reject;
    if (readOrWrite) {
      encodeIo(
        this.v,
        slot,
        id,
        request.op,
        request.offset,
        length,
        request.op === 'write' && request.fua,
        pos,
        buffer,
      );
    } else {
      encodeRequest(this.v, slot, id, request, pos, buffer);
    }
    this.published = (this.published + 1) | 0;
    Atomics.store(this.v.ctrl, CTRL.reqSeq, this.published);
    Atomics.notify(this.v.ctrl, CTRL.reqSeq);
    this.listen();
    // In the ring, the write is ahead of every later read, flush and close the worker takes.
    if (ackOnPublish) resolve(undefined);
    return true;
  }

  private recordOf(id: number): InFlight {
    return this.records[id & (RING_SLOTS - 1)];
  }

  private listen(): void {
    if (this.listening || this.dead) return;
    this.listening = true;
    waitChange(this.v.ctrl, CTRL.respSeq, this.answered).then(() => {
      this.listening = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.dead) return;
    const seq = Atomics.load(this.v.ctrl, CTRL.respSeq);
    while (this.answered !== seq) {
      const slot = this.answered & (RING_SLOTS - 1);
      const id = responseId(this.v, slot);
      this.answered = (this.answered + 1) | 0;
      const f = this.recordOf(id);
      if (f.id !== id || f.done) continue;
      f.done = true;
      if (f.stretch) this.staging.free(f.stretch);
      const { resolve, reject } = f;
      // The record is reused: let go of what the caller gave.
      f.resolve = f.reject = settleNothing;
      if (responseStatus(this.v, slot) !== STATUS_OK) {
        const err = errorFromData(responseJson(this.v, slot) as DiskErrorData);
        if (f.acked) this.latch(err);
        else reject(err);
      } else if (this.latched && (f.op === 'flush' || f.op === 'close')) {
        reject(this.latched);
        this.latched = undefined;
      } else if (f.lent) {
        resolve(f.into); // the worker read straight into the lent buffer
      } else if (f.held) {
        resolve(undefined); // readHeld gives the arena's view itself
      } else if (f.op === 'read') {
        const pos = f.start % this.arenaSize;
        const result = this.v.arena.subarray(pos, pos + f.length);
        if (f.into) f.into.set(result);
        resolve(f.into ?? result.slice());
      } else {
        resolve(responseJson(this.v, slot) as Reply | undefined); // stats and block status travel as JSON
      }
      f.into = undefined;
      f.request = undefined;
    }
    this.free();
    if (this.published !== this.oldest) this.listen();
  }

  /** Frees the arena and slots of the answered prefix (up to a held read), then lets the backlog in. */
  private free(): void {
    while (this.oldest !== this.published) {
      const f = this.recordOf(this.oldest);
      if (!f.done || f.held) break;
      this.tail = f.end;
      this.oldest = (this.oldest + 1) | 0;
    }
    while (this.backlog.length > 0) {
      const w = this.backlog[0];
      if (!this.tryPublish(w.request, w.data, w.ackOnPublish, w.resolve, w.reject, w.stretch)) break;
      this.backlog.shift();
    }
  }
}
