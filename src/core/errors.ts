/** Stable error codes. They cross the worker boundary as plain strings. */
export type DiskErrorCode =
  | 'EINVAL' // invalid argument: fix the call
  | 'ERANGE' // offset/length outside the disk
  | 'EBUSY' // the disk is open elsewhere (this or another tab)
  | 'ENOSPC' // the browser's storage quota is exhausted
  | 'ENOTSUP' // the requested backend is missing in this browser
  | 'ECLOSED' // used after close() or powerLoss()
  | 'ECORRUPT' // metadata is unreadable
  | 'EIO'; // the store failed in an unexpected way

const CODES: ReadonlySet<string> = new Set([
  'EINVAL',
  'ERANGE',
  'EBUSY',
  'ENOSPC',
  'ENOTSUP',
  'ECLOSED',
  'ECORRUPT',
  'EIO',
]);

/** Every failure of webdisk is a DiskError with a stable `code`. */
export class DiskError extends Error {
  readonly code: DiskErrorCode;
  constructor(code: DiskErrorCode, message: string) {
    super(message);
    this.name = 'DiskError';
    this.code = code;
  }
}

/** The plain-data form of an error, as it crosses postMessage. */
export interface DiskErrorData {
  code: DiskErrorCode;
  message: string;
}

export function isDiskErrorCode(code: unknown): code is DiskErrorCode {
  return typeof code === 'string' && CODES.has(code);
}

/**
 * Turns anything thrown into a DiskError: store exceptions from the
 * platform (QuotaExceededError, NoModificationAllowedError…) get the code a
 * caller can act on; everything unknown is EIO with the original message.
 */
export function toDiskError(err: unknown): DiskError {
  if (err instanceof DiskError) return err;
  const name = (err as { name?: unknown } | null)?.name;
  const message = String((err as { message?: unknown } | null)?.message ?? err);
  const detail = message ? ` (${message})` : '';
  if (name === 'QuotaExceededError') {
    return new DiskError(
      'ENOSPC',
      `The browser's storage quota is exhausted${detail}. Free space by deleting disks, or ask for persistent storage.`,
    );
  }
  if (name === 'NoModificationAllowedError') {
    return new DiskError('EBUSY', `The disk's file is open elsewhere (${message}). Close it in the other tab first.`);
  }
  if (name === 'NotFoundError') {
    return new DiskError('EIO', `A file of the disk disappeared while open (${message}).`);
  }
  return new DiskError(
    'EIO',
    `Storage failed${typeof name === 'string' && name !== 'Error' ? ` (${name})` : ''}: ${message}`,
  );
}

export function errorToData(err: unknown): DiskErrorData {
  const e = toDiskError(err);
  return { code: e.code, message: e.message };
}

export function errorFromData(data: DiskErrorData): DiskError {
  return new DiskError(isDiskErrorCode(data.code) ? data.code : 'EIO', data.message);
}
