/**
 * KvNode's options: what a user may set, the defaults, and their validation at the edge; and the
 * fixed limits of the node's transport and of the Raft core's flow control. Timing defaults: ticks
 * of 10 ms, an election timeout randomized in 150-300 ms (15 ticks, doubled at most by the core's
 * randomization), heartbeats every 50 ms.
 */
import { parseAutoCompaction, type AutoCompaction, type AutoCompactionMode } from './auto-compaction.js';
import { BACKUP_IDLE_MS, BACKUPS_PENDING_MAX } from './snapshot/backup-source.js';
import { InvalidArgumentError } from '../errors.js';
import type { EngineName } from '../engine/types.js';
import type { FileSystem } from '../lsm/fs.js';
import { nodeFileSystem } from '../lsm/node-fs.js';
import { SPACE_CHECK_MS_DEFAULT } from './space-alarm.js';
import type { LsmTreeOptions } from '../lsm/options.js';
import { sharedJobPool } from '../pool/job-pool.js';
import type { RaftConfig } from '../raft/config.js';
import { TRANSFER_DEFAULTS, type TransferOptions } from './snapshot/sender.js';
import { parseAddress } from './address.js';
import { nodeLogger, type Logger, type LogLevel } from './node-logger.js';
import { resolveNodeTls, type NodeTls, type NodeTlsOptions } from './tls-options.js';

const MiB = 1024 * 1024;
/** Bound on one wire frame: a whole append of APPEND_BYTES_MAX fits, with room to spare. */
export const FRAME_BYTES_MAX = 64 * MiB;
/** Per-peer send queue bounds (frames dropped past them; Raft resends what matters). */
export const PEER_QUEUE_FRAMES_MAX = 4096;
export const PEER_QUEUE_BYTES_MAX = 64 * MiB;
/** Reconnect backoff to a peer: fast first retries (failover), capped well under an election timeout x2. */
export const RECONNECT_DELAY_MS_MIN = 20;
export const RECONNECT_DELAY_MS_MAX = 500;
export const PEER_CONNECT_TIMEOUT_MS = 500;
/** A node leaderless for 3 s asks its peers whether it is still a member (removal-watch.ts). */
export const REMOVAL_WATCH = { checkEveryMs: 500, leaderlessMsMin: 3000, askTimeoutMs: 1000 } as const;
/** Raft flow control (RaftConfig): bytes of entries per append message, appends and bytes in flight per follower. */
export const APPEND_BYTES_MAX = 1 * MiB;
export const APPENDS_IN_FLIGHT_MAX = 256;
export const APPEND_BYTES_IN_FLIGHT_MAX = 32 * MiB;
/** Default of KvNodeOptions.stateFlushEntriesMax: half the default snapshotEntries. */
export const STATE_FLUSH_ENTRIES_DEFAULT = 50_000;
/** Proposals a leader holds uncommitted before it refuses more (memory bound during a stall). */
export const UNCOMMITTED_BYTES_MAX = 256 * MiB;

/**
 * The TLS options (NodeTlsOptions: certFile, keyFile, trustedCaFile, clientCertAuth, peerCertFile,
 * peerKeyFile, peerTrustedCaFile, as etcd's flags) are described in tls-options.ts; without them
 * the node speaks plain text.
 */
