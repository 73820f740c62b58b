import { openDB } from 'idb';
import { DiskError, toDiskError } from '../core/errors';
import { newestMeta } from '../core/metadata';
import { type BlockStore, ForwardingStore, type MaybePromise } from '../core/store';
import type { DiskBackend, DiskEntry, OpenedBackend } from './backends';
import { type DiskDatabase, type DiskSchema, IdbStore } from './idb-store';
import { diskNameOfDatabase, idbDatabaseName } from './layout';

/**
 * Disks in IndexedDB: a database `webdisk/<name>` each, with four object
 * stores — `info` (the layout: format and chunk size, fixed at creation),
 * `meta` (the two metadata slots, as on OPFS), `data` (the chunks) and
 * `blocks` (4 KiB block records laid over partly written chunks). A disk
 * exists while its layout record does.
 *
 * Deleting a disk empties its database in one transaction — from then on
 * the disk is gone — and leaves the empty database, which the next disk of
 * that name reuses. `deleteDatabase()` is not used: it waits for every
 * other connection to close, and a connection a killed worker left
 * (WebKitGTK keeps them) would hold up every later open of that name,
 * listing included. Only where space is short (more than half the quota
 * used: Firefox frees an emptied database's pages late) is the database
 * deleted too, and over the quota, where Firefox refuses even a
 * transaction that deletes, instead.
 */
const DB_VERSION = 1;
const LAYOUT_FORMAT = 1;
/**
 * Bytes per chunk of a new disk's data. Under 64 KiB serialized: Chromium
 * stores a larger value as a separate blob file beside LevelDB (Blink's
 * IDBValueWrapper::kWrapThreshold), and with 64 KiB chunks strict commits
 * hung for minutes now and then while other workers were killed mid-commit.
 * A power of two, so that a guest's aligned discards cover whole chunks and
 * give their space back (60 KiB chunks wrote sequentially as fast as 64 KiB
 * blobs, 32 KiB at 0.7-0.8x, but left partial chunks at every aligned
 * discard). A disk made with other chunks keeps them (its layout record).
 */
export const DEFAULT_CHUNK_SIZE = 32 * 1024;
/** The metadata store's chunk: one slot. */
const META_CHUNK = 512;
const STORES = ['info', 'meta', 'data', 'blocks'] as const;
/** Where an overlay's cluster map starts in the metadata object store (its keys from 2048 on). */
const MAP_AT = 1024 * 1024;

/** A store seen `shift` bytes further on: two stores in one object store's key space. */
class ShiftedStore extends ForwardingStore {
  constructor(
    inner: BlockStore,
    private readonly shift: number,
  ) {
    super(inner);
  }
  override read(offset: number, dst: Uint8Array): MaybePromise {
    return super.read(offset + this.shift, dst);
  }
  override write(offset: number, src: Uint8Array): MaybePromise {
    return super.write(offset + this.shift, src);
  }
  override discard(offset: number, length: number): MaybePromise {
    return super.discard(offset + this.shift, length);
  }
}
/**
 * How long listing or deleting waits for a disk's database. A transaction
 * of a worker killed mid-way can stay open (WebKitGTK keeps one a killed
 * worker had not finished; webdisk's own power cut aborts them first), and
 * everything after it waits: better an answer than a hang.
 */
const PAGE_DEADLINE_MS = 10_000;
/** How long a database delete waits for connections still closing. */
const DROP_WAIT_MS = 5_000;

