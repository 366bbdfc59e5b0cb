// lsmraft's public API. Everything a user can import comes from here.
import { setDefaultJobPool } from './lsm/job-runner.js';
import { sharedJobPool } from './pool/job-pool.js';

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

// The embedded LSM engine. Its jobs run in the shared worker pool unless a tree names another
// (LsmTreeOptions.jobPool): src/lsm cannot import src/pool, so this entry wires it.
setDefaultJobPool(sharedJobPool);
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

// The IO-free Raft core (etcd-raft style): drive it with tick/step/propose and the Ready contract.
export { RawNode } from './raft/raw-node.js';
export type { RaftConfig } from './raft/config.js';
export type { RaftStatus, ProgressStatus } from './raft/raw-node.js';
export { MemoryStorage } from './raft/storage.js';
export type { Storage } from './raft/storage.js';
export { CompactedError, UnavailableError, SnapshotOutOfDateError, ProposalDroppedError } from './raft/errors.js';
export { encodeConfChange, decodeConfChange } from './raft/types.js';
export type {
  NodeId, Entry, EntryType, HardState, ConfState, SnapshotMeta, Snapshot, Message, MessageType, ReadState, Role, SoftState, Ready,
  ConfChange, ConfChangeType,
} from './raft/types.js';

// The Level ecosystem adapter (abstract-level); also importable alone as 'lsmraft/level'.
export { LsmLevel } from './level/index.js';
export type { LsmLevelOptions } from './level/index.js';

// The cluster node runtime and its client.
export {
  KvNode, KvClient, NotLeaderError, MembershipError, NodeStoppedError, BadFrameError, RequestTimeoutError, ConnectionClosedError, AddressInUseError,
  SessionExpiredError, SessionSeqDiscardedError, restoreBackup,
} from './node/index.js';
export type { KvNodeOptions, KvClientOptions, NodeTlsOptions, ClientTlsOptions, KeyInput, MemberInfo, NodeStatus, LeaderInfo, LogLevel, Logger } from './node/index.js';
export type { RestoreOptions, RestoreResult, BackupSaveOptions, BackupSaveResult } from './node/index.js';

// The etcd v3 gRPC API (KvNodeOptions.etcdAddress): loading it lets KvNode.start serve it.
export { EtcdServer, registerEtcdService } from './etcd/server.js';
export type { EtcdServiceInstaller } from './etcd/server.js';
export { etcdPackageDefinition, etcdServiceDefinitions, etcdGrpcPackage, ETCD_PROTO_LOADER_OPTIONS } from './etcd/protos.js';
export { MvccError } from './mvcc/errors.js';
export type { KeyValue, MvccEvent, RevisionEvents, EventType } from './mvcc/types.js';
