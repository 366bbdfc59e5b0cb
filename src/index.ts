// lsmraft's public API. Everything a user can import comes from here.

// The embedded LSM engine, also importable alone as 'lsmraft/lsm' (lsm.ts: without the node,
// gRPC and the rest, for a program that only embeds the tree).
export * from './lsm.js';

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
