import type { EnginePage } from './engines';
import { expect } from './fixtures';

/** How a call settled, as plain data a test can assert on in Node. */
export interface Outcome {
  ok: boolean;
  value?: unknown;
  /** Did not settle within the guard time: a hang. */
  hung?: boolean;
  /** The call threw synchronously instead of returning a rejected promise. */
  threwSync?: boolean;
  name?: string;
  code?: string;
  message?: string;
  isDiskError?: boolean;
}

/** The helpers installPageHelpers puts on window.t. */
export interface PageHelpers {
  /** Runs fn and describes how its promise settled; reports a hang instead of waiting forever. */
  attempt(fn: () => unknown, ms?: number): Promise<Outcome>;
  /** Deterministic numbers in [0, 1). */
  rng(seed: number): () => number;
  /** Deterministic bytes, never zero (so zeros always mean "never written" or "discarded"). */
  pattern(len: number, seed: number): Uint8Array;
  /** '' if equal, else where they first differ. */
  diff(actual: Uint8Array, expected: Uint8Array): string;
  /** Size of OPFS webdisk/<name>/data.img (the OPFS backend's layout). */
  dataFileSize(name: string): Promise<number>;
  /** Overwrites part of OPFS webdisk/<name>/meta.bin (the OPFS backend's layout). */
  overwriteMeta(name: string, position: number, bytes: Uint8Array<ArrayBuffer>): Promise<void>;
  /** Removes OPFS webdisk/<name>/<file> (to make a disk of an older layout). */
  removeFile(name: string, file: string): Promise<void>;
}

/** Installs `window.t` (PageHelpers), small helpers the specs use inside the page. */
export async function installPageHelpers(page: EnginePage): Promise<void> {
  await page.evaluate(() => {
    const rejection = (e: unknown): Outcome => {
      const err = (typeof e === 'object' && e !== null ? e : {}) as {
        name?: unknown;
        code?: unknown;
        message?: unknown;
      };
      return {
        ok: false,
        name: err.name === undefined ? undefined : String(err.name),
        code: err.code === undefined ? undefined : String(err.code),
        message: String(err.message ?? ''),
        isDiskError: e instanceof window.webdisk.DiskError,
      };
    };
    const rng = (seed: number) => {
      let a = seed >>> 0;
      return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let x = Math.imul(a ^ (a >>> 15), a | 1);
        x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
        return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
      };
    };
    const diskDir = async (name: string) =>
      (await (await navigator.storage.getDirectory()).getDirectoryHandle('webdisk')).getDirectoryHandle(name);
    window.t = {
      async attempt(fn: () => unknown, ms = 10_000): Promise<Outcome> {
        let p: unknown;
        try {
          p = fn();
        } catch (e) {
          return { ...rejection(e), threwSync: true };
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<Outcome>((r) => {
          timer = setTimeout(() => r({ ok: false, hung: true }), ms);
        });
        const done = Promise.resolve(p).then(
          (value): Outcome => ({
            ok: true,
            value: value instanceof Uint8Array ? Array.from(value.subarray(0, 16)) : value,
          }),
          rejection,
        );
        try {
          return await Promise.race([done, hung]);
        } finally {
          clearTimeout(timer);
        }
      },
      rng,
      pattern(len: number, seed: number) {
        const r = rng(seed);
        const out = new Uint8Array(len);
        for (let i = 0; i < len; i++) out[i] = 1 + Math.floor(r() * 255);
        return out;
      },
      diff(actual: Uint8Array, expected: Uint8Array) {
        if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
        for (let i = 0; i < actual.length; i++) {
          if (actual[i] !== expected[i]) return `byte ${i}: ${actual[i]}, expected ${expected[i]}`;
        }
        return '';
      },
      async dataFileSize(name: string) {
        return (await (await (await diskDir(name)).getFileHandle('data.img')).getFile()).size;
      },
      async removeFile(name: string, file: string) {
        await (await diskDir(name)).removeEntry(file);
      },
      async overwriteMeta(name: string, position: number, bytes: Uint8Array<ArrayBuffer>) {
        const handle = await (await diskDir(name)).getFileHandle('meta.bin');
        const out = await handle.createWritable({ keepExistingData: true });
        await out.write({ type: 'write', position, data: bytes });
        await out.close();
      },
    };
  });
}

/** The outcome is a rejection with a DiskError of `code` and a message a person can read. */
export function expectDiskError(o: Outcome, code: string, what = ''): void {
  expect(o, what).toMatchObject({ ok: false, name: 'DiskError', code, isDiskError: true });
  expect(o.threwSync, `${what}: must reject, not throw`).toBeFalsy();
  expect(o.message?.length ?? 0, `${what}: message`).toBeGreaterThan(0);
}

/** Polls `fn(arg)` in the page until it returns true; fails after `timeoutMs`, naming `what`. */
export async function poll<A>(
  page: EnginePage,
  fn: (arg: A) => boolean,
  arg: A,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(fn, arg))) {
    if (Date.now() > deadline) throw new Error(`${page.engine}: waited ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
