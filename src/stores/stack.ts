import type { BlockStore } from '../core/store';
import type { CrashModel } from '../core/types';
import { ClusterMapStore } from '../layers/cluster-map';
import { PowerLossStore } from './power-loss-store';
import { type PowerSwitch, PowerSwitchStore } from './power-switch';

export interface StackOptions {
  /** 'power': unsynced writes wait in a simulated volatile device cache and die with the worker. */
  crashModel: CrashModel;
  /** The simulated device cache's size (power model). */
  deviceCacheSize?: number;
  /** The plug: once off, no store call gets through (also mid-flush). */
  power?: PowerSwitch;
}

/** A thin disk's allocation unit: 64 KiB, as qcow2's default. */
export const CLUSTER_SIZE = 64 * 1024;

/** A disk's stores, stacked, and the one call that cuts their power. */
export interface StackedStores {
  data: BlockStore;
  meta: BlockStore;
  /** The power is cut: the backend's stores stop at once (in-flight commits aborted). */
  abandon(): Promise<void>;
}

/**
 * The one place a disk's stores are stacked, bottom to top:
 *   backend files (OPFS file, IndexedDB, memory)
 *   → simulators, per file: the power switch below and above the
 *     power-loss store, so a destage in progress stops too, as terminating
 *     the worker does; a crash hits a thin disk's map and data files each
 *     as it would hit two real files
 *   → layers: the cluster map of a thin disk (when the backend has a map file)
 *   → (the block core, above).
 * The metadata store gets only the switch: metadata is synced at once.
 * `size` is the size of a disk being created (a new thin disk's map needs it).
 */
export async function stackStores(
  backend: { data: BlockStore; meta: BlockStore; map?: BlockStore },
  o: StackOptions & { size?: number },
): Promise<StackedStores> {
  const plug = (s: BlockStore): BlockStore => (o.power ? new PowerSwitchStore(s, o.power) : s);
  const simulate = (s: BlockStore): BlockStore => {
    const switched = plug(s);
    return o.crashModel === 'power' ? plug(new PowerLossStore(switched, o.deviceCacheSize)) : switched;
  };
  let data = simulate(backend.data);
  if (backend.map) {
    const create = o.size !== undefined ? { clusterSize: CLUSTER_SIZE, diskSize: o.size } : undefined;
    data = await ClusterMapStore.open(data, simulate(backend.map), create);
  }
  return {
    data,
    meta: plug(backend.meta),
    async abandon() {
      await Promise.all([backend.data.abandon?.(), backend.meta.abandon?.(), backend.map?.abandon?.()]);
    },
  };
}