export interface KvNodeOptions extends NodeTlsOptions {
  /** This node's id, a positive integer unique in the cluster. */
  id: number;
  /** "host:port" to listen on and to announce to peers; port 0 picks a free port (see address). */
  address: string;
  /**
   * "host:port" to listen on when it differs from `address` (peers reach this node through a
   * proxy or a NAT at `address`); port 0 picks a free port. `address` then needs a real port.
   */
  listenAddress?: string;
  dataDir: string;
  /** Hot-path twin of both LSM trees. Default 'wasm'. */
  engine?: EngineName;
  /** Length of one Raft tick. Default 10 ms. */
  tickMs?: number;
  /** Election timeout, randomized in [electionTicks, 2 * electionTicks) ticks. Default 15 (150-300 ms). */
  electionTicks?: number;
  /** Heartbeat interval in ticks. Default 5 (50 ms). */
  heartbeatTicks?: number;
  /** Applied entries between snapshots (log compaction). Default 100_000 (etcd's SnapshotCount). */
  snapshotEntries?: number;
  /** Entries kept in the log behind a snapshot, so a briefly lagging follower needs no snapshot. Default 5_000 (etcd's). */
  compactKeepEntries?: number;
  /**
   * Applied entries past the state tree's durable applied index that start a flush of it in the
   * background (state-flush.ts): a restart re-applies about this many entries at most, instead of
   * everything since the last snapshot or full memtable. Default 50_000.
   */
  stateFlushEntriesMax?: number;
  /** Deadline of one request (waiting for a leader included). Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Bound on requests waiting at once. Default 65_536. */
  pendingRequestsMax?: number;
  /** Worker pool of both trees (see LsmTreeOptions.workerPool). Default { maxThreads: 1 }. */
  workerPool?: LsmTreeOptions['workerPool'];
  /**
   * Memtable size of both trees. Default NODE_MEMTABLE_BYTES_DEFAULT (16 MiB), a quarter of a
   * lone tree's: a node holds two trees, and a flush holds up to ~3.8 memtables at once
   * (docs/lsm-options.md, "Memory"), so the default bounds the memtables of a node near 120 MiB.
   */
  memtableBytesMax?: number;
  /** Snapshot streaming; defaults in snapshot/sender.ts (TRANSFER_DEFAULTS). */
  snapshotTransfer?: Partial<TransferOptions>;
  /** Client backups (snapshot/backup-source.ts): pending at once. Default 4. */
  backupsPendingMax?: number;
  /** A pending backup no client pulled from for this long is deleted. Default 60_000 ms. */
  backupIdleMs?: number;
  /**
   * Where the node stores everything (identity, address book, state pointer, snapshots, log and
   * state trees). Default: the real file system. The crashable in-memory one (src/lsm/mem-fs.ts)
   * needs workerPool: false (workers do not share this process's memory).
   */
  fs?: FileSystem;
  /** Randomness of election timeouts and backoff. Default Math.random. */
  random?: () => number;
  /**
   * Structured logs (node-logger.ts): this pino logger, made a child with the node's id. Without
   * it, `logLevel` alone logs to stderr (JSON, or pretty on a terminal); with neither (nor `log`),
   * the node logs nothing.
   */
  logger?: Logger;
  /** trace, debug, info, warn, error, fatal or silent. Default: the logger's level, else info. */
  logLevel?: LogLevel;
  /**
   * The wall clock (ms since the epoch) this node stamps into the commands it appends as leader:
   * the log time of client session expiry (session-table.ts). Default Date.now.
   */
  clockMs?: () => number;
  /** Older interface: each log record's message as a line. Ignored when `logger` is given. */
  log?: (line: string) => void;
  /**
   * "host:port" of an HTTP server for /metrics, /health and /ready (http-status.ts); port 0 picks a
   * free port (see KvNode.metricsAddress). Default: none.
   */
  metricsAddress?: string;
  /**
   * "host:port" of the etcd v3 gRPC API (src/etcd/server.ts, which must be loaded: the package root
   * loads it); port 0 picks a free port (see KvNode.etcdAddress). Default: none.
   */
  etcdAddress?: string;
  /**
   * etcd's --initial-cluster-state, for the first start of a data directory: 'new' (default) makes
   * a one-member cluster; 'existing' makes a member that waits, in no cluster, for the leader of a
   * cluster that already added it (etcd's MemberAdd, src/etcd/cluster-service.ts) to contact it.
   * Ignored when the data directory exists already.
   */
  initialClusterState?: 'new' | 'existing';
  /**
   * Auto-compaction of the MVCC history (auto-compaction.ts, etcd's `--auto-compaction-mode`):
   * 'periodic' (default) keeps `autoCompactionRetention` of time, 'revision' that many revisions.
   */
  autoCompactionMode?: AutoCompactionMode;
  /** A duration for periodic ("1h", "30m"; a bare number is hours), a count for revision; "0": off. Default "1h". */
  autoCompactionRetention?: string;
  /** How often the compactor checks (default: min(retention, 1h)/10 for periodic, as etcd samples; 5 min for revision, etcd's period). */
  autoCompactionCheckMs?: number;
  /**
   * etcd's --quota-backend-bytes: once the state tree holds more bytes, this member raises a
   * NOSPACE alarm and the cluster refuses writes that take space (space-alarm.ts). 0 (default):
   * no quota (etcd's default is 2 GiB). A disk that fills raises the same alarm either way.
   */
  quotaBackendBytes?: number;
  /** How often the space alarm looks at the trees (default 500 ms). */
  spaceCheckMs?: number;
  /** The node stopped on an error it cannot recover from (an IO failure). Default: log it. */
  onFatal?: (err: unknown) => void;
  /**
   * This node applied its own removal from the cluster: every request now fails at once with
   * KV_ERR_REMOVED; the caller should stop() it. Default: nothing.
   */
  onRemoved?: () => void;
}

