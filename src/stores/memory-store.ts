import type { BlockStore } from '../core/store';

/**
 * Bytes in memory, grown in chunks as written, so a large sparse disk
 * costs only what was written. Synchronous and volatile: the unit-test
 * store, the `memory` backend, and the fast baseline of the benchmark.
 */
const CHUNK = 1024 * 1024;

export class MemoryStore implements BlockStore {
  private readonly chunks = new Map<number, Uint8Array>();
  private length = 0;
  /** Counters a test can read to check what reached the store. */
  syncCount = 0;
  closed = false;

  read(offset: number, dst: Uint8Array): void {
    this.eachChunk(offset, dst.length, (index, within, done, n) => {
      const pos = offset + done;
      const chunk = pos < this.length ? this.chunks.get(index) : undefined;
      // Bytes past the logical end read as zeros even inside a chunk.
      const valid = chunk ? Math.max(0, Math.min(n, this.length - pos)) : 0;
      if (chunk) dst.set(chunk.subarray(within, within + valid), done);
      if (valid < n) dst.fill(0, done + valid, done + n);
    });
  }

  write(offset: number, src: Uint8Array): void {
    this.eachChunk(offset, src.length, (index, within, done, n) => {
      let chunk = this.chunks.get(index);
      if (!chunk) {
        chunk = new Uint8Array(CHUNK);
        this.chunks.set(index, chunk);
      }
      chunk.set(src.subarray(done, done + n), within);
    });
    this.length = Math.max(this.length, offset + src.length);
  }

  /** Calls fn for each chunk piece of [offset, offset + length). */
  private eachChunk(
    offset: number,
    length: number,
    fn: (index: number, within: number, done: number, n: number) => void,
  ): void {
    for (let done = 0; done < length; ) {
      const pos = offset + done;
      const index = Math.floor(pos / CHUNK);
      const within = pos - index * CHUNK;
      const n = Math.min(CHUNK - within, length - done);
      fn(index, within, done, n);
      done += n;
    }
  }

  sync(): void {
    this.syncCount++;
  }

  size(): number {
    return this.length;
  }

  truncate(size: number): void {
    if (size < this.length) {
      // Zero the cut part of the last kept chunk and drop the rest, so a
      // later growth reads zeros there.
      const lastKept = Math.floor((size - 1) / CHUNK);
      for (const index of [...this.chunks.keys()]) if (index > lastKept) this.chunks.delete(index);
      const chunk = this.chunks.get(lastKept);
      if (chunk && size > 0) chunk.fill(0, size - lastKept * CHUNK);
      if (size === 0) this.chunks.clear();
    }
    this.length = size;
  }

  close(): void {
    this.closed = true;
  }

  /** Bytes of memory held (for tests of bounded memory). */
  get allocatedBytes(): number {
    return this.chunks.size * CHUNK;
  }
}
