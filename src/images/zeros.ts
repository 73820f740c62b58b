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
