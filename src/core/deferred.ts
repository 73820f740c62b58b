/** A promise with its settle functions, for completions that many callers share (a commit, a group). */
export interface Deferred {
  done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * A new Deferred. Its rejection is handled once already: work a caller
 * never waits for (a write-back, a commit) must not become an unhandled
 * rejection; every caller that does wait still sees it.
 */
export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined);
  return { done, resolve, reject };
}
