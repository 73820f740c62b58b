import type { BlockStore } from '../core/store';
import type { CrashModel } from '../core/types';
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

/** A disk's stores, stacked, and the one call that cuts their power. */
export interface StackedStores {
  data: BlockStore;
  meta: BlockStore;
  /** The power is cut: the backend's stores stop at once (in-flight commits aborted). */
  abandon(): Promise<void>;
}

/**
 * The one place a disk's stores are stacked, bottom to top:
 *   backend (OPFS file, IndexedDB, memory)
 *   → simulators: the power switch below and above the power-loss store,
 *     so a destage in progress stops too, as terminating the worker does.
 * The metadata store gets only the switch: metadata is synced at once.
 */
export function stackStores(backend: { data: BlockStore; meta: BlockStore }, o: StackOptions): StackedStores {
  const plug = (s: BlockStore): BlockStore => (o.power ? new PowerSwitchStore(s, o.power) : s);
  let data = plug(backend.data);
  if (o.crashModel === 'power') data = plug(new PowerLossStore(data, o.deviceCacheSize));
  return {
    data,
    meta: plug(backend.meta),
    async abandon() {
      await Promise.all([backend.data.abandon?.(), backend.meta.abandon?.()]);
    },
  };
}
