import { type DBSchema, type IDBPDatabase, type IDBPTransaction, unwrap } from 'idb';
import { deferred } from '../core/deferred';
import { DiskError, toDiskError } from '../core/errors';
import { pushRun } from '../core/extents';
import { eachPiece } from '../core/pieces';
import type { BlockStore, Extent } from '../core/store';

/**
 * A disk's bytes in its IndexedDB database, as a BlockStore: fixed-size
 * chunks (64 KiB by default) keyed by chunk index; a chunk never written,
 * or discarded whole, is absent: it takes no space and reads as zeros.
 *
 * Small writes do not rewrite their chunk. IndexedDB stores a value whole,
 * so a 4 KiB write into a 64 KiB chunk would cost a 64 KiB read and a
 * 64 KiB put — and IndexedDB's cost here is the bytes it moves. So a chunk
 * partly written keeps its untouched bytes where they are and takes the
 * written 4 KiB blocks as block records (a second object store keyed by
 * block index, laid over the chunk on reads). A chunk written whole, or
 * with more than half of its blocks touched at once, is folded back into
 * one chunk value and its block records deleted. (The metadata store has
 * 512-byte chunks and no block records.)
 *
 * Durability, mapped onto transactions:
 * - a write completes once the transaction holding it has committed with
 *   `durability: 'relaxed'` (it reached the browser's storage process: a
 *   crash of the worker cannot lose it);
 * - sync() completes once a `durability: 'strict'` transaction has
 *   committed after every write called before it ("outstanding changes"
 *   reached stable storage).
 * - Group commit: writes, discards and syncs called while a transaction
 *   is committing — or in the same task — share the next one, so a
 *   write-back of hundreds of blocks and its sync is one transaction, and
 *   atomic: after a crash either all of it is there or none.
 * - A chunk written whole is put without reading it; a partial chunk is
 *   read once, inside the committing transaction.
 */

/** The object stores of a disk's database (see idb-disks.ts). */
export interface DiskSchema extends DBSchema {
  /** `overlay`: the disk is an overlay (its cluster map is in `meta`, from key 2048). */
  info: { key: string; value: { format: number; chunkSize: number; overlay?: boolean } };
  meta: { key: number; value: ArrayBuffer };
  data: { key: number; value: ArrayBuffer };
  blocks: { key: number; value: ArrayBuffer };
}
export type DiskDatabase = IDBPDatabase<DiskSchema>;

/** Which object stores an IdbStore keeps its bytes in. */
export type IdbStoreLayout = { chunks: 'meta'; blocks?: undefined } | { chunks: 'data'; blocks: 'blocks' };

type StoreName = 'meta' | 'data' | 'blocks';

/** Bytes per block record. */
export const IDB_BLOCK = 4096;

/** The key of the tiny record a sync writes when it has nothing else to commit. */
const SYNC_MARKER = -1;
/** Chunks per range read (bounds the memory of one getAll). */
const CHUNKS_PER_READ = 64;
/** A chunk with more of its blocks touched at once than this share is rewritten whole. */
const FOLD_SHARE = 0.5;
/** Chunk buffers kept for reuse (fresh memory is slow on some machines). */
const POOL_LIMIT = 64;

/** A chunk's pending change: bytes written at `spans` (sorted, disjoint [start, end) pairs). */
interface PendingChunk {
  buf: Uint8Array | undefined;
  spans: number[];
  /** The chunk was discarded whole first: bytes outside `spans` are zeros, not the stored ones. */
  zeroBase: boolean;
}

