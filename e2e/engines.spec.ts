// The engine adapter itself (e2e/engines/): what every spec relies on
// behaves the same in Chromium, Firefox and WebKit. Needs no disk.
import { expect, test } from './fixtures';
import { poll } from './helpers';

test('evaluate: arguments and results round-trip as data, with and without an argument', async ({ harness }) => {
  const arg = { n: 1, s: 'x', list: [1, 'two', null, true], nested: { nan: Number.NaN, inf: -Infinity, zero: -0 } };
  expect(await harness.evaluate((a) => a, arg)).toEqual(arg);
  expect(await harness.evaluate(() => [typeof window.webdisk.openDisk, document.title])).toEqual([
    'function',
    'webdisk e2e harness',
  ]);
  expect(await harness.evaluate(async (ms) => new Promise((r) => setTimeout(() => r(ms * 2), ms)), 20)).toBe(40);
  expect(await harness.evaluate(() => ({ u: undefined, a: [undefined, 1] }))).toEqual({
    u: undefined,
    a: [undefined, 1],
  });
});

test('evaluate: an exception in the page rejects with its message', async ({ harness }) => {
  await expect(
    harness.evaluate(() => {
      throw new TypeError('thrown in the page');
    }),
  ).rejects.toThrow(/thrown in the page/);
  await expect(harness.evaluate(async () => Promise.reject(new RangeError('rejected in the page')))).rejects.toThrow(
    /rejected in the page/,
  );
  // A DiskError keeps its message too.
  await expect(
    harness.evaluate(() => window.webdisk.openDisk({ name: 'a/b', size: 512, backend: 'memory' })),
  ).rejects.toThrow(/a\/b/);
});

test('errors: an uncaught exception and an unhandled rejection in the page are reported', async ({ harness }) => {
  await harness.evaluate(() => {
    setTimeout(() => {
      throw new Error('uncaught in a timer');
    });
    setTimeout(() => {
      Promise.reject(new Error('unhandled rejection in a timer'));
    });
  });
  // WebKit's adapter collects them on its next call into the page: poll.
  await poll(harness, () => true, undefined, 'the page to run its timer', 5000);
  const deadline = Date.now() + 5000;
  while (harness.errors.length < 2 && Date.now() < deadline) await harness.evaluate(() => 0);
  expect(harness.errors.join('\n')).toMatch(/uncaught in a timer/);
  expect(harness.errors.join('\n')).toMatch(/unhandled rejection in a timer/);
  harness.errors.length = 0; // seen: not a failure of this test
});

test('reload: the harness is ready again, sessionStorage kept, page globals new', async ({ harness }) => {
  await harness.evaluate(() => {
    sessionStorage.setItem('adapter', 'kept');
    window.reloadProgress = { acks: 1, inFlight: 1 };
  });
  await harness.reload();
  expect(
    await harness.evaluate(() => ({
      ready: window.harnessReady,
      stored: sessionStorage.getItem('adapter'),
      progress: window.reloadProgress ?? null,
    })),
  ).toEqual({ ready: true, stored: 'kept', progress: null });
});

test('newTab: a second tab of the same profile shares locks and localStorage, not the page', async ({ harness }) => {
  await harness.evaluate(() => {
    localStorage.setItem('adapter', 'shared');
    // Hold a Web Lock (what makes a disk EBUSY in another tab) until told to let go.
    navigator.locks.request('adapter-lock', () => new Promise<void>((r) => setTimeout(r, 60_000)));
  });
  const tab = await harness.newTab();
  try {
    const seen = await tab.evaluate(async () => ({
      ready: window.harnessReady,
      local: localStorage.getItem('adapter'),
      lockFree: await navigator.locks.request('adapter-lock', { ifAvailable: true }, (lock) => lock !== null),
    }));
    expect(seen).toEqual({ ready: true, local: 'shared', lockFree: false });
    expect(await tab.evaluate(() => 6 * 7)).toBe(42);
    expect(await harness.evaluate(() => localStorage.getItem('adapter'))).toBe('shared');
  } finally {
    await tab.close();
  }
  expect(tab.errors).toEqual([]);
});
