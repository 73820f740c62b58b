import { DiskError } from './errors';
import { CACHE_MODES, type CacheMode } from './types';

/** Largest single read or write: bigger requests must be split by the caller. */
export const MAX_IO_BYTES = 256 * 1024 * 1024;
export const SECTOR = 512;
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function checkName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw new DiskError(
      'EINVAL',
      `Disk name ${JSON.stringify(name)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ - (not "." or "..").`,
    );
  }
  return name;
}

function isNonNegativeInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

export function checkDiskSize(size: unknown): number {
  if (!isNonNegativeInteger(size) || size === 0 || size % SECTOR !== 0) {
    throw new DiskError(
      'EINVAL',
      `Disk size ${String(size)} is invalid: give a positive whole number of bytes, a multiple of 512.`,
    );
  }
  return size;
}

export function checkBlockSize(blockSize: unknown): number {
  if (
    !isNonNegativeInteger(blockSize) ||
    blockSize < 512 ||
    blockSize > 1024 * 1024 ||
    (blockSize & (blockSize - 1)) !== 0
  ) {
    throw new DiskError('EINVAL', `blockSize ${String(blockSize)} is invalid: use a power of two from 512 to 1048576.`);
  }
  return blockSize;
}

export function checkCacheSize(cacheSize: unknown, blockSize: number): number {
  if (!isNonNegativeInteger(cacheSize) || cacheSize < blockSize) {
    throw new DiskError(
      'EINVAL',
      `cacheSize ${String(cacheSize)} is invalid: give a whole number of bytes, at least one block (${blockSize}).`,
    );
  }
  return cacheSize;
}

export function checkCacheMode(mode: unknown): CacheMode {
  if (typeof mode !== 'string' || !(CACHE_MODES as readonly string[]).includes(mode)) {
    throw new DiskError('EINVAL', `Unknown cache mode ${JSON.stringify(mode)}: use one of ${CACHE_MODES.join(', ')}.`);
  }
  return mode as CacheMode;
}

/** Validates a byte range of a disk of `size` bytes. */
export function checkRange(offset: unknown, length: unknown, size: number, what: string, maxLength = Infinity): void {
  if (!isNonNegativeInteger(offset)) {
    throw new DiskError('EINVAL', `${what}: offset ${String(offset)} must be a non-negative whole number of bytes.`);
  }
  if (!isNonNegativeInteger(length)) {
    throw new DiskError('EINVAL', `${what}: length ${String(length)} must be a non-negative whole number of bytes.`);
  }
  if (length > maxLength) {
    throw new DiskError('EINVAL', `${what}: ${length} bytes is more than ${maxLength} in one request; split it.`);
  }
  if (offset + length > size) {
    throw new DiskError(
      'ERANGE',
      `${what}: bytes ${offset}..${offset + length} run past the end of the disk (${size} bytes).`,
    );
  }
}

export function checkData(data: unknown): Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new DiskError('EINVAL', 'write: data must be a Uint8Array (wrap other buffers with new Uint8Array(...)).');
  }
  return data;
}