interface Group {
  chunks: Map<number, PendingChunk>;
  strict: boolean;
  /** Reads that will lay this group over what they read: its buffers stay until they have. */
  readers: number;
  settled: boolean;
  /** Settles when the group's transaction has committed (or failed). */
  done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export class IdbStore implements BlockStore {
  readonly chunkSize: number;
  private readonly db: DiskDatabase;
  private readonly chunks: IdbStoreLayout['chunks'];
  private readonly blocks: 'blocks' | undefined;
  /** Block records per chunk (0: this store keeps none). */
  private readonly perChunk: number;
  private readonly scope: StoreName[];
  /** Collecting: no transaction yet. */
  private next: Group | undefined;
  /** Committing. */
  private committing: Group | undefined;
  private startScheduled = false;
  /** Transactions running now (the committing group's, reads'): a power cut aborts them. */
  private readonly running = new Set<IDBTransaction>();
  /** Power cut: nothing more gets in or out. */
  private abandoned = false;
  private abandoning: Promise<void> | undefined;
  private pool: Uint8Array[] = [];
  private readonly scratch: Uint8Array;
  private readonly release: () => void;
  private released = false;

  /** `release`: called once this store is closed (the database connection may be shared). */
  constructor(db: DiskDatabase, layout: IdbStoreLayout, chunkSize: number, release: () => void = () => db.close()) {
    this.db = db;
    this.release = release;
    this.chunks = layout.chunks;
    this.blocks = layout.blocks;
    this.perChunk = layout.blocks && chunkSize > IDB_BLOCK ? chunkSize / IDB_BLOCK : 0;
    this.scope = this.perChunk > 0 ? [layout.chunks, 'blocks'] : [layout.chunks];
    this.chunkSize = chunkSize;
    this.scratch = new Uint8Array(chunkSize);
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    this.checkPower();
    if (dst.length === 0) return;
    const cs = this.chunkSize;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + dst.length - 1) / cs);
    // Not yet in a transaction, so not seen by the one below: laid on top after.
    const pending = this.next;
    if (pending) pending.readers++;
    try {
      await this.readStored(first, last, offset, dst);
      if (pending) this.overlay(pending, first, last, offset, dst);
    } catch (err) {
      throw toDiskError(err);
    } finally {
      if (pending) {
        pending.readers--;
        this.recycle(pending);
      }
    }
  }

  /**
   * Chunks [first, last] as stored, block records laid over them: range
   * reads (one getAll per 64 chunks, one for their block records); absent
   * chunks read as zeros.
   */
  private readStored(first: number, last: number, offset: number, dst: Uint8Array): Promise<unknown> {
    const cs = this.chunkSize;
    // Created now, after any committing transaction: IndexedDB runs it after that one.
    const tx = this.db.transaction(this.scope, 'readonly');
    this.track(tx);
    const chunks = tx.objectStore(this.chunks);
    const reads: Promise<void>[] = [];
    for (let from = first; from <= last; from += CHUNKS_PER_READ) {
      const to = Math.min(last, from + CHUNKS_PER_READ - 1);
      const range = from === to ? from : IDBKeyRange.bound(from, to);
      const stored = Promise.all([chunks.getAllKeys(range), chunks.getAll(range)]);
      const records = this.perChunk > 0 ? this.blockRecords(tx.objectStore('blocks'), from, to) : undefined;
      reads.push(
        Promise.all([stored, records]).then(([[keys, values], blocks]) => {
          // Absent chunks are zeros: clear the span first, then place what exists.
          fillSpan(dst, offset, from * cs, (to + 1) * cs, 0);
          for (const [i, key] of keys.entries()) place(values[i], key * cs, offset, dst);
          if (blocks) for (const [i, key] of blocks[0].entries()) place(blocks[1][i], key * IDB_BLOCK, offset, dst);
        }),
      );
    }
    return Promise.all(reads);
  }

  /** The block records of chunks [from, to]: keys and values. */
  private blockRecords(
    store: { getAllKeys(r: IDBKeyRange): Promise<number[]>; getAll(r: IDBKeyRange): Promise<ArrayBuffer[]> },
    from: number,
    to: number,
  ): Promise<[number[], ArrayBuffer[]]> {
    const range = IDBKeyRange.bound(from * this.perChunk, (to + 1) * this.perChunk - 1);
    return Promise.all([store.getAllKeys(range), store.getAll(range)]);
  }

  write(offset: number, src: Uint8Array): Promise<void> {
    this.checkPower();
    if (src.length === 0) return Promise.resolve();
    const group = this.collecting();
    eachPiece(offset, src.length, this.chunkSize, (index, within, at, n) => {
      const pc = this.pendingChunk(group, index);
      pc.buf ??= this.takeBuffer();
      pc.buf.set(src.subarray(at, at + n), within);
      addSpan(pc.spans, within, within + n);
    });
    return group.done;
  }

  /**
   * A chunk stored (or with block records, or with a change not yet
   * committed) is 'data'; the rest was never written or discarded whole:
   * 'zero'. One key listing per call, not a read of the bytes.
   */
  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    this.checkPower();
    if (length === 0) return [];
    const cs = this.chunkSize;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + length - 1) / cs);
    const held = new Set<number>();
    // Pending changes first: a group that commits while the keys are listed still counts.
    for (const g of [this.committing, this.next]) for (const i of g?.chunks.keys() ?? []) held.add(i);
    const tx = this.db.transaction(this.scope, 'readonly');
    this.track(tx);
    const [chunks, records] = await Promise.all([
      tx.objectStore(this.chunks).getAllKeys(IDBKeyRange.bound(first, last)),
      this.perChunk > 0
        ? tx.objectStore('blocks').getAllKeys(IDBKeyRange.bound(first * this.perChunk, (last + 1) * this.perChunk - 1))
        : [],
    ]);
    for (const i of chunks) held.add(i);
    for (const k of records) held.add(Math.floor(k / this.perChunk));
    const out: Extent[] = [];
    eachPiece(offset, length, cs, (index, _within, at, n) => {
      pushRun(out, offset + at, n, held.has(index) ? 'data' : 'zero');
    });
    return out;
  }

  /** Whole chunks are deleted; the covered part of a partial one becomes zeros. */
  discard(offset: number, length: number): Promise<void> {
    this.checkPower();
    if (length === 0) return Promise.resolve();
    const group = this.collecting();
    eachPiece(offset, length, this.chunkSize, (index, within, _at, n) => {
      const pc = this.pendingChunk(group, index);
      if (n === this.chunkSize) {
        pc.spans.length = 0;
        pc.zeroBase = true;
      } else {
        pc.buf ??= this.takeBuffer();
        pc.buf.fill(0, within, within + n);
        addSpan(pc.spans, within, within + n);
      }
    });
    return group.done;
  }

  /** A strict commit after every write called so far: the next group, made strict. */
  sync(): Promise<void> {
    this.checkPower();
    const group = this.collecting();
    group.strict = true;
    return group.done;
  }

  /**
   * The power is cut: every running transaction is aborted (a transaction
   * that never committed is what a power cut loses; a read needs no
   * finishing), the collecting group is dropped, and nothing more is done.
   * Leaving a transaction to a killed worker is not safe: WebKitGTK keeps
   * it open, and every later transaction on the disk waits behind it.
   */
  abandon(): Promise<void> {
    // A second call waits for the first's aborts: answering at once would
    // let the worker be terminated while they are still on their way.
    this.abandoning ??= this.abortAll();
    return this.abandoning;
  }

  private abortAll(): Promise<void> {
    this.abandoned = true;
    const ended: Promise<unknown>[] = [];
    for (const tx of this.running) {
      // 'abort' or 'complete' only: a request's 'error' bubbles up before
      // the transaction has ended (an aborted one's requests fail first).
      ended.push(
        new Promise((resolve) => {
          tx.addEventListener('abort', resolve);
          tx.addEventListener('complete', resolve);
        }),
      );
      try {
        tx.abort();
      } catch {
        // committing already: it ends by itself
      }
    }
    this.running.clear();
    this.next?.reject(lostPower());
    this.next = undefined;
    // Settles when every aborted transaction has ended, or after a while (the
    // caller terminates the worker anyway), with the connection closed:
    // WebKitGTK can keep a terminated worker's connection open, and a later
    // deleteDatabase() would wait on it.
    return Promise.race([Promise.all(ended), new Promise((r) => setTimeout(r, ABANDON_WAIT_MS))]).then(() =>
      this.releaseOnce(),
    );
  }

  /** Keeps `tx` among the running transactions until it ends. */
  private track(tx: IDBPTransaction<DiskSchema, StoreName[], 'readonly' | 'readwrite'>): void {
    const raw = unwrap(tx);
    this.running.add(raw);
    const forget = () => this.running.delete(raw);
    tx.done.then(forget, forget);
  }

  /** Chunks and block records stored (a group still committing not counted). */
  async allocatedBytes(): Promise<number> {
    this.checkPower();
    const tx = this.db.transaction(this.scope, 'readonly');
    this.track(tx);
    const [chunks, blocks] = await Promise.all([
      tx.objectStore(this.chunks).count(IDBKeyRange.lowerBound(0)), // not the sync marker
      this.perChunk > 0 ? tx.objectStore('blocks').count() : 0,
    ]);
    return chunks * this.chunkSize + blocks * IDB_BLOCK;
  }

  private checkPower(): void {
    if (this.abandoned) throw lostPower();
  }

  async close(): Promise<void> {
    // Let what was issued commit first (a clean close() has synced already).
    while (this.next || this.committing) {
      await (this.committing ?? this.next)?.done.catch(() => undefined);
    }
    this.releaseOnce();
  }

  private releaseOnce(): void {
    if (this.released) return;
    this.released = true;
    this.release();
  }

  // ----------------------------------------------------------------- groups

  private collecting(): Group {
    if (this.next) return this.next;
    this.next = { chunks: new Map(), strict: false, readers: 0, settled: false, ...deferred() };
    if (!this.committing) this.scheduleStart();
    return this.next;
  }

  /** Starts the collecting group after the current task: everything issued in this task joins it. */
  private scheduleStart(): void {
    if (this.startScheduled) return;
    this.startScheduled = true;
    setTimeout(() => {
      this.startScheduled = false;
      if (!this.committing) this.startNext();
    }, 0);
  }

  private startNext(): void {
    const group = this.next;
    if (!group) return;
    this.next = undefined;
    this.committing = group;
    this.commit(group)
      .catch((err: unknown) => {
        // Firefox refuses the first transaction after one that hit the quota
        // (InvalidStateError: "a mutation operation was attempted on a
        // database that did not allow mutations"); the group aborted whole,
        // so it can simply go again.
        const name = (err as Error)?.name;
        if (name === 'InvalidStateError' || name === 'ReadOnlyError') return this.commit(group);
        throw err;
      })
      .then(
        () => group.resolve(),
        // A transaction the power cut aborted failed because of the cut.
        (err: unknown) => group.reject(this.abandoned ? lostPower() : storageError(err)),
      );
    group.done
      .catch(() => undefined)
      .then(() => {
        this.committing = undefined;
        group.settled = true;
        this.recycle(group);
        if (this.next) this.startNext();
      });
  }

  private async commit(group: Group): Promise<void> {
    if (this.abandoned) throw lostPower();
    const tx = this.db.transaction(this.scope, 'readwrite', { durability: group.strict ? 'strict' : 'relaxed' });
    this.track(tx);
    const chunks = tx.objectStore(this.chunks);
    const blocks = this.perChunk > 0 ? tx.objectStore('blocks') : undefined;
    const cs = this.chunkSize;
    const per = this.perChunk;
    const requests: (Promise<unknown> | undefined)[] = [];
    /** The chunk's block records go: the chunk value now holds all its bytes. */
    const dropBlocks = (index: number) =>
      blocks ? blocks.delete(IDBKeyRange.bound(index * per, (index + 1) * per - 1)) : undefined;
    for (const [index, pc] of group.chunks) {
      const buf = pc.buf;
      if (!buf || pc.spans.length === 0) {
        requests.push(chunks.delete(index), dropBlocks(index)); // discarded whole, nothing written since
        continue;
      }
      // Values are assembled in a scratch buffer (the group's own buffers
      // stay as written, for reads that lay them over older data) and
      // cloned by put() at once, so one scratch buffer serves every put.
      if (pc.zeroBase || coversAll(pc.spans, cs)) {
        requests.push(chunks.put(merge(this.scratch, buf, pc.spans, undefined), index), dropBlocks(index));
        continue;
      }
      const touched = per > 0 ? touchedBlocks(pc.spans, IDB_BLOCK) : [];
      if (blocks && touched.length > 0 && touched.length <= per * FOLD_SHARE) {
        requests.push(this.putBlocks(chunks, blocks, index, pc, touched));
        continue;
      }
      // Fold: read the chunk and its block records once, in this transaction; store it whole.
      const old = Promise.all([chunks.get(index), blocks ? this.blockRecords(blocks, index, index) : undefined]);
      requests.push(
        old.then(([value, records]) => {
          const out = this.scratch;
          fillFrom(out, value);
          if (records)
            for (const [i, key] of records[0].entries()) place(records[1][i], key * IDB_BLOCK, index * cs, out);
          for (let i = 0; i < pc.spans.length; i += 2) out.set(buf.subarray(pc.spans[i], pc.spans[i + 1]), pc.spans[i]);
          const put = chunks.put(out.buffer as ArrayBuffer, index);
          return Promise.all([put, records && records[0].length > 0 ? dropBlocks(index) : undefined]);
        }),
      );
    }
    if (group.chunks.size === 0) requests.push(chunks.put(new ArrayBuffer(0), SYNC_MARKER));
    // tx.done rejects with the transaction's error (QuotaExceededError…) if any request failed.
    await Promise.all([...requests, tx.done]);
  }

  /**
   * A few blocks of a chunk written: each goes as its own block record. A
   * block only partly written needs its old bytes — its record, else the
   * chunk's — read once, in the committing transaction.
   */
  private async putBlocks(
    chunks: { get(k: number): Promise<ArrayBuffer | undefined> },
    blocks: {
      get(k: number): Promise<ArrayBuffer | undefined>;
      put(v: ArrayBuffer, k: number): Promise<unknown>;
    },
    index: number,
    pc: PendingChunk,
    touched: number[],
  ): Promise<void> {
    const buf = pc.buf as Uint8Array;
    const base = index * this.perChunk;
    const partial = touched.filter((j) => !coversRange(pc.spans, j * IDB_BLOCK, (j + 1) * IDB_BLOCK));
    let chunk: Promise<ArrayBuffer | undefined> | undefined;
    const chunkValue = () => {
      if (!chunk) chunk = chunks.get(index);
      return chunk;
    };
    const olds = new Map<number, Promise<ArrayBuffer | undefined>>();
    for (const j of partial) {
      olds.set(
        j,
        blocks.get(base + j).then((rec) => rec ?? chunkValue().then((c) => c && sliceOf(c, j))),
      );
    }
    const puts: Promise<unknown>[] = [];
    const block = this.scratch.subarray(0, IDB_BLOCK);
    for (const j of touched) {
      const old = olds.get(j);
      const put = (oldBytes: ArrayBuffer | undefined) => {
        fillFrom(block, oldBytes);
        const start = j * IDB_BLOCK;
        for (let i = 0; i < pc.spans.length; i += 2) {
          const from = Math.max(start, pc.spans[i]);
          const to = Math.min(start + IDB_BLOCK, pc.spans[i + 1]);
          if (to > from) block.set(buf.subarray(from, to), from - start);
        }
        // A view's whole buffer would be stored: put a copy of just the block.
        return blocks.put(block.slice().buffer, base + j);
      };
      puts.push(old ? old.then(put) : put(undefined));
    }
    await Promise.all(puts);
  }

  // ---------------------------------------------------------------- helpers

  private pendingChunk(group: Group, index: number): PendingChunk {
    let pc = group.chunks.get(index);
    if (!pc) {
      pc = { buf: undefined, spans: [], zeroBase: false };
      group.chunks.set(index, pc);
    }
    return pc;
  }

  /** Lays a not-yet-committed group's chunks over what was read. */
  private overlay(group: Group, first: number, last: number, offset: number, dst: Uint8Array): void {
    const cs = this.chunkSize;
    for (const [index, pc] of group.chunks) {
      if (index < first || index > last) continue;
      const start = index * cs;
      if (pc.zeroBase) fillSpan(dst, offset, start, start + cs, 0);
      if (!pc.buf) continue;
      for (let i = 0; i < pc.spans.length; i += 2) {
        const from = Math.max(offset, start + pc.spans[i]);
        const to = Math.min(offset + dst.length, start + pc.spans[i + 1]);
        if (to > from) dst.set(pc.buf.subarray(from - start, to - start), from - offset);
      }
    }
  }

  private takeBuffer(): Uint8Array {
    return this.pool.pop() ?? new Uint8Array(this.chunkSize);
  }

  /** Once a group is committed and no read still needs it, its buffers serve new writes. */
  private recycle(group: Group): void {
    if (!group.settled || group.readers > 0) return;
    for (const pc of group.chunks.values()) {
      if (pc.buf && this.pool.length < POOL_LIMIT) this.pool.push(pc.buf);
      pc.buf = undefined;
    }
    group.chunks.clear();
  }
}

