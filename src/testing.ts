/**
 * webdisk/testing: the crash-test tooling — the randomized workload, the
 * durability oracle and the byte patterns they use. Not the disk itself
 * (that is `webdisk`): an entry of its own so a page that only uses disks
 * does not carry it.
 */
export {
  type CrashPoint,
  expectedImage,
  randomCrashPoint,
  roundSeed,
  runWorkload,
  verifyDisk,
  type WorkloadDisk,
  type WorkloadOptions,
  type WorkloadResult,
  withSwitchFlushes,
} from './core/crash-workload';
export {
  type BlockVerdict,
  type CheckInput,
  checkDurability,
  type LogEntry,
  type OracleReport,
  type Violation,
  WorkloadLog,
} from './core/oracle';
export { patternBytes, prng } from './core/pattern';
