/**
 * Seeded randomness for workloads and their verification: a write's bytes
 * are a function of its seed, so a log of (offset, length, seed) is enough
 * to know what a block should hold, and a failing run replays from its seed.
 */

/** mulberry32: small, fast, good enough for test data and workloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The bytes a write with this seed carries; never all zeros for length ≥ 4. */
export function patternBytes(length: number, seed: number, into?: Uint8Array): Uint8Array {
  const out = into ?? new Uint8Array(length);
  let x = (Math.imul(seed >>> 0, 2654435761) ^ 0x9e3779b9) >>> 0 || 1;
  let i = 0;
  const words = length >> 2;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let w = 0; w < words; w++, i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(i, x >>> 0, true);
  }
  for (; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
