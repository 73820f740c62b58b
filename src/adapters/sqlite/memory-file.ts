/**
 * SQLite's temporary files (temp databases, statement journals, anything
 * opened without a name or to be deleted on close) live in memory: they
 * never need to survive a crash, so a disk worker for each would be waste.
 */
export class MemoryFile {
  private bytes = new Uint8Array(0);
  length = 0;

  /** The bytes of [offset, offset + n) below the length (fewer at the end), as a view: copy them out at once. */
  read(offset: number, n: number): Uint8Array {
    const avail = Math.max(0, Math.min(n, this.length - offset));
    return this.bytes.subarray(offset, offset + avail);
  }

  write(data: Uint8Array, offset: number): void {
    const end = offset + data.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(data, offset);
    this.length = Math.max(this.length, end);
  }

  truncate(size: number): void {
    if (size < this.length) this.bytes.fill(0, size, this.length);
    else if (size > this.bytes.length) this.write(new Uint8Array(0), size);
    this.length = size;
  }
}
