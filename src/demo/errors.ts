import { type BackendChoice, DiskError, type PersistentBackend } from '../index';
import { BACKEND_NAME } from './copy';

/** A way out the page can take for the user: a button beside the error. */
export type Remedy =
  /** Open a volatile memory disk: nothing persistent works here. */
  | 'use-memory'
  /** Retry on IndexedDB: OPFS, asked for by name, is missing. */
  | 'use-idb'
  /** Retry with Auto: it opens a disk where it is, or picks what works. */
  | 'use-auto'
  /** Delete the disk: the quota is full. */
  | 'delete-disk';

/** What the page knows about the failed request beyond the error itself. */
export interface ErrorContext {
  diskName: string;
  /** The backend the user chose for the open that failed (undefined: not an open). */
  choice?: BackendChoice;
  /** Where a disk of that name already is, if anywhere. */
  existingOn?: PersistentBackend;
}

export interface ExplainedError {
  code: string;
  text: string;
  remedy?: { kind: Remedy; label: string };
}

/**
 * What went wrong, in words a person can act on: the DiskError's stable
 * code, a plain sentence for the states that would surprise, the library's
 * own message where it adds a detail, and the way out to offer.
 */
export function explainError(err: unknown, ctx: ErrorContext): ExplainedError {
  if (!(err instanceof DiskError)) {
    const message = err instanceof Error ? err.message : String(err);
    return { code: 'ERROR', text: `Something unexpected failed: ${message}` };
  }
  const name = ctx.diskName;
  const withDetail = (sentence: string) => `${sentence} (${err.message})`;
  switch (err.code) {
    case 'EBUSY':
      return {
        code: err.code,
        text: withDetail(
          `Disk “${name}” is busy: it is open in another tab or window of this site. Close it there, or type another disk name and press Open disk.`,
        ),
      };
    case 'ENOSPC':
      return {
        code: err.code,
        text: withDetail(
          'The browser’s storage quota for this site is full. Delete disk (or other disks), pick a smaller size, or free space in the browser’s site settings.',
        ),
        remedy: { kind: 'delete-disk', label: 'Delete disk' },
      };
    case 'ENOTSUP': {
      const { text, remedy } = unsupported(ctx);
      return { code: err.code, text: withDetail(text), remedy };
    }
    case 'EINVAL': {
      const { choice, existingOn } = ctx;
      if (existingOn && choice && choice !== 'auto' && choice !== 'memory' && choice !== existingOn) {
        // The library's message names the API options; the user needs the page's.
        return {
          code: err.code,
          text: `Disk “${name}” is kept in ${BACKEND_NAME[existingOn]}, not ${BACKEND_NAME[choice]}: a disk stays on the backend that created it. Open it where it is, type another name for a new disk in ${BACKEND_NAME[choice]}, or Delete disk to start afresh.`,
          remedy: { kind: 'use-auto', label: `Open it in ${BACKEND_NAME[existingOn]}` },
        };
      }
      return { code: err.code, text: err.message };
    }
    case 'ECLOSED':
      return { code: err.code, text: withDetail('The disk is not open any more (it was closed or lost power).') };
    case 'ECORRUPT':
      return { code: err.code, text: withDetail('The disk’s metadata is unreadable: delete the disk to start again.') };
    case 'EIO':
      return { code: err.code, text: withDetail('The storage failed in an unexpected way.') };
    default:
      return { code: err.code, text: err.message };
  }
}

/**
 * ENOTSUP: the disk's backend cannot work here. Which one, and so what to
 * offer, follows from what was asked for: an existing disk's own backend,
 * the one chosen by name, or (Auto) both.
 */
function unsupported(ctx: ErrorContext): Omit<ExplainedError, 'code'> {
  const { choice, existingOn, diskName } = ctx;
  if (existingOn && (choice === 'auto' || choice === existingOn)) {
    return {
      text: `Disk “${diskName}” is kept in ${BACKEND_NAME[existingOn]}, which webdisk cannot open in this browser. Type another name for a new disk, or open this one in the browser that made it.`,
    };
  }
  if (choice === 'opfs') {
    return {
      text: 'This browser gives webdisk no origin-private file system (OPFS) here: its sync access handles need a recent browser and a secure page (https or localhost). IndexedDB keeps a disk too.',
      remedy: { kind: 'use-idb', label: 'Use IndexedDB' },
    };
  }
  if (choice === 'idb') {
    return {
      text: 'IndexedDB is missing or blocked here (some private-browsing modes block it). Auto uses OPFS where the browser has it.',
      remedy: { kind: 'use-auto', label: 'Let webdisk choose (Auto)' },
    };
  }
  return {
    text: 'Neither OPFS nor IndexedDB is usable here (an old browser, or a private mode that blocks storage), so no disk can persist. You can still try everything on a volatile memory disk.',
    remedy: { kind: 'use-memory', label: 'Use a memory disk' },
  };
}
