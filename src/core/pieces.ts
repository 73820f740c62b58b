/**
 * Calls `fn` for each piece of the byte range [offset, offset + length)
 * cut at multiples of `size` (a chunk, a cluster): the piece's index, its
 * offset within that chunk, its offset within the range, and its length.
 */
export function eachPiece(
  offset: number,
  length: number,
  size: number,
  fn: (index: number, within: number, at: number, n: number) => void,
): void {
  for (let at = 0; at < length; ) {
    const pos = offset + at;
    const index = Math.floor(pos / size);
    const within = pos - index * size;
    const n = Math.min(size - within, length - at);
    fn(index, within, at, n);
    at += n;
  }
}
