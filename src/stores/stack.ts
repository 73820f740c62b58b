import { DiskError } from '../core/errors';
import type { BlockStore } from '../core/store';
import type { CrashModel } from '../core/types';
import { type ClusterMapGeometry, ClusterMapStore } from '../layers/cluster-map';
import { OverlayStore } from '../layers/overlay';
import { type BaseImage, type BaseSpec, openBase, recordedBase } from './base-image';
import { PowerLossStore } from './power-loss-store';
import { type PowerSwitch, PowerSwitchStore } from './power-switch';

export interface StackOptions {
  /** 'power': unsynced writes wait in a simulated volatile device cache and die with the worker. */
  crashModel: CrashModel;
  /** The simulated device cache's size (power model). */
  deviceCacheSize?: number;
  /** The plug: once off, no store call gets through (also mid-flush). */
  power?: PowerSwitch;
  /** The core is driven by synchronous calls: a thin disk's map commits in the call (ClusterMapStore.commitAtOnce). */
  synchronous?: boolean;
}

/** A thin disk's allocation unit: 64 KiB, as qcow2's default. */
export const CLUSTER_SIZE = 64 * 1024;

/** A disk's stores, stacked, and the one call that cuts their power. */
export interface StackedStores {
  data: BlockStore;
  meta: BlockStore;
  /** The size of a disk being created (for an overlay: its base's, unless given). */
  size: number | undefined;
  /** The overlay layer, when the disk has a base. */
  overlay?: OverlayStore;
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
 * `size` is the size of a disk being created (a new thin disk's map needs
 * it). `base`: the disk is an overlay over that image (created over it if
 * new, checked against the base it was made over if not); the backend must
 * have given a map file.
 */
export async function stackStores(
  backend: { data: BlockStore; meta: BlockStore; map?: BlockStore },
  o: StackOptions & { size?: number; base?: BaseSpec },
): Promise<StackedStores> {
  const plug = (s: BlockStore): BlockStore => (o.power ? new PowerSwitchStore(s, o.power) : s);
  const simulate = (s: BlockStore): BlockStore => {
    const switched = plug(s);
    return o.crashModel === 'power' ? plug(new PowerLossStore(switched, o.deviceCacheSize)) : switched;
  };
  let data = simulate(backend.data);
  let size = o.size;
  let overlay: OverlayStore | undefined;
  if (backend.map) {
    const map = simulate(backend.map);
    const recorded = await ClusterMapStore.recorded(map);
    let base: BaseImage | undefined;
    if (recorded?.base) base = o.base ? await openBase(o.base, recorded.base) : recordedBase(recorded.base);
    else if (recorded && o.base) {
      throw new DiskError(
        'EINVAL',
        'This disk exists and is not an overlay: open it without base, or delete it first.',
      );
    } else if (!recorded && o.base) {
      base = await openBase(o.base);
      size ??= Math.max(512, Math.ceil(base.identity.length / 512) * 512);
    }
    const create: ClusterMapGeometry | undefined =
      size !== undefined ? { clusterSize: CLUSTER_SIZE, diskSize: size, base: base?.identity } : undefined;
    const thin = await ClusterMapStore.open(data, map, create);
    thin.commitAtOnce = o.synchronous === true;
    data = thin;
    if (base) data = overlay = new OverlayStore(thin, base);
  } else if (o.base) {
    // Every backend gives a new overlay a map: this disk was made without a base.
    throw new DiskError('EINVAL', 'This disk exists and is not an overlay: open it without base, or delete it first.');
  }
  return {
    data,
    meta: plug(backend.meta),
    size,
    overlay,
    async abandon() {
      // A read-ahead stream stops pulling and installing (its requests settle).
      await overlay?.abandon();
      await Promise.all([backend.data.abandon?.(), backend.meta.abandon?.(), backend.map?.abandon?.()]);
    },
  };
}