/** A storage failure as a DiskError: a database that refuses changes is out of space. */
function storageError(err: unknown): DiskError {
  if ((err as Error)?.name === 'ReadOnlyError') {
    return new DiskError(
      'ENOSPC',
      `The browser refused to store more data (${(err as Error).message}): the storage quota is probably exhausted. Free space by deleting disks.`,
    );
  }
  return toDiskError(err);
}

/** Adds [start, end) to a sorted list of disjoint spans, merging what touches. */
export function addSpan(spans: number[], start: number, end: number): void {
  let i = 0;
  while (i < spans.length && spans[i + 1] < start) i += 2;
  let j = i;
  while (j < spans.length && spans[j] <= end) {
    start = Math.min(start, spans[j]);
    end = Math.max(end, spans[j + 1]);
    j += 2;
  }
  spans.splice(i, j - i, start, end);
}

function coversAll(spans: number[], size: number): boolean {
  return coversRange(spans, 0, size);
}

/** Whether [from, to) lies inside one of the spans. */
function coversRange(spans: number[], from: number, to: number): boolean {
  for (let i = 0; i < spans.length; i += 2) if (spans[i] <= from && spans[i + 1] >= to) return true;
  return false;
}

/** Indexes (within the chunk) of the `size`-byte blocks the spans touch. */
function touchedBlocks(spans: number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < spans.length; i += 2) {
    for (let j = Math.floor(spans[i] / size); j * size < spans[i + 1]; j++) if (out.at(-1) !== j) out.push(j);
  }
  return out;
}

