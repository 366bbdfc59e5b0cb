// The node runtime's public surface (re-exported from the package root by src/index.ts).
export { KvNode } from './kv-node.js';
export type { KvNodeOptions, KeyInput, MemberInfo, NodeStatus } from './kv-node.js';
export { KvClient } from './kv-client.js';
export type { KvClientOptions } from './kv-client.js';
export type { NodeTlsOptions, ClientTlsOptions } from './tls-options.js';
export { NotLeaderError, MembershipError, NodeStoppedError } from './errors.js';
export type { LeaderInfo } from './errors.js';
export { BadFrameError, RequestTimeoutError, ConnectionClosedError, AddressInUseError, SessionExpiredError, SessionSeqDiscardedError } from './errors.js';
export type { LogLevel, Logger } from './node-logger.js';
export { restoreBackup } from './restore.js';
export type { RestoreOptions, RestoreResult } from './restore.js';
export type { BackupSaveOptions, BackupSaveResult } from './backup-save.js';
