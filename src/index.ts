export { Disk, type WriteOptions } from './client/disk';
export { type DiskEntry, deleteDisk, listDisks } from './client/manage';
export { type OpenDiskOptions, openDisk } from './client/open-disk';
export { SyncDisk, type SyncWriteOptions } from './client/sync-disk';
export type { OpenSyncOptions } from './client/sync-ports';
export { CACHE_MODE_HELP, CACHE_POLICY, type CachePolicy } from './core/cache-modes';
export { DiskError, type DiskErrorCode } from './core/errors';
export type { Extent, ExtentState } from './core/store';
export {
  type Backend,
  type BackendChoice,
  CACHE_MODES,
  type CacheMode,
  type CrashModel,
  type DiskStats,
  type PersistentBackend,
} from './core/types';
export type { ExportOptions, ExportProgress } from './images/export';
export { type ImageFormat, type ImportDiskOptions, type ImportProgress, importDisk } from './images/import';
export type { SyncDiskPort } from './protocol/sync-port';
export type { BackendReason } from './stores/backends';
