import type { BlockStore } from '../core/store';

export const DEFAULT_DEVICE_CACHE = 16 * 1024 * 1024;

interface Pending {
  offset: number;
  data: Uint8Array;
}

/**
 * The power-loss simulator: a store wrapper that plays a disk's volatile
 * write cache. Writes no sync() has followed stay in worker memory (a
 * bounded device cache; the oldest are destaged to the real store when it
 * is full, as a real disk does), so terminating the worker loses exactly
 * what a real power cut may lose. sync() destages everything in order and
 * then syncs the real store.
 */
export class PowerLossStore implements BlockStore {
  private readonly inner: BlockStore;
  private readonly capacity: number;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private length: number | undefined;

  constructor(inner: BlockStore, deviceCacheBytes = DEFAULT_DEVICE_CACHE) {
    this.inner = inner;
    this.capacity = deviceCacheBytes;
  }

  async read(offset: number, dst: Uint8Array): Promise<void> {
    await this.inner.read(offset, dst);
    const end = offset + dst.length;
    // Newer pending writes overlay the stored bytes, oldest first.
    for (const p of this.pending) {
      const from = Math.max(offset, p.offset);
      const to = Math.min(end, p.offset + p.data.length);
      if (to > from) dst.set(p.data.subarray(from - p.offset, to - p.offset), from - offset);
    }
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    const size = await this.size();
    this.pending.push({ offset, data: src.slice() });
    this.pendingBytes += src.length;
    this.length = Math.max(size, offset + src.length);
    while (this.pendingBytes > this.capacity && this.pending.length > 0) await this.destageOldest();
  }

  async sync(): Promise<void> {
    while (this.pending.length > 0) await this.destageOldest();
    await this.inner.sync();
  }

  async size(): Promise<number> {
    this.length ??= await this.inner.size();
    return this.length;
  }

  async truncate(size: number): Promise<void> {
    // Ordered after every earlier write: destage them, then cut.
    while (this.pending.length > 0) await this.destageOldest();
    await this.inner.truncate(size);
    this.length = size;
  }

  async close(): Promise<void> {
    while (this.pending.length > 0) await this.destageOldest();
    await this.inner.close();
  }

  private async destageOldest(): Promise<void> {
    const p = this.pending[0];
    await this.inner.write(p.offset, p.data);
    this.pending.shift();
    this.pendingBytes -= p.data.length;
  }
}
