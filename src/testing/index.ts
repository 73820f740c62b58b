/**
 * webdisk/testing: the crash-test tooling — the randomized crash test, the
 * durability oracle and the byte patterns they use. Not the disk itself
 * (that is `webdisk`): an entry of its own so a page that only uses disks
 * does not carry it.
 */
export {
  type CrashPoint,
  type CrashTestDisk,
  type CrashTestOptions,
  type CrashTestResult,
  expectedImage,
  randomCrashPoint,
  roundSeed,
  runCrashTest,
  verifyDisk,
  withSwitchFlushes,
} from './crash-test';
export {
  type BlockVerdict,
  type CheckInput,
  checkDurability,
  type LogEntry,
  type OracleReport,
  RequestLog,
  type Violation,
} from './oracle';
export { patternBytes, prng } from './pattern';
