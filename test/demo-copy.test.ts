import { describe, expect, it } from 'vitest';
import { backendLine as lineParts, reopeningText } from '../src/demo/copy';
import { explainError } from '../src/demo/errors';
import { DiskError } from '../src/index';

// The demo's words for where a disk is and what went wrong: each case names
// the right backend and offers the way out that fits it.

/** The line as the page reads it: where, then why. */
const backendLine = (...args: Parameters<typeof lineParts>): string => {
  const { where, why } = lineParts(...args);
  return why ? `${where} — ${why}` : where;
};

describe('backendLine', () => {
  const secure = { secureContext: true };

  it('says where the disk is and why, per backendReason', () => {
    expect(backendLine('opfs', 'preferred', secure)).toBe(
      'OPFS, persistent — Auto’s first choice, available in this browser',
    );
    expect(backendLine('opfs', 'requested', secure)).toBe('OPFS, persistent — as chosen');
    expect(backendLine('idb', 'existing', secure)).toBe('IndexedDB, persistent — this disk already existed there');
    expect(backendLine('idb', 'requested', secure)).toBe('IndexedDB, persistent — as chosen');
    expect(backendLine('idb', 'fallback', secure)).toBe(
      'IndexedDB, persistent — OPFS sync access handles are missing in this browser, so webdisk fell back to IndexedDB',
    );
  });

  it('on a page that is not secure, the fallback names the page, not the browser', () => {
    expect(backendLine('idb', 'fallback', { secureContext: false })).toContain('OPFS needs a secure page');
  });

  it('says so when the page itself switched backend', () => {
    expect(backendLine('idb', 'requested', { ...secure, fallback: 'idb' })).toContain(
      'OPFS is missing in this browser, so the page switched to IndexedDB',
    );
    expect(backendLine('memory', 'requested', { ...secure, fallback: 'memory' })).toBe(
      'memory — volatile, because neither OPFS nor IndexedDB is usable here',
    );
    expect(backendLine('memory', 'requested', secure)).toBe('memory — volatile: gone when closed');
    // A switch to memory says nothing about a disk that is on IndexedDB.
    expect(backendLine('idb', 'existing', { ...secure, fallback: 'memory' })).toContain('already existed there');
  });

  it('only OPFS reopens slowly after a power loss', () => {
    expect(reopeningText('power', 'opfs')).toContain('locked for about 2 s');
    expect(reopeningText('power', 'idb')).toBe('Reopening…');
    expect(reopeningText('close', 'opfs')).toBe('Reopening…');
  });
});

describe('explainError', () => {
  const enotsup = new DiskError('ENOTSUP', 'library detail');

  it('ENOTSUP with Auto: neither backend works, offers a memory disk', () => {
    const e = explainError(enotsup, { diskName: 'd', choice: 'auto' });
    expect(e.code).toBe('ENOTSUP');
    expect(e.text).toContain('Neither OPFS nor IndexedDB is usable here');
    expect(e.text).toContain('(library detail)');
    expect(e.remedy).toEqual({ kind: 'use-memory', label: 'Use a memory disk' });
  });

  it('ENOTSUP with OPFS chosen: OPFS is missing, offers IndexedDB', () => {
    const e = explainError(enotsup, { diskName: 'd', choice: 'opfs' });
    expect(e.text).toContain('no origin-private file system (OPFS)');
    expect(e.remedy).toEqual({ kind: 'use-idb', label: 'Use IndexedDB' });
  });

  it('ENOTSUP with IndexedDB chosen: IndexedDB is missing, offers Auto', () => {
    const e = explainError(enotsup, { diskName: 'd', choice: 'idb' });
    expect(e.text).toContain('IndexedDB is missing or blocked');
    expect(e.remedy?.kind).toBe('use-auto');
  });

  it('ENOTSUP for an existing disk: its own backend cannot open it here, no backend switch helps', () => {
    const e = explainError(enotsup, { diskName: 'vm', choice: 'auto', existingOn: 'idb' });
    expect(e.text).toContain('Disk “vm” is kept in IndexedDB, which webdisk cannot open in this browser');
    expect(e.remedy).toBeUndefined();
  });

  it('EINVAL for a disk on the other backend: says where it is and offers to open it there', () => {
    const err = new DiskError('EINVAL', 'Disk "demo" already exists on opfs, not idb: …');
    const e = explainError(err, { diskName: 'demo', choice: 'idb', existingOn: 'opfs' });
    expect(e.code).toBe('EINVAL');
    expect(e.text).toBe(
      'Disk “demo” is kept in OPFS, not IndexedDB: a disk stays on the backend that created it. Open it where it is, type another name for a new disk in IndexedDB, or Delete disk to start afresh.',
    );
    expect(e.remedy).toEqual({ kind: 'use-auto', label: 'Open it in OPFS' });
  });

  it('other EINVALs keep the library’s message', () => {
    const err = new DiskError('EINVAL', 'Disk name "a b" may only hold A-Z a-z 0-9 . _ -');
    expect(explainError(err, { diskName: 'a b', choice: 'auto' })).toEqual({ code: 'EINVAL', text: err.message });
  });

  it('EBUSY, ENOSPC and anything unexpected', () => {
    expect(explainError(new DiskError('EBUSY', 'x'), { diskName: 'd' }).text).toContain('open in another tab');
    expect(explainError(new DiskError('ENOSPC', 'x'), { diskName: 'd' }).remedy?.kind).toBe('delete-disk');
    expect(explainError(new Error('boom'), { diskName: 'd' })).toEqual({
      code: 'ERROR',
      text: 'Something unexpected failed: boom',
    });
  });
});
