/** One stretch of a StagingArea, held until freed. */
export interface Stretch {
  readonly end: number;
  free: boolean;
}

/**
 * Shared memory for the copies of writes that wait for room in the ring:
 * stretches are taken in order and freed in any order (answers may come
 * out of order); the space comes back once every earlier stretch is free,
 * as the ring's own arena does. The worker reads a staged write from here
 * when its request names the area: one copy on the page, not two.
 */
export class StagingArea {
  /** Monotonic positions: taken up to head, freed up to tail. */
  private head = 0;
  private tail = 0;
  private readonly held: Stretch[] = [];

  constructor(readonly bytes: Uint8Array) {}

  /** A copy of `data` in the area and its stretch; undefined when it does not fit now. */
  take(data: Uint8Array): { view: Uint8Array; stretch: Stretch } | undefined {
    const size = this.bytes.length;
    if (this.held.length === 0) this.head = this.tail = 0;
    let start = this.head;
    const within = start % size;
    // A stretch never wraps around the end: skip to the start.
    if (within + data.length > size) start += size - within;
    if (start + data.length - this.tail > size) return undefined;
    const pos = start % size;
    this.bytes.set(data, pos);
    this.head = start + data.length;
    const stretch: Stretch = { end: this.head, free: false };
    this.held.push(stretch);
    return { view: this.bytes.subarray(pos, pos + data.length), stretch };
  }

  free(stretch: Stretch): void {
    stretch.free = true;
    while (this.held.length > 0 && this.held[0].free) this.tail = (this.held.shift() as Stretch).end;
  }
}
