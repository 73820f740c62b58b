// webdisk/sqlite's small pieces under Node: the length header, file names
// → disk names, SQLite's lock levels among connections of one VFS.
import { describe, expect, it } from 'vitest';
import {
  SQLITE_BUSY,
  SQLITE_LOCK_EXCLUSIVE,
  SQLITE_LOCK_NONE,
  SQLITE_LOCK_RESERVED,
  SQLITE_LOCK_SHARED,
  SQLITE_OK,
} from '../src/adapters/sqlite/constants';
import { decodeHeader, encodeHeader, HEADER_BYTES } from '../src/adapters/sqlite/header';
import { FileLocks } from '../src/adapters/sqlite/locks';
import { diskNameFor, validVfsName } from '../src/adapters/sqlite/names';

describe('the header', () => {
  it('round-trips existence and length, as a whole block', () => {
    const bytes = encodeHeader({ exists: true, length: 2 ** 40 + 4096 });
    expect(bytes.length).toBe(HEADER_BYTES);
    expect(decodeHeader(bytes)).toEqual({ exists: true, length: 2 ** 40 + 4096 });
    expect(decodeHeader(encodeHeader({ exists: false, length: 0 }))).toEqual({ exists: false, length: 0 });
  });
  it('a block never written is "no file"; a damaged header throws', () => {
    expect(decodeHeader(new Uint8Array(HEADER_BYTES))).toEqual({ exists: false, length: 0 });
    const bytes = encodeHeader({ exists: true, length: 8192 });
    bytes[17] ^= 1;
    expect(() => decodeHeader(bytes)).toThrow(/corrupt/);
  });
});

describe('disk names', () => {
  it('plain names stay readable; others get a CRC and stay distinct and valid', () => {
    expect(diskNameFor('notes', '/notes.db-wal')).toBe('notes.notes.db-wal');
    const a = diskNameFor('v', 'a/b.db');
    const b = diskNameFor('v', 'a_b.db');
    expect(a).not.toBe(b);
    const long = diskNameFor('v', `${'x'.repeat(200)}.db`);
    for (const n of [a, b, long]) expect(n).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(validVfsName('ok-name')).toBe(true);
    expect(validVfsName('no/slash')).toBe(false);
    expect(validVfsName('')).toBe(false);
  });
});

describe('locks among connections', () => {
  it('readers share; one writer; EXCLUSIVE waits for the other readers; PENDING keeps new readers out', () => {
    const l = new FileLocks();
    expect(l.lock(1, SQLITE_LOCK_SHARED)).toBe(SQLITE_OK);
    expect(l.lock(2, SQLITE_LOCK_SHARED)).toBe(SQLITE_OK);
    expect(l.lock(1, SQLITE_LOCK_RESERVED)).toBe(SQLITE_OK);
    expect(l.reserved()).toBe(true);
    expect(l.lock(2, SQLITE_LOCK_RESERVED)).toBe(SQLITE_BUSY);
    expect(l.lock(1, SQLITE_LOCK_EXCLUSIVE)).toBe(SQLITE_BUSY); // 2 still reads; 1 now PENDING
    expect(l.lock(3, SQLITE_LOCK_SHARED)).toBe(SQLITE_BUSY);
    expect(l.unlock(2, SQLITE_LOCK_NONE)).toBe(SQLITE_OK);
    expect(l.lock(1, SQLITE_LOCK_EXCLUSIVE)).toBe(SQLITE_OK);
    l.unlock(1, SQLITE_LOCK_SHARED);
    expect(l.reserved()).toBe(false);
    expect(l.lock(3, SQLITE_LOCK_SHARED)).toBe(SQLITE_OK);
  });
});
