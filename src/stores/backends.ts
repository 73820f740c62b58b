import { DiskError } from '../core/errors';
import type { BlockStore } from '../core/store';
import type { Backend, BackendChoice, PersistentBackend } from '../core/types';
import { idbDisks } from './idb-disks';
import { MemoryStore } from './memory-store';
import { opfsDisks } from './opfs-disks';

/** A disk's two stores as a backend opened them. */
export interface OpenedBackend {
  /** The disk's bytes. */
  data: BlockStore;
  /** The small metadata store (two slots). */
  meta: BlockStore;
  /**
   * A thin disk's cluster map: `data` then holds its clusters densely and
   * the stack puts a ClusterMapStore over both (OPFS, whose files count
   * their full length against the quota; overlays on every backend). Absent:
   * `data` is the disk (IndexedDB and memory are thin by themselves; raw
   * OPFS disks of format 1).
   */
  map?: BlockStore;
  /** Removes the disk again if this open created it (call after closing the stores). */
  discardIfNew(): Promise<void>;
}

/** A persistent disk of this origin, as listDisks() reports it. */
export interface DiskEntry {
  name: string;
  /** Logical size in bytes (NaN if the metadata is unreadable). */
  size: number;
  backend: PersistentBackend;
}

/** What webdisk needs of a persistent backend: one module per backend implements it. */
export interface DiskBackend {
  readonly name: PersistentBackend;
  /** Disks can be opened in this context (the disk worker). */
  canOpen(): boolean;
  /** Disks can be listed and deleted in this context (a page or a worker). */
  canList(): boolean;
  exists(name: string): Promise<boolean>;
  /**
   * Opens the disk's stores, creating the disk if `create` (else EINVAL
   * when missing). `overlay`: a new disk will be an overlay, so it needs a
   * map file (an existing overlay has one anyway).
   */
  open(name: string, create: boolean, overlay: boolean): Promise<OpenedBackend>;
  list(): Promise<DiskEntry[]>;
  /** Deletes the disk; a missing one is not an error. The caller holds the disk's lock. */
  remove(name: string): Promise<void>;
}

/** In the order 'auto' prefers them. */
export const PERSISTENT_BACKENDS: readonly DiskBackend[] = [opfsDisks, idbDisks];

/** Why a disk is on the backend it is on: the demo and a curious caller can say so. */
export type BackendReason =
  /** The caller asked for it. */
  | 'requested'
  /** The disk already existed there. */
  | 'existing'
  /** 'auto' chose it: the preferred backend (OPFS) is available. */
  | 'preferred'
  /** 'auto' fell back to IndexedDB: OPFS sync access handles are missing here. */
  | 'fallback';

/** The persistent backend holding disk `name`, if any. */
export async function findDisk(name: string): Promise<DiskBackend | undefined> {
  for (const b of PERSISTENT_BACKENDS) if (b.canList() && (await b.exists(name))) return b;
  return undefined;
}

/**
 * Where disk `name` is or will be: an existing disk is found in whichever
 * backend holds it; a new one goes where `choice` says ('auto': OPFS where
 * sync access handles exist, IndexedDB otherwise). Call holding the disk's lock.
 */
export async function chooseBackend(
  choice: BackendChoice,
  name: string,
): Promise<{ backend: Backend; reason: BackendReason }> {
  if (choice === 'memory') return { backend: 'memory', reason: 'requested' };
  const holder = await findDisk(name);
  if (holder) {
    if (choice !== 'auto' && choice !== holder.name) {
      throw new DiskError(
        'EINVAL',
        `Disk "${name}" already exists on ${holder.name}, not ${choice}: open it with backend "${holder.name}" or "auto", or delete it first.`,
      );
    }
    if (!holder.canOpen()) throw unsupported(holder.name);
    return { backend: holder.name, reason: 'existing' };
  }
  if (choice !== 'auto') {
    const wanted = PERSISTENT_BACKENDS.find((b) => b.name === choice) as DiskBackend;
    if (!wanted.canOpen()) throw unsupported(choice);
    return { backend: choice, reason: 'requested' };
  }
  const usable = PERSISTENT_BACKENDS.find((b) => b.canOpen());
  if (!usable) {
    throw new DiskError(
      'ENOTSUP',
      'No persistent storage is available here (neither OPFS nor IndexedDB): use backend "memory" for a volatile disk.',
    );
  }
  return { backend: usable.name, reason: usable === PERSISTENT_BACKENDS[0] ? 'preferred' : 'fallback' };
}

function unsupported(backend: PersistentBackend): DiskError {
  return new DiskError(
    'ENOTSUP',
    backend === 'opfs'
      ? 'OPFS sync access handles are missing in this browser (needs Chrome 108+, Firefox 111+ or Safari 16.4+, in a secure context): use backend "idb" or "auto".'
      : 'IndexedDB is missing in this browser (or blocked, as in some private modes): use backend "memory" for a volatile disk.',
  );
}

/** Opens the stores of a disk on `backend`. */
export function openBackend(backend: Backend, name: string, create: boolean, overlay: boolean): Promise<OpenedBackend> {
  if (backend === 'memory') {
    return Promise.resolve({
      data: new MemoryStore(),
      meta: new MemoryStore(),
      // Memory is thin by itself; an overlay needs a map all the same (unallocated ≠ zero).
      map: overlay ? new MemoryStore() : undefined,
      discardIfNew: async () => {},
    });
  }
  return (PERSISTENT_BACKENDS.find((b) => b.name === backend) as DiskBackend).open(name, create, overlay);
}
