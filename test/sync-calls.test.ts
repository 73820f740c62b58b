import { describe, expect, it } from 'vitest';
import { BlockDevice } from '../src/core/block-device';
import { DiskError } from '../src/core/errors';
import { drive, driveNow, type Steps, wait } from '../src/core/steps';
import { ForwardingStore, type MaybePromise } from '../src/core/store';
import { newBackingOf, openOn, pattern, sameBytes } from './helpers';

// The core's synchronous calls (BlockDevice.readIntoSync…): the same steps
// as the async API, run to the end in the call. The property test of
// block-device.property.test.ts drives them against the model; these are
// the rules around them.

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DiskError ? err.code : String(err);
  }
  return undefined;
}

describe('steps', () => {
  function* steps(log: string[], first: unknown, second: unknown): Steps<number> {
    try {
      const a = yield* wait(first as number | Promise<number>);
      log.push(`a=${a}`);
      const b = yield* wait(second as number | Promise<number>);
      log.push(`b=${b}`);
      return a + b;
    } catch (err) {
      log.push(`caught ${(err as Error).message}`);
      return -1;
    } finally {
      log.push('finally');
    }
  }

  it('drive completes in the call when nothing waited for is a promise', () => {
    const log: string[] = [];
    expect(drive(steps(log, 1, 2))).toBe(3);
    expect(log).toEqual(['a=1', 'b=2', 'finally']);
  });

  it('drive goes on asynchronously from the first promise; a rejection is thrown where the step waited', async () => {
    const log: string[] = [];
    const r = drive(steps(log, 1, Promise.resolve(5)));
    expect(r).toBeInstanceOf(Promise);
    expect(await r).toBe(6);
    const failed: string[] = [];
    expect(await drive(steps(failed, Promise.reject(new Error('no')), 2))).toBe(-1);
    expect(failed).toEqual(['caught no', 'finally']);
  });

  it('driveNow refuses a promise: EIO, the steps ended (finally ran)', () => {
    const log: string[] = [];
    expect(codeOf(() => driveNow(steps(log, 1, Promise.resolve(2))))).toBe('EIO');
    expect(log).toEqual(['a=1', 'finally']);
  });
});

describe('synchronous calls of a device', () => {
  it('see what async calls did, and the async calls see theirs', async () => {
    const d = await openOn(newBackingOf('thin'), { size: 1 << 20 }, { synchronous: true });
    const a = pattern(10_000, 1);
    await d.write(100, a);
    const got = new Uint8Array(10_000);
    d.readIntoSync(100, got);
    sameBytes(got, a);
    const b = pattern(5000, 2);
    d.writeSync(20_000, b);
    d.flushSync();
    sameBytes(await d.read(20_000, 5000), b);
    await d.close();
  });

  it('EBUSY while async requests are queued (order would be lost); fine once they settled', async () => {
    const d = await openOn(newBackingOf('memory'), { size: 1 << 20 }, { synchronous: true });
    const pending = d.write(0, pattern(4096, 3));
    expect(codeOf(() => d.flushSync())).toBe('EBUSY');
    await pending;
    expect(codeOf(() => d.flushSync())).toBeUndefined();
    await d.close();
  });

  it('validate as the async calls do, and ECLOSED once closed', async () => {
    const d = await openOn(newBackingOf('memory'), { size: 1 << 20 }, { synchronous: true });
    expect(codeOf(() => d.writeSync(-1, new Uint8Array(1)))).toBe('EINVAL');
    expect(codeOf(() => d.readIntoSync((1 << 20) - 1, new Uint8Array(2)))).toBe('ERANGE');
    await d.close();
    expect(codeOf(() => d.flushSync())).toBe('ECLOSED');
  });

  it('over a store that completes later (IndexedDB): EIO, and the device still answers async calls', async () => {
    const d = await openOn(newBackingOf('idb'), { size: 1 << 20, cache: 'none' });
    expect(codeOf(() => d.writeSync(0, pattern(4096, 4)))).toBe('EIO');
    await d.write(0, pattern(4096, 5));
    sameBytes(await d.read(0, 4096), pattern(4096, 5));
    await d.close();
  });
});

describe('a synchronous write on a disk opened without room for its unclean flag', () => {
  it('retries the flag in the call: ENOSPC while the quota is full, then the write goes through', async () => {
    const b = newBackingOf('memory');
    const first = await openOn(b, { size: 1 << 20 }, { synchronous: true });
    first.writeSync(0, pattern(512, 1));
    await first.close();
    const stores = await b.open();
    const meta = new QuotaMeta(stores.meta);
    meta.full = true;
    const d = await BlockDevice.open({ data: stores.data, meta });
    expect(codeOf(() => d.writeSync(0, pattern(512, 2)))).toBe('ENOSPC');
    sameBytes(readSync(d, 0, 512), pattern(512, 1), 'the refused write changed nothing');
    meta.full = false;
    d.writeSync(0, pattern(512, 2));
    d.flushSync();
    sameBytes(readSync(d, 0, 512), pattern(512, 2));
    await d.close();
  });
});

function readSync(d: BlockDevice, offset: number, length: number): Uint8Array {
  const got = new Uint8Array(length);
  d.readIntoSync(offset, got);
  return got;
}

/** A metadata store whose writes fail with ENOSPC while `full`. */
class QuotaMeta extends ForwardingStore {
  full = false;
  override write(offset: number, src: Uint8Array): MaybePromise {
    if (this.full) throw new DiskError('ENOSPC', 'full (test)');
    return super.write(offset, src);
  }
}
