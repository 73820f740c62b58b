import { BlockDevice, type DeviceOptions } from '../src/core/block-device';
import { MemoryStore } from '../src/stores/memory-store';

/** A disk's two stores, kept across sessions as OPFS files would be. */
export interface Backing {
  data: MemoryStore;
  meta: MemoryStore;
}

export function newBacking(): Backing {
  return { data: new MemoryStore(), meta: new MemoryStore() };
}

/** Opens a device over (possibly reused) memory stores; reopening keeps data. */
export function openOn(b: Backing, opts: Omit<DeviceOptions, 'data' | 'meta'> = {}): Promise<BlockDevice> {
  // A closed MemoryStore keeps its bytes: "reopen" by reusing it.
  b.data.closed = false;
  b.meta.closed = false;
  return BlockDevice.open({ data: b.data, meta: b.meta, ...opts });
}

/** Deterministic bytes for a write: distinct per (seed, index). */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string };
    if (e.name !== 'DiskError' || e.code !== code || !e.message) {
      throw new Error(`expected DiskError ${code}, got ${e.name} ${e.code}: ${e.message}`);
    }
    return;
  }
  throw new Error(`expected DiskError ${code}, but it resolved`);
}

/** Byte-array equality that reports the first difference (toEqual on MiBs is slow and unreadable). */
export function sameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: first difference at byte ${i}: ${actual[i]} instead of ${expected[i]}`);
    }
  }
}
