/**
 * webdisk/sqlite: SQLite's files on webdisk disks, as a VFS for wa-sqlite
 * (npm @journeyapps/wa-sqlite). The SQLite module is passed in; the VFS
 * base classes of the package are bundled. WebdiskVFS: async I/O (the async
 * or JSPI build, page or worker); WebdiskSyncVFS: blocking I/O over SyncDisk
 * (the sync build, in a worker).
 */
export type { OutParam, SQLiteModule, WasmBytes } from './facade';
export { WebdiskSyncVFS } from './sync-vfs';
export { WebdiskVFS, type WebdiskVFSOptions } from './vfs';
