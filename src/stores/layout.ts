/**
 * Where a disk lives, per backend:
 * - OPFS: a folder `webdisk/<name>/` holding `meta.bin`, `map.bin` (the
 *   cluster map of a thin disk) and `data.img` (its clusters, densely; a
 *   disk made before thin disks has no map and `data.img` is the disk);
 * - IndexedDB: a database `webdisk/<name>` (see idb-disks.ts).
 * Names are unique across backends: a disk is found in whichever holds it.
 */
export const ROOT_DIR = 'webdisk';
export const DATA_FILE = 'data.img';
export const META_FILE = 'meta.bin';
/** A thin disk's cluster map (layers/cluster-map.ts); a disk folder without one is a raw disk of format 1. */
export const MAP_FILE = 'map.bin';

/** The IndexedDB database of disk `name`. */
export function idbDatabaseName(name: string): string {
  return `${ROOT_DIR}/${name}`;
}

/** The disk name of an IndexedDB database, or undefined if it is not a disk's. */
export function diskNameOfDatabase(database: string): string | undefined {
  return database.startsWith(`${ROOT_DIR}/`) ? database.slice(ROOT_DIR.length + 1) : undefined;
}
