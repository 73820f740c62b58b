import type { DBSchema, IDBPDatabase } from 'idb';
import { toDiskError } from '../core/errors';
import type { BlockStore } from '../core/store';

/**
 * One object store of a disk's IndexedDB database, as a BlockStore: bytes
 * in fixed-size chunks keyed by chunk index (a chunk never written, or
 * discarded whole, is absent: it takes no space and reads as zeros).
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
  info: { key: string; value: { format: number; chunkSize: number } };
  meta: { key: number; value: ArrayBuffer };
  data: { key: number; value: ArrayBuffer };
}
export type DiskDatabase = IDBPDatabase<DiskSchema>;
export type ChunkStoreName = 'meta' | 'data';

/** The key of the tiny record a sync writes when it has nothing else to commit. */
const SYNC_MARKER = -1;
/** Chunks per range read (bounds the memory of one getAll). */
const CHUNKS_PER_READ = 64;
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
  private readonly name: ChunkStoreName;
  /** Collecting: no transaction yet. */
  private next: Group | undefined;
  /** Committing. */
  private committing: Group | undefined;
  private startScheduled = false;
  private pool: Uint8Array[] = [];
  private readonly scratch: Uint8Array;
  private readonly release: () => void;

  /** `release`: called once this store is closed (the database connection may be shared). */
  constructor(db: DiskDatabase, name: ChunkStoreName, chunkSize: number, release: () => void = () => db.close()) {
    this.db = db;
    this.release = release;
    this.name = name;
    this.chunkSize = chunkSize;
    this.scratch = new Uint8Array(chunkSize);
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
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

  /** Chunks [first, last] as stored: range reads (one getAll per 64 chunks), absent chunks as zeros. */
  private readStored(first: number, last: number, offset: number, dst: Uint8Array): Promise<unknown> {
    const cs = this.chunkSize;
    // Created now, after any committing transaction: IndexedDB runs it after that one.
    const tx = this.db.transaction(this.name, 'readonly');
    const store = tx.store;
    const reads: Promise<void>[] = [];
    for (let from = first; from <= last; from += CHUNKS_PER_READ) {
      const to = Math.min(last, from + CHUNKS_PER_READ - 1);
      if (from === to) {
        reads.push(store.get(from).then((value) => this.place(from, value, offset, dst)));
      } else {
        const range = IDBKeyRange.bound(from, to);
        reads.push(
          Promise.all([store.getAllKeys(range), store.getAll(range)]).then(([keys, values]) => {
            // Absent chunks are zeros: clear the span first, then place what exists.
            fillSpan(dst, offset, from * cs, (to + 1) * cs, 0);
            for (const [i, key] of keys.entries()) this.place(key, values[i], offset, dst, true);
          }),
        );
      }
    }
    return Promise.all(reads);
  }

  write(offset: number, src: Uint8Array): Promise<void> {
    if (src.length === 0) return Promise.resolve();
    const cs = this.chunkSize;
    const group = this.collecting();
    for (let done = 0; done < src.length; ) {
      const pos = offset + done;
      const index = Math.floor(pos / cs);
      const within = pos - index * cs;
      const n = Math.min(cs - within, src.length - done);
      const pc = this.pendingChunk(group, index);
      pc.buf ??= this.takeBuffer();
      pc.buf.set(src.subarray(done, done + n), within);
      addSpan(pc.spans, within, within + n);
      done += n;
    }
    return group.done;
  }

  /** Whole chunks are deleted; the covered part of a partial one becomes zeros. */
  discard(offset: number, length: number): Promise<void> {
    if (length === 0) return Promise.resolve();
    const cs = this.chunkSize;
    const group = this.collecting();
    for (let done = 0; done < length; ) {
      const pos = offset + done;
      const index = Math.floor(pos / cs);
      const within = pos - index * cs;
      const n = Math.min(cs - within, length - done);
      if (n === cs) {
        const pc = this.pendingChunk(group, index);
        pc.spans.length = 0;
        pc.zeroBase = true;
      } else {
        const pc = this.pendingChunk(group, index);
        pc.buf ??= this.takeBuffer();
        pc.buf.fill(0, within, within + n);
        addSpan(pc.spans, within, within + n);
      }
      done += n;
    }
    return group.done;
  }

  /** A strict commit after every write called so far: the next group, made strict. */
  sync(): Promise<void> {
    const group = this.collecting();
    group.strict = true;
    return group.done;
  }

  async close(): Promise<void> {
    // Let what was issued commit first (a clean close() has synced already).
    while (this.next || this.committing) {
      await (this.committing ?? this.next)?.done.catch(() => undefined);
    }
    this.release();
  }

  // ----------------------------------------------------------------- groups

  private collecting(): Group {
    if (this.next) return this.next;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A write the caller never waits for must not become an unhandled rejection.
    done.catch(() => undefined);
    this.next = { chunks: new Map(), strict: false, readers: 0, settled: false, done, resolve, reject };
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
    this.commit(group).then(
      () => group.resolve(),
      (err: unknown) => group.reject(toDiskError(err)),
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
    const tx = this.db.transaction(this.name, 'readwrite', { durability: group.strict ? 'strict' : 'relaxed' });
    const store = tx.store;
    const cs = this.chunkSize;
    const puts: Promise<unknown>[] = [];
    for (const [index, pc] of group.chunks) {
      const buf = pc.buf;
      if (!buf || pc.spans.length === 0) {
        puts.push(store.delete(index)); // discarded whole, nothing written since
        continue;
      }
      // The chunk is assembled in a scratch buffer (the group's own stay as
      // written, for reads that lay them over older data) and cloned by
      // put() at once, so one scratch buffer serves every put.
      if (pc.zeroBase || coversAll(pc.spans, cs)) {
        puts.push(store.put(merge(this.scratch, buf, pc.spans, undefined), index));
        continue;
      }
      // Partial: read the stored chunk once, in this transaction, and merge.
      puts.push(store.get(index).then((old) => store.put(merge(this.scratch, buf, pc.spans, old), index)));
    }
    if (group.chunks.size === 0) puts.push(store.put(new ArrayBuffer(0), SYNC_MARKER));
    // tx.done rejects with the transaction's error (QuotaExceededError…) if any request failed.
    await Promise.all([...puts, tx.done]);
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

  /** Copies the part of stored chunk `index` that overlaps dst (at disk byte `offset`). */
  private place(index: number, value: ArrayBuffer | undefined, offset: number, dst: Uint8Array, cleared = false): void {
    const cs = this.chunkSize;
    const start = index * cs;
    if (!value) {
      if (!cleared) fillSpan(dst, offset, start, start + cs, 0);
      return;
    }
    const bytes = new Uint8Array(value);
    const from = Math.max(offset, start);
    const to = Math.min(offset + dst.length, start + cs);
    if (to <= from) return;
    const stored = Math.max(0, Math.min(to, start + bytes.length) - from);
    if (stored > 0) dst.set(bytes.subarray(from - start, from - start + stored), from - offset);
    if (from + stored < to) dst.fill(0, from + stored - offset, to - offset);
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
  return spans.length === 2 && spans[0] === 0 && spans[1] >= size;
}

/**
 * The chunk to store, assembled in `out` (a whole buffer: IndexedDB stores
 * a view's whole buffer): `buf` inside `spans`, the stored bytes `old` (or
 * zeros where there are none) outside them.
 */
function merge(out: Uint8Array, buf: Uint8Array, spans: number[], old: ArrayBuffer | undefined): ArrayBuffer {
  const kept = old ? Math.min(old.byteLength, out.length) : 0;
  if (old) out.set(new Uint8Array(old, 0, kept));
  out.fill(0, kept);
  for (let i = 0; i < spans.length; i += 2) out.set(buf.subarray(spans[i], spans[i + 1]), spans[i]);
  return out.buffer as ArrayBuffer;
}

/** Zeros (or `value`) in dst where [from, to) of the disk overlaps it. */
function fillSpan(dst: Uint8Array, offset: number, from: number, to: number, value: number): void {
  const a = Math.max(offset, from);
  const b = Math.min(offset + dst.length, to);
  if (b > a) dst.fill(value, a - offset, b - offset);
}
