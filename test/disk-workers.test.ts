import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// openDisk's workers: a spare started when a disk closes is what the next
// open takes; unused, it is ended; one that failed to load is never handed out.

class FakeWorker {
  static made: FakeWorker[] = [];
  terminated = false;
  onerror: ((ev: { preventDefault(): void }) => void) | null = null;
  constructor(
    readonly url: URL,
    readonly opts: { type: string; name: string },
  ) {
    FakeWorker.made.push(this);
  }
  terminate(): void {
    this.terminated = true;
  }
}

async function fresh() {
  vi.resetModules();
  return import('../src/client/disk-workers');
}

beforeEach(() => {
  FakeWorker.made = [];
  vi.stubGlobal('Worker', FakeWorker);
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('disk workers', () => {
  it('without a spare, a new module worker for each open', async () => {
    const { takeWorker } = await fresh();
    const a = takeWorker();
    const b = takeWorker();
    expect(a).not.toBe(b);
    expect(FakeWorker.made).toHaveLength(2);
    expect(FakeWorker.made[0].opts).toEqual({ type: 'module', name: 'webdisk' });
    expect(FakeWorker.made[0].url.pathname).toMatch(/disk-worker\.ts$/);
  });

  it('the spare kept after a close is the next open’s worker; only one is kept', async () => {
    const { keepSpare, takeWorker } = await fresh();
    keepSpare();
    keepSpare();
    expect(FakeWorker.made).toHaveLength(1);
    const spare = FakeWorker.made[0];
    expect(takeWorker()).toBe(spare);
    expect(spare.onerror).toBeNull(); // openDisk's own handler goes there
    expect(FakeWorker.made).toHaveLength(1);
    expect(takeWorker()).not.toBe(spare); // taken: the next open starts its own
  });

  it('a spare unused for SPARE_IDLE_MS is ended, and not handed out', async () => {
    const { keepSpare, takeWorker, SPARE_IDLE_MS } = await fresh();
    keepSpare();
    const spare = FakeWorker.made[0];
    vi.advanceTimersByTime(SPARE_IDLE_MS - 1);
    expect(spare.terminated).toBe(false);
    vi.advanceTimersByTime(1);
    expect(spare.terminated).toBe(true);
    expect(takeWorker()).not.toBe(spare);
  });

  it('a taken spare is not ended by its idle timer', async () => {
    const { keepSpare, takeWorker, SPARE_IDLE_MS } = await fresh();
    keepSpare();
    const w = takeWorker() as unknown as FakeWorker;
    vi.advanceTimersByTime(2 * SPARE_IDLE_MS);
    expect(w.terminated).toBe(false);
  });

  it('a spare whose script failed to load is dropped: the next open starts a new worker', async () => {
    const { keepSpare, takeWorker } = await fresh();
    keepSpare();
    const spare = FakeWorker.made[0];
    const prevent = vi.fn();
    spare.onerror?.({ preventDefault: prevent });
    expect(prevent).toHaveBeenCalled();
    expect(spare.terminated).toBe(true);
    expect(takeWorker()).not.toBe(spare);
    keepSpare(); // and a new spare can be kept
    expect(FakeWorker.made).toHaveLength(3);
  });
});
