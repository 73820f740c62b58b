// The globals the harness page (e2e/pages/harness.html) and the specs put on
// window, typed once for every function the specs run in a page.
import type * as Webdisk from '../src/index';
import type { PageHelpers } from './helpers';

declare global {
  interface Window {
    /** The built library (dist/webdisk.js); openDisk defaults `backend` to the page's ?backend=. */
    webdisk: typeof Webdisk;
    /** The specs' helpers in the page (installPageHelpers). */
    t: PageHelpers;
    /** Set by the harness once window.webdisk is there. */
    harnessReady?: boolean;
    /** Uncaught errors and unhandled rejections, collected by the harness (the WebKit adapter reads them). */
    harnessErrors?: string[];
    /** errors.spec.ts: a disk kept open across evaluate calls. */
    busyDisk?: Webdisk.Disk;
    /** power-loss.spec.ts: how far the workload a reload interrupts has got. */
    reloadProgress?: { acks: number; inFlight: number };
  }
}
