import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { MemoryStore } from '../src/stores/memory-store';
import { fillFromBlob } from '../src/worker/fill';
import { newBackingOf, openOn, pattern, rejectsWith, sameBytes } from './helpers';

// The worker's side of importDisk for a Blob: the Blob's bytes, in order,
// all-zero 64 KiB grains left unwritten (the thin disk stays thin).

const KiB = 1024;

describe('fillFromBlob', () => {
  it('writes the Blob from offset 0; all-zero grains stay unallocated; progress reaches the size', async () => {
    const size = 5 * 1024 * KiB + 512;
    const image = pattern(size, 21);
    image.fill(0, 64 * KiB, 3 * 64 * KiB); // two whole zero grains
    image.fill(0, 1024 * KiB + 100, 1024 * KiB + 900); // zeros inside a grain: written
    const dev = await openOn(newBackingOf('thin'), { size: 8 * 1024 * KiB, cache: 'writeback' });
    const seen: number[] = [];
    await fillFromBlob(dev, new Blob([image as Uint8Array<ArrayBuffer>]), (b) => seen.push(b));
    expect(seen.at(-1)).toBe(size);
    sameBytes(await dev.read(0, size), image);
    await dev.flush();
    const stats = await dev.stats();
    const grains = Math.ceil(size / (64 * KiB));
    expect(stats.allocatedBytes).toBe((grains - 2) * 64 * KiB);
    await dev.close();
  });

  // More pieces than buffers, over a store that completes writes later
  // (IndexedDB): each buffer is refilled only once its writes are done.
  it.each(['thin', 'idb'] as const)('a Blob of many pieces arrives whole (%s store)', async (kind) => {
    const size = 11 * 1024 * KiB + 4096;
    const image = pattern(size, 5);
    const dev = await openOn(newBackingOf(kind), { size: 12 * 1024 * KiB, cache: 'writeback' });
    await fillFromBlob(dev, new Blob([image as Uint8Array<ArrayBuffer>]), () => undefined);
    await dev.flush();
    sameBytes(await dev.read(0, size), image);
    await dev.close();
  });

  it('a store that fails mid-fill: the fill rejects with its error (no hang), the device goes on', async () => {
    const data = new FullAfter(3 * 1024 * KiB);
    const dev = await BlockDevice.open({ data, meta: new MemoryStore(), size: 16 * 1024 * KiB, cache: 'none' });
    const image = pattern(9 * 1024 * KiB, 9);
    await rejectsWith(
      fillFromBlob(dev, new Blob([image as Uint8Array<ArrayBuffer>]), () => undefined),
      'ENOSPC',
    );
    sameBytes(await dev.read(0, 1024 * KiB), image.subarray(0, 1024 * KiB));
    await dev.close();
  });

  it('a Blob larger than the disk is EINVAL, nothing written', async () => {
    const dev = await openOn(newBackingOf('memory'), { size: 64 * KiB });
    await rejectsWith(
      fillFromBlob(dev, new Blob([new Uint8Array(65 * KiB).fill(1)]), () => undefined),
      'EINVAL',
    );
    expect((await dev.stats()).writes).toBe(0);
    await dev.close();
  });
});

/** A store whose space runs out after `room` bytes written. */
class FullAfter extends MemoryStore {
  private written = 0;
  constructor(private readonly room: number) {
    super();
  }
  override write(offset: number, src: Uint8Array): void {
    if (this.written + src.length > this.room) throw new DiskError('ENOSPC', 'full (test)');
    this.written += src.length;
    super.write(offset, src);
  }
}
