import { pushRun } from '../core/extents';
import { eachPiece } from '../core/pieces';
import type { BlockStore, Extent } from '../core/store';

/** Default allocation unit: a large sparse disk costs only the chunks written. */
export const MEMORY_CHUNK = 64 * 1024;

/**
 * Bytes in memory, in fixed-size chunks allocated as written and dropped
 * when discarded whole. Synchronous and volatile: the unit-test store,
 * the `memory` backend, and the fast baseline of the benchmark.
 */
export class MemoryStore implements BlockStore {
  readonly chunkSize: number;
  private readonly chunks = new Map<number, Uint8Array>();
  /** Counters a test can read to check what reached the store. */
  syncCount = 0;
  closed = false;

  /** Tests set it to have the core merge write-backs as over OPFS (see BlockStore). */
  readonly mergeGap: number | undefined;

  constructor(chunkSize = MEMORY_CHUNK, opts: { mergeGap?: number } = {}) {
    this.chunkSize = chunkSize;
    this.mergeGap = opts.mergeGap;
  }

  read(offset: number, dst: Uint8Array): void {
    this.eachChunk(offset, dst.length, (index, within, done, n) => {
      const chunk = this.chunks.get(index);
      if (chunk) dst.set(chunk.subarray(within, within + n), done);
      else dst.fill(0, done, done + n);
    });
  }

  write(offset: number, src: Uint8Array): void {
    this.eachChunk(offset, src.length, (index, within, done, n) => {
      let chunk = this.chunks.get(index);
      if (!chunk) {
        chunk = new Uint8Array(this.chunkSize);
        this.chunks.set(index, chunk);
      }
      chunk.set(src.subarray(done, done + n), within);
    });
  }

  /** Whole chunks are dropped; the covered part of a partial one is zeroed. */
  discard(offset: number, length: number): void {
    this.eachChunk(offset, length, (index, within, _done, n) => {
      if (n === this.chunkSize) this.chunks.delete(index);
      else this.chunks.get(index)?.fill(0, within, within + n);
    });
  }

  /** A chunk held is 'data' (it may hold zeros); one never written or discarded whole is 'zero'. */
  blockStatus(offset: number, length: number): Extent[] {
    const out: Extent[] = [];
    this.eachChunk(offset, length, (index, _within, done, n) => {
      pushRun(out, offset + done, n, this.chunks.has(index) ? 'data' : 'zero');
    });
    return out;
  }

  sync(): void {
    this.syncCount++;
  }

  close(): void {
    this.closed = true;
  }

  /** The end of the highest chunk held. */
  byteLength(): number {
    let last = -1;
    for (const index of this.chunks.keys()) if (index > last) last = index;
    return (last + 1) * this.chunkSize;
  }

  allocatedBytes(): number {
    return this.chunks.size * this.chunkSize;
  }

  /** Calls fn for each chunk piece of [offset, offset + length). */
  private eachChunk(
    offset: number,
    length: number,
    fn: (index: number, within: number, done: number, n: number) => void,
  ): void {
    eachPiece(offset, length, this.chunkSize, fn);
  }
}
