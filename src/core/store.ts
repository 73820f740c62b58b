/**
 * Where bytes live: the one narrow interface every backend implements
 * (OPFS, IndexedDB, memory) and every wrapper too (power-loss simulator).
 * A store knows nothing of cache modes: the block core decides when sync()
 * runs. Methods may complete synchronously (OPFS) or return a promise
 * (IndexedDB); the core awaits either.
 */
export interface BlockStore {
  /** Fills `dst` from byte `offset`; bytes past the stored end read as zeros. */
  read(offset: number, dst: Uint8Array): void | Promise<void>;
  /** Writes all of `src` at byte `offset`, growing the store if needed. */
  write(offset: number, src: Uint8Array): void | Promise<void>;
  /** Durability barrier: every write before it survives a power loss. */
  sync(): void | Promise<void>;
  /** Bytes stored (the highest written offset, or less after truncate). */
  size(): number | Promise<number>;
  /** Shrinks (or grows with zeros) to `size` bytes. */
  truncate(size: number): void | Promise<void>;
  close(): void | Promise<void>;
}
