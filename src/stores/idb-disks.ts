import { deleteDB, openDB } from 'idb';
import { DiskError, toDiskError } from '../core/errors';
import { newestMeta } from '../core/metadata';
import type { DiskBackend, DiskEntry, OpenedBackend } from './backends';
import { type DiskDatabase, type DiskSchema, IdbStore } from './idb-store';
import { diskNameOfDatabase, idbDatabaseName } from './layout';

/**
 * Disks in IndexedDB: a database `webdisk/<name>` each, with four object
 * stores — `info` (the layout: format and chunk size, fixed at creation),
 * `meta` (the two metadata slots, as on OPFS), `data` (the chunks) and
 * `blocks` (4 KiB block records laid over partly written chunks).
 */
const DB_VERSION = 1;
const LAYOUT_FORMAT = 1;
/** Bytes per chunk of a new disk's data. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** The metadata store's chunk: one slot. */
const META_CHUNK = 512;

function haveIndexedDB(): boolean {
  return typeof indexedDB !== 'undefined' && typeof indexedDB.databases === 'function';
}

async function databaseNames(): Promise<string[]> {
  if (!haveIndexedDB()) return [];
  const dbs = await indexedDB.databases();
  return dbs.map((d) => d.name ?? '').filter((n) => diskNameOfDatabase(n) !== undefined);
}

/** Opens an existing disk database (never creates one: a missing one rejects NotFoundError). */
function openExisting(name: string): Promise<DiskDatabase> {
  return openDB<DiskSchema>(idbDatabaseName(name), undefined, {
    upgrade(_db, _old, _new, tx) {
      tx.abort(); // it did not exist (deleted since it was listed): do not create it
    },
    blocking(_current, _blocked, event) {
      (event.target as IDBDatabase).close();
    },
  }).catch((err: unknown) => {
    if ((err as Error)?.name === 'AbortError') throw new DiskError('EINVAL', `Disk "${name}" does not exist.`);
    throw toDiskError(err);
  });
}

/** Both stores share the database connection: it closes when both have. */
function sharedClose(db: DiskDatabase): () => void {
  let open = 2;
  return () => {
    if (--open === 0) db.close();
  };
}

export const idbDisks: DiskBackend = {
  name: 'idb',
  canOpen: haveIndexedDB,
  canList: haveIndexedDB,

  async exists(name) {
    return (await databaseNames()).includes(idbDatabaseName(name));
  },

  async open(name, create): Promise<OpenedBackend> {
    const dbName = idbDatabaseName(name);
    const existed = await this.exists(name);
    if (!existed && !create)
      throw new DiskError('EINVAL', `Disk "${name}" does not exist: give its size to create it.`);
    let db: DiskDatabase;
    try {
      db = await openDB<DiskSchema>(dbName, DB_VERSION, {
        upgrade(up, oldVersion, _new, tx) {
          if (oldVersion !== 0) return;
          up.createObjectStore('info');
          up.createObjectStore('meta');
          up.createObjectStore('data');
          up.createObjectStore('blocks');
          void tx.objectStore('info').put({ format: LAYOUT_FORMAT, chunkSize: DEFAULT_CHUNK_SIZE }, 'layout');
        },
        blocking(_current, _blocked, event) {
          (event.target as IDBDatabase).close();
        },
      });
    } catch (err) {
      if ((err as Error)?.name === 'VersionError') {
        throw new DiskError('ENOTSUP', `Disk "${name}" was made by a newer webdisk: update webdisk to open it.`);
      }
      throw toDiskError(err);
    }
    const layout = await db.get('info', 'layout').catch(() => undefined);
    if (!layout || !Number.isSafeInteger(layout.chunkSize) || layout.chunkSize < META_CHUNK) {
      db.close();
      throw new DiskError('ECORRUPT', `Disk "${name}": its IndexedDB layout record is missing or damaged.`);
    }
    if (layout.format > LAYOUT_FORMAT) {
      db.close();
      throw new DiskError('ENOTSUP', `Disk "${name}" was made by a newer webdisk: update webdisk to open it.`);
    }
    const release = sharedClose(db);
    return {
      data: new IdbStore(db, { chunks: 'data', blocks: 'blocks' }, layout.chunkSize, release),
      meta: new IdbStore(db, { chunks: 'meta' }, META_CHUNK, release),
      discardIfNew: async () => {
        if (!existed) await deleteDB(dbName).catch(() => undefined);
      },
    };
  },

  async list(): Promise<DiskEntry[]> {
    const out: DiskEntry[] = [];
    for (const dbName of await databaseNames()) {
      const name = diskNameOfDatabase(dbName) as string;
      let size = Number.NaN;
      try {
        const db = await openExisting(name);
        try {
          const slots = new Uint8Array(2 * META_CHUNK);
          const store = db.transaction('meta').store;
          const range = IDBKeyRange.bound(0, 1);
          const [keys, values] = await Promise.all([store.getAllKeys(range), store.getAll(range)]);
          for (const [i, k] of keys.entries()) {
            slots.set(new Uint8Array(values[i]).subarray(0, META_CHUNK), k * META_CHUNK);
          }
          size = newestMeta(slots)?.size ?? Number.NaN;
        } finally {
          db.close();
        }
      } catch (err) {
        if ((err as DiskError)?.code === 'EINVAL') continue; // deleted meanwhile
      }
      out.push({ name, size, backend: 'idb' });
    }
    return out;
  },

  async remove(name) {
    if (!haveIndexedDB()) return;
    try {
      await deleteDB(idbDatabaseName(name));
    } catch (err) {
      throw toDiskError(err);
    }
  },
};