/** `p`, or what `late()` gives once `ms` have passed. */
function deadline<T>(p: Promise<T>, ms: number, late: () => T | Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => Promise.resolve().then(late).then(resolve, reject), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function haveIndexedDB(): boolean {
  return typeof indexedDB !== 'undefined' && typeof indexedDB.databases === 'function';
}

async function databaseNames(): Promise<string[]> {
  if (!haveIndexedDB()) return [];
  const dbs = await indexedDB.databases();
  return dbs.map((d) => d.name ?? '').filter((n) => diskNameOfDatabase(n) !== undefined);
}

/** Opens (creating if needed) the database of disk `name`, at the current schema. */
async function openDatabase(name: string): Promise<DiskDatabase> {
  try {
    return await openDB<DiskSchema>(idbDatabaseName(name), DB_VERSION, {
      upgrade(db, oldVersion) {
        if (oldVersion !== 0) return;
        for (const store of STORES) db.createObjectStore(store);
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
}

/** The database of disk `name`, if there is one (never creates one). */
async function existingDatabase(name: string): Promise<DiskDatabase | undefined> {
  if (!(await databaseNames()).includes(idbDatabaseName(name))) return undefined;
  return openDatabase(name);
}

/** The disk's layout record: undefined for an empty (deleted) database. */
function layoutOf(db: DiskDatabase): Promise<DiskSchema['info']['value'] | undefined> {
  return db.get('info', 'layout');
}

/** The logical size recorded in a disk's metadata (NaN if unreadable). */
async function sizeOf(db: DiskDatabase): Promise<number> {
  const store = db.transaction('meta').store;
  const range = IDBKeyRange.bound(0, 1);
  const [keys, values] = await Promise.all([store.getAllKeys(range), store.getAll(range)]);
  const slots = new Uint8Array(2 * META_CHUNK);
  for (const [i, k] of keys.entries()) slots.set(new Uint8Array(values[i]).subarray(0, META_CHUNK), k * META_CHUNK);
  return newestMeta(slots)?.size ?? Number.NaN;
}

/** The stores share the database connection: it closes when all `stores` have. */
function sharedClose(db: DiskDatabase, stores: number): () => void {
  let open = stores;
  return () => {
    if (--open === 0) db.close();
  };
}

export const idbDisks: DiskBackend = {
  name: 'idb',
  canOpen: haveIndexedDB,
  canList: haveIndexedDB,

  async exists(name) {
    const db = await existingDatabase(name);
    if (!db) return false;
    try {
      return (await layoutOf(db)) !== undefined;
    } finally {
      db.close();
    }
  },

  async open(name, create, overlay): Promise<OpenedBackend> {
    // Only a create may make a database.
    const db = create ? await openDatabase(name) : await existingDatabase(name);
    if (!db) throw new DiskError('EINVAL', `Disk "${name}" does not exist: give its size to create it.`);
    let layout: DiskSchema['info']['value'] | undefined;
    let existed: boolean;
    try {
      await notHeld(db, name);
      layout = await layoutOf(db);
      existed = layout !== undefined;
      if (!layout) {
        if (!create) throw new DiskError('EINVAL', `Disk "${name}" does not exist: give its size to create it.`);
        layout = { format: LAYOUT_FORMAT, chunkSize: DEFAULT_CHUNK_SIZE, ...(overlay ? { overlay } : {}) };
        await db.put('info', layout, 'layout');
      }
      if (!Number.isSafeInteger(layout.chunkSize) || layout.chunkSize < META_CHUNK) {
        throw new DiskError('ECORRUPT', `Disk "${name}": its IndexedDB layout record is damaged.`);
      }
      if (layout.format > LAYOUT_FORMAT) {
        throw new DiskError('ENOTSUP', `Disk "${name}" was made by a newer webdisk: update webdisk to open it.`);
      }
    } catch (err) {
      db.close();
      throw toDiskError(err);
    }
    const isOverlay = layout.overlay === true;
    const release = sharedClose(db, isOverlay ? 3 : 2);
    return {
      data: new IdbStore(db, { chunks: 'data', blocks: 'blocks' }, layout.chunkSize, release),
      meta: new IdbStore(db, { chunks: 'meta' }, META_CHUNK, release),
      // An overlay's cluster map: in the metadata object store, past the two slots.
      map: isOverlay ? new ShiftedStore(new IdbStore(db, { chunks: 'meta' }, META_CHUNK, release), MAP_AT) : undefined,
      discardIfNew: async () => {
        if (!existed) await emptyDatabase(name).catch(() => undefined);
      },
    };
  },

  async list(): Promise<DiskEntry[]> {
    const out: DiskEntry[] = [];
    for (const dbName of await databaseNames()) {
      const name = diskNameOfDatabase(dbName) as string;
      // A database held by a transaction that does not end is listed with an unknown size, not waited for.
      const entry = deadline(listed(name), PAGE_DEADLINE_MS, () => ({
        name,
        size: Number.NaN,
        backend: 'idb' as const,
      }));
      const e = await entry.catch(() => undefined);
      if (e) out.push(e);
    }
    return out;
  },

  async remove(name) {
    if (!haveIndexedDB()) return;
    try {
      await emptyDatabase(name);
    } catch (err) {
      // Over its quota Firefox refuses even a transaction that only deletes;
      // deleting the database needs no space.
      if (err instanceof DiskError && err.code === 'ENOSPC' && (await dropDatabase(name))) return;
      throw err;
    }
    // Firefox gives an emptied database's space back only in its idle
    // maintenance: where space is short, delete the database now.
    if (await quotaIsShort()) await dropDatabase(name);
  },
};

/** More than half the origin's quota in use (false where the browser cannot say: WebKitGTK). */
async function quotaIsShort(): Promise<boolean> {
  try {
    const e = await navigator.storage?.estimate?.();
    return e?.usage !== undefined && e.quota !== undefined && e.usage > e.quota / 2;
  } catch {
    return false;
  }
}

/** Disk `name` as listDisks shows it; undefined for an empty (deleted) database. */
async function listed(name: string): Promise<DiskEntry | undefined> {
  const db = await openDatabase(name);
  try {
    if (!(await layoutOf(db))) return undefined;
    return { name, size: await sizeOf(db).catch(() => Number.NaN), backend: 'idb' };
  } finally {
    db.close();
  }
}

/**
 * Deletes the database: true once deleted. Blocked by a connection that is
 * still closing (a worker that just closed the disk), it waits for that a
 * while; one that never closes (WebKitGTK's, of a killed worker) leaves the
 * delete pending after DROP_WAIT_MS, and the answer is false.
 */
function dropDatabase(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(idbDatabaseName(name));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    req.onsuccess = () => done(true);
    req.onerror = () => done(false);
    req.onblocked = () => {
      timer ??= setTimeout(() => done(false), DROP_WAIT_MS);
    };
  });
}

/** The EBUSY of a database that a transaction which never ends holds. */
function heldError(name: string, doing: 'open' | 'delete'): DiskError {
  return new DiskError(
    'EBUSY',
    `Disk "${name}": its database is held by a transaction that does not end (a worker killed mid-way?). Reload the page (or restart the browser) and ${doing} it again.`,
  );
}

/**
 * Resolves once a transaction over every store of the database could run.
 * A transaction a killed worker left open (WebKitGTK keeps them) would make
 * the disk's first read or write wait forever: better EBUSY at open.
 */
async function notHeld(db: DiskDatabase, name: string): Promise<void> {
  const tx = db.transaction([...STORES], 'readwrite');
  await deadline(tx.done, PAGE_DEADLINE_MS, () => {
    try {
      tx.abort();
    } catch {
      // it ended meanwhile
    }
    throw heldError(name, 'open');
  });
}

/** Deletes every record of the disk's database, the layout first in the same transaction: the disk is gone. */
async function emptyDatabase(name: string): Promise<void> {
  const db = await existingDatabase(name);
  if (!db) return;
  try {
    const tx = db.transaction([...STORES], 'readwrite');
    const cleared = Promise.all([...STORES.map((s) => tx.objectStore(s).clear()), tx.done]);
    await deadline(cleared, PAGE_DEADLINE_MS, () => {
      tx.abort();
      throw heldError(name, 'delete');
    });
  } catch (err) {
    throw toDiskError(err);
  } finally {
    db.close();
  }
}
