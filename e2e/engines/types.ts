// One small interface for "a browser page to run code in", the same for
// every engine the e2e suites run in. The specs use it instead of
// Playwright's Page wherever they only need a page to evaluate code in.
import type { EngineName } from '../../scripts/engines.mjs';

export type { EngineName };

/** A page of one engine, showing the harness (or another page of the static server). */
export interface EnginePage {
  readonly engine: EngineName;
  /**
   * Runs `fn` in the page (sent as source: it must not close over anything
   * of the test) and returns its result. Arguments and results travel as
   * JSON-able data (plus undefined, NaN, ±Infinity); an exception thrown in
   * the page rejects with its message.
   */
  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Loads `path` (relative to the static server) and waits for window.harnessReady. */
  goto(path: string): Promise<void>;
  /** Reloads the page and waits for window.harnessReady again. */
  reload(): Promise<void>;
  /** A second tab of the same profile/session, showing the same page (harness ready). */
  newTab(): Promise<EnginePage>;
  /** Uncaught errors (and unhandled rejections) of the page so far. */
  readonly errors: string[];
  close(): Promise<void>;
}

/** A running engine: pages come from it. */
export interface EngineBrowser {
  readonly engine: EngineName;
  /** The browser's name and version, e.g. "Firefox 153.8.0". */
  readonly version: string;
  /**
   * A new page, not yet navigated (call goto). With `isolated`, each page
   * gets storage of its own (an empty OPFS and IndexedDB); without, every
   * page shares the browser's one on-disk profile.
   */
  newPage(): Promise<EnginePage>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** The static server, e.g. http://127.0.0.1:5174. */
  baseURL: string;
  /**
   * true: every newPage() gets fresh storage (a new incognito context in
   * Chromium, a new user context in Firefox, a new session in WebKit) —
   * for tests that must not see each other's disks. false: one persistent
   * profile on disk, shared by all pages (crash suites, reloads).
   */
  isolated: boolean;
  /** Firefox only: preferences for the profile (e.g. a storage quota); ignored by the other engines. */
  firefoxPrefs?: Record<string, string | number | boolean>;
}

/** How long goto/reload wait for window.harnessReady. */
export const HARNESS_TIMEOUT_MS = 30_000;
