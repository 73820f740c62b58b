/** All-zero stretches of this size are not written by an import: they stay unallocated (thin). */
export const ZERO_GRAIN = 64 * 1024;

/** True if bytes[from, to) are all zero: a word at a time where aligned. */
export function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to && (bytes.byteOffset + i) % 4 !== 0) if (bytes[i++] !== 0) return false;
  const words = Math.floor((to - i) / 4);
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let k = 0; k < words; k++) if (w[k] !== 0) return false;
    i += words * 4;
  }
  for (; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The runs [from, to) of `bytes` (at disk offset `offset`) that hold data,
 * in grains of `grain` bytes on the disk's grid: an all-zero grain is left
 * out, so a skipped grain is a whole thin cluster that stays unallocated.
 */
export function* dataRuns(offset: number, bytes: Uint8Array, grain: number): Generator<[number, number]> {
  let from = -1;
  for (let at = 0; at < bytes.length; ) {
    const end = Math.min(bytes.length, at + grain - ((offset + at) % grain));
    if (!isZero(bytes, at, end)) {
      if (from < 0) from = at;
    } else if (from >= 0) {
      yield [from, at];
      from = -1;
    }
    at = end;
  }
  if (from >= 0) yield [from, bytes.length];
}
