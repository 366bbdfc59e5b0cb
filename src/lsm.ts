// 'lsmraft/lsm': the embedded LSM tree alone, what a program that only stores data locally imports
// (index.ts re-exports it all). Its jobs run in the shared worker pool unless a tree names another
// (LsmTreeOptions.jobPool): src/lsm cannot import src/pool, so this entry wires it.
import { setDefaultJobPool } from './lsm/job-runner.js';
import { sharedJobPool } from './pool/job-pool.js';

setDefaultJobPool(sharedJobPool);
export {
  LsmraftError,
  CorruptionError,
  ClosedError,
  LockedError,
  InvalidArgumentError,
  IoError,
  JobFailedError,
  BackgroundError,
  WasmError,
  IteratorNotPositionedError,
} from './errors.js';
export type { LsmraftErrorCode } from './errors.js';
export { LsmTree } from './lsm/db.js';
export { TreeIterator, TreeSnapshot } from './lsm/tree-iterator.js';
export type { KeyLike } from './lsm/user-input.js';
export type { WriteOptions, ReadOptions, RangeOptions, BatchOp, TreeStats, CloseOptions } from './lsm/db.js';
export type { LsmTreeOptions } from './lsm/options.js';
export type { VerifyOptions, VerifyReport, DamagedFile } from './lsm/verify.js';
export type { RepairOptions, RepairReport } from './lsm/repair.js';
export { KEY_BYTES_MAX, VALUE_BYTES_MAX } from './lsm/options.js';
export type { TreeDescription, LevelDescription, FileDescription } from './lsm/describe.js';
export type { BackgroundStatus, ErrorSummary } from './lsm/error-handler.js';
export { WriteBatch } from './lsm/write-batch.js';
export type { FileSystem, WritableFile, RandomAccessFile, DirLock } from './lsm/fs.js';
export { NodeFileSystem } from './lsm/node-fs.js';
export { CrashableMemFileSystem } from './lsm/mem-fs.js';
export type { EngineName } from './engine/types.js';