export interface ResolvedNodeOptions {
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEntries: number;
  compactKeepEntries: number;
  stateFlushEntriesMax: number;
  requestTimeoutMs: number;
  pendingRequestsMax: number;
  fs: FileSystem;
  /** Options of both trees (their `fs` is `fs`). */
  tree: Omit<LsmTreeOptions, 'wal'>;
  transfer: TransferOptions;
  backup: { pendingMax: number; idleMs: number };
  random: () => number;
  /** The node's logger (its records carry `node`). */
  logger: Logger;
  metricsAddress: string | undefined;
  etcdAddress: string | undefined;
  initialClusterState: 'new' | 'existing';
  autoCompaction: AutoCompaction;
  quotaBackendBytes: number;
  spaceCheckMs: number;
  /** The port's TLS and that of dials to other nodes; undefined: plain text. */
  tls: NodeTls | undefined;
  clockMs: () => number;
  onFatal: (err: unknown) => void;
  onRemoved: () => void;
}

function intOpt(name: string, v: number | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`option ${name} must be an integer in [${min}, ${max}], got ${String(v)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  return v;
}

/** Memtable bytes of each of a node's two trees unless memtableBytesMax says otherwise. */
export const NODE_MEMTABLE_BYTES_DEFAULT = 16 * 1024 * 1024;
/** Byte target of the base level of a node's trees with the default memtable (4 memtables). */
export const NODE_BASE_LEVEL_BYTES_DEFAULT = 4 * NODE_MEMTABLE_BYTES_DEFAULT;

export function resolveNodeOptions(o: KvNodeOptions): ResolvedNodeOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options must be an object', 'KV_ERR_INVALID_ARGUMENT');
  intOpt('id', o.id, 0, 1, Number.MAX_SAFE_INTEGER);
  if (typeof o.dataDir !== 'string' || o.dataDir.length === 0) throw new InvalidArgumentError('option dataDir must be a non-empty string', 'KV_ERR_INVALID_ARGUMENT');
  if (typeof o.address !== 'string') throw new InvalidArgumentError('option address must be "host:port"', 'KV_ERR_INVALID_ARGUMENT');
  parseAddress(o.address);
  if (o.listenAddress !== undefined) {
    if (typeof o.listenAddress !== 'string') throw new InvalidArgumentError('option listenAddress must be "host:port"', 'KV_ERR_INVALID_ARGUMENT');
    parseAddress(o.listenAddress);
    if (parseAddress(o.address).port === 0) throw new InvalidArgumentError('option address needs a port when listenAddress is set', 'KV_ERR_INVALID_ARGUMENT');
  }
  if (o.engine !== undefined && o.engine !== 'wasm' && o.engine !== 'js') {
    throw new InvalidArgumentError(`option engine must be 'wasm' or 'js', got ${String(o.engine)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  const electionTicks = intOpt('electionTicks', o.electionTicks, 15, 2, 100_000);
  const heartbeatTicks = intOpt('heartbeatTicks', o.heartbeatTicks, 5, 1, electionTicks - 1);
  if (o.metricsAddress !== undefined) {
    if (typeof o.metricsAddress !== 'string') throw new InvalidArgumentError('option metricsAddress must be "host:port"', 'KV_ERR_INVALID_ARGUMENT');
    parseAddress(o.metricsAddress);
  }
  if (o.etcdAddress !== undefined) {
    if (typeof o.etcdAddress !== 'string') throw new InvalidArgumentError('option etcdAddress must be "host:port"', 'KV_ERR_INVALID_ARGUMENT');
    parseAddress(o.etcdAddress);
  }
  if (o.initialClusterState !== undefined && o.initialClusterState !== 'new' && o.initialClusterState !== 'existing') {
    throw new InvalidArgumentError(`option initialClusterState must be 'new' or 'existing', got ${String(o.initialClusterState)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  // Certificate files are real files whatever `fs` is: read once, here, so a bad one fails the start.
  const tls = resolveNodeTls(o);
  const logger = nodeLogger(o, o.id);
  const fs = o.fs ?? nodeFileSystem;
  // The node's trees share the process's worker pool (used when the file system's files are
  // reachable from worker threads: a real directory).
  const tree: Omit<LsmTreeOptions, 'wal'> = { fs, engine: o.engine ?? 'wasm', workerPool: o.workerPool ?? { maxThreads: 1 }, jobPool: sharedJobPool };
  tree.memtableBytesMax = o.memtableBytesMax ?? NODE_MEMTABLE_BYTES_DEFAULT;
  // The base level keeps the tree's ratio to the memtable (l0CompactionTrigger x memtable).
  if (o.memtableBytesMax === undefined) tree.l1MaxBytes = NODE_BASE_LEVEL_BYTES_DEFAULT;
  return {
    tickMs: intOpt('tickMs', o.tickMs, 10, 1, 60_000),
    electionTicks,
    heartbeatTicks,
    snapshotEntries: intOpt('snapshotEntries', o.snapshotEntries, 100_000, 1, Number.MAX_SAFE_INTEGER),
    compactKeepEntries: intOpt('compactKeepEntries', o.compactKeepEntries, 5_000, 0, Number.MAX_SAFE_INTEGER),
    stateFlushEntriesMax: intOpt('stateFlushEntriesMax', o.stateFlushEntriesMax, STATE_FLUSH_ENTRIES_DEFAULT, 1, Number.MAX_SAFE_INTEGER),
    requestTimeoutMs: intOpt('requestTimeoutMs', o.requestTimeoutMs, 5_000, 1, 3_600_000),
    pendingRequestsMax: intOpt('pendingRequestsMax', o.pendingRequestsMax, 65_536, 1, 10_000_000),
    fs,
    tree,
    transfer: { ...TRANSFER_DEFAULTS, ...o.snapshotTransfer },
    backup: {
      pendingMax: intOpt('backupsPendingMax', o.backupsPendingMax, BACKUPS_PENDING_MAX, 1, 1_000),
      idleMs: intOpt('backupIdleMs', o.backupIdleMs, BACKUP_IDLE_MS, 1, 86_400_000),
    },
    random: o.random ?? Math.random,
    logger,
    clockMs: o.clockMs ?? Date.now,
    metricsAddress: o.metricsAddress,
    etcdAddress: o.etcdAddress,
    initialClusterState: o.initialClusterState ?? 'new',
    autoCompaction: parseAutoCompaction(o.autoCompactionMode ?? 'periodic', o.autoCompactionRetention ?? '1h', o.autoCompactionCheckMs),
    quotaBackendBytes: intOpt('quotaBackendBytes', o.quotaBackendBytes, 0, 0, Number.MAX_SAFE_INTEGER),
    spaceCheckMs: intOpt('spaceCheckMs', o.spaceCheckMs, SPACE_CHECK_MS_DEFAULT, 1, 3_600_000),
    onRemoved: o.onRemoved ?? (() => {}),
    tls,
    onFatal: o.onFatal ?? ((err) => logger.fatal({ err }, 'node stopped on an error')),
  };
}

/** The Raft core's configuration for node `id`, whose state is applied up to `appliedIndex`. */
export function raftConfig(id: number, opts: ResolvedNodeOptions, appliedIndex: number): RaftConfig {
  return {
    id,
    electionTicks: opts.electionTicks,
    heartbeatTicks: opts.heartbeatTicks,
    random: opts.random,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes: APPEND_BYTES_MAX,
    maxInflightMsgs: APPENDS_IN_FLIGHT_MAX,
    maxInflightBytes: APPEND_BYTES_IN_FLIGHT_MAX,
    maxUncommittedEntriesBytes: UNCOMMITTED_BYTES_MAX,
    readOnlyOption: 'safe',
    appliedIndex,
  };
}