/** The bytes of block `j` of a stored chunk (or undefined past its end). */
function sliceOf(chunk: ArrayBuffer, j: number): ArrayBuffer | undefined {
  return j * IDB_BLOCK < chunk.byteLength ? chunk.slice(j * IDB_BLOCK, (j + 1) * IDB_BLOCK) : undefined;
}

/** `out` filled from a stored value (zeros past its end, or everywhere without one). */
function fillFrom(out: Uint8Array, value: ArrayBuffer | undefined): void {
  const kept = value ? Math.min(value.byteLength, out.length) : 0;
  if (value && kept > 0) out.set(new Uint8Array(value, 0, kept));
  out.fill(0, kept);
}

/** Copies the part of a stored value (holding disk bytes from `start`) that overlaps dst (at disk byte `offset`). */
function place(value: ArrayBuffer, start: number, offset: number, dst: Uint8Array): void {
  const bytes = new Uint8Array(value);
  const from = Math.max(offset, start);
  const to = Math.min(offset + dst.length, start + bytes.length);
  if (to > from) dst.set(bytes.subarray(from - start, to - start), from - offset);
}

/**
 * The chunk to store, assembled in `out` (a whole buffer: IndexedDB stores
 * a view's whole buffer): `buf` inside `spans`, the stored bytes `old` (or
 * zeros where there are none) outside them.
 */
function merge(out: Uint8Array, buf: Uint8Array, spans: number[], old: ArrayBuffer | undefined): ArrayBuffer {
  fillFrom(out, old);
  for (let i = 0; i < spans.length; i += 2) out.set(buf.subarray(spans[i], spans[i + 1]), spans[i]);
  return out.buffer as ArrayBuffer;
}

/** Zeros (or `value`) in dst where [from, to) of the disk overlaps it. */
function fillSpan(dst: Uint8Array, offset: number, from: number, to: number, value: number): void {
  const a = Math.max(offset, from);
  const b = Math.min(offset + dst.length, to);
  if (b > a) dst.fill(value, a - offset, b - offset);
}

/** How long a power cut waits for its aborts to take effect. */
const ABANDON_WAIT_MS = 500;

function lostPower(): DiskError {
  return new DiskError('ECLOSED', 'The disk lost power: reopen it to go on.');
}
