import { DiskError } from '../core/errors';
import type { Extent } from '../core/store';

/** Status is asked for this much of the disk at a time: the answer's memory stays bounded. */
export const STATUS_WINDOW = 1 << 30;

/** Whatever answers QEMU's block_status for a disk of `size` bytes (a Disk, a BlockDevice). */
export interface StatusSource {
  readonly size: number;
  blockStatus(offset: number, length: number): Promise<Extent[]>;
}

/** The disk's block status, asked for a window at a time as a reader moves forward. */
export class StatusCursor {
  private runs: Extent[] = [];
  private i = 0;
  constructor(private readonly disk: StatusSource) {}

  /** The run holding `offset` (offsets asked for only grow). */
  async at(offset: number): Promise<Extent> {
    for (let asked = false; ; asked = true) {
      while (this.i < this.runs.length && this.runs[this.i].offset + this.runs[this.i].length <= offset) this.i++;
      const run = this.runs[this.i];
      if (run && run.offset <= offset) return run;
      if (asked) throw new DiskError('EIO', `The disk's block status does not cover byte ${offset}.`);
      this.runs = await this.disk.blockStatus(offset, Math.min(STATUS_WINDOW, this.disk.size - offset));
      this.i = 0;
    }
  }
}
