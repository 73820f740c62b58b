import { type EngineName, type EnginePage, HARNESS_TIMEOUT_MS } from './types';

/** What every adapter shares: the evaluate overloads and waiting for the harness. */
export abstract class BasePage implements EnginePage {
  abstract readonly engine: EngineName;
  readonly errors: string[] = [];

  /** Runs `fn(arg)` in the page. */
  protected abstract run<R, A>(fn: (arg: A) => R | Promise<R>, arg: A | undefined): Promise<R>;
  protected abstract navigate(path: string): Promise<void>;
  protected abstract doReload(): Promise<void>;
  abstract newTab(): Promise<EnginePage>;
  abstract close(): Promise<void>;

  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R> {
    return this.run(fn, arg);
  }

  async goto(path: string): Promise<void> {
    await this.navigate(path);
    await this.waitForHarness();
  }

  async reload(): Promise<void> {
    await this.doReload();
    await this.waitForHarness();
  }

  /** Polls window.harnessReady: the same in every engine. */
  protected async waitForHarness(): Promise<void> {
    const deadline = Date.now() + HARNESS_TIMEOUT_MS;
    let last: unknown;
    for (;;) {
      try {
        if (await this.run(() => window.harnessReady === true, undefined)) return;
      } catch (err) {
        last = err; // the page may still be navigating
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${this.engine}: window.harnessReady not set within ${HARNESS_TIMEOUT_MS} ms` +
            (this.errors.length > 0 ? `; page errors: ${this.errors.join('; ')}` : '') +
            (last ? `; last error: ${String(last)}` : ''),
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
