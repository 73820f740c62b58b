import { DiskError } from './errors';
import type { MaybePromise } from './store';

/**
 * The block core's work, written once for two kinds of caller: a
 * generator that yields each value it waits for (a store call's result,
 * which a synchronous store gives at once and an asynchronous one as a
 * promise). `drive` runs it for the async API, awaiting only real promises;
 * `driveNow` runs it to the end in the call, for a caller that cannot wait
 * (wa-sqlite's sync build), and refuses a promise.
 */
export type Steps<T = void> = Generator<unknown, T, unknown>;

/** Waits for `value` inside steps: `const x = yield* wait(p)`. */
export function* wait<T>(value: MaybePromise<T>): Generator<unknown, T, unknown> {
  return (yield value) as T;
}

/** Runs steps; completes in the call while nothing they wait for is a promise. */
export function drive<T>(steps: Steps<T>): MaybePromise<T> {
  let next = steps.next();
  while (!next.done) {
    if (next.value instanceof Promise) return driveFrom(steps, next.value);
    next = steps.next(next.value);
  }
  return next.value;
}

async function driveFrom<T>(steps: Steps<T>, pending: Promise<unknown>): Promise<T> {
  let waiting = pending;
  for (;;) {
    let next: IteratorResult<unknown, T>;
    let value: unknown;
    let failure: { error: unknown } | undefined;
    try {
      value = await waiting;
    } catch (error) {
      failure = { error };
    }
    // What the step waited for failed: the step sees the error where it waited, as after an await.
    next = failure ? steps.throw(failure.error) : steps.next(value);
    while (!next.done && !(next.value instanceof Promise)) next = steps.next(next.value);
    if (next.done) return next.value;
    waiting = next.value as Promise<unknown>;
  }
}

/**
 * Runs steps to the end in the call. A step that has to wait for a
 * promise cannot go on here: the steps are ended (their `finally` blocks
 * run) and EIO thrown — the stores of a disk driven this way must all be
 * synchronous.
 */
export function driveNow<T>(steps: Steps<T>): T {
  let next = steps.next();
  while (!next.done) {
    if (next.value instanceof Promise) {
      next.value.catch(() => undefined);
      steps.return(undefined as T);
      throw new DiskError(
        'EIO',
        'A synchronous call met a store that completes later: synchronous calls need a disk whose stores are all synchronous (OPFS or memory, no overlay).',
      );
    }
    next = steps.next(next.value);
  }
  return next.value;
}
