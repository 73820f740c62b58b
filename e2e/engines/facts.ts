import type { EngineName } from './types';

/**
 * What each engine offers a cross-origin isolated page on this machine
 * (Debian's builds), checked by e2e/smoke.spec.ts so a change shows up.
 */
export const ENGINE_FACTS: Record<
  EngineName,
  {
    sharedArrayBuffer: boolean;
    opfs: boolean;
    /**
     * A worker terminated mid-way (a page reload; rarely even after
     * webdisk's power cut has aborted its transactions and closed its
     * connection) can leave an IndexedDB transaction open, and a later
     * openDisk or deleteDisk of that disk gives EBUSY after waiting 10 s
     * (before the open's probe, its first read waited forever).
     */
    idbOutlivesKilledWorker: boolean;
  }
> = {
  chromium: { sharedArrayBuffer: true, opfs: true, idbOutlivesKilledWorker: false },
  firefox: { sharedArrayBuffer: true, opfs: true, idbOutlivesKilledWorker: false },
  // WebKitGTK 2.50 in MiniBrowser: crossOriginIsolated is true, yet
  // SharedArrayBuffer is undefined (JavaScriptCore's useSharedArrayBuffer
  // option is off unless JSC_useSharedArrayBuffer=1 is in the environment),
  // so webdisk talks to its worker over batched messages. No OPFS:
  // navigator.storage.getDirectory is undefined (the FileSystem and
  // StorageAPI features are off by default).
  webkit: { sharedArrayBuffer: false, opfs: false, idbOutlivesKilledWorker: true },
};
