/**
 * webdisk/sqlite: SQLite's files on webdisk disks, as a VFS for wa-sqlite
 * (npm @journeyapps/wa-sqlite). The SQLite module is passed in; the VFS
 * base classes of the package are bundled.
 */
export type { OutParam, SQLiteModule, WasmBytes } from './facade';
export { WebdiskVFS, type WebdiskVFSOptions } from './vfs';
