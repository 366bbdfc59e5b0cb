/**
 * NodeEtcd: what the etcd v3 API (src/etcd: the gRPC services, the watch hub, the lessor) needs of
 * a node, as one facade (KvNode.etcd), so src/etcd never reaches into the node's parts:
 *
 *   propose(write)          an etcd write through Raft (forwarded by a follower like any proposal);
 *                           resolves with the applied outcome on this node (revision, response)
 *   range(req, serializable) a Range: linearizable (ReadIndex barrier first) unless serializable
 *   readTxn(txn)            a txn that writes nothing, linearizable by ReadIndex, not through Raft
 *   onApplied(listener)     every revision applied on this node, in order, on every replica; the
 *                           listener runs synchronously after the apply batch is in the tree
 *   readEvents(...)         the retained history (src/mvcc/store.ts readEvents)
 *   onLeaseApplied(listener) every lease grant, revoke and checkpoint applied on this node, in
 *                           order (the lessor, src/etcd/lessor.ts, follows them on the leader)
 *   currentRevision, compactRevision, leases(), lease(id)   the applied state
 *   alarms(), alarm(action, member)   etcd's alarms (src/mvcc/alarms.ts): listed after a ReadIndex
 *                           barrier, changed through Raft; this member raises its own NOSPACE
 *                           alarm when out of space (space-alarm.ts)
 *   hash(), hashKv(rev)     CRC32Cs of this replica's applied state (src/mvcc/store.ts)
 *   header()                cluster id, member id and Raft term for etcd's ResponseHeader
 *
 * After a snapshot install the state (and its revision) jumps: listeners see no events for the
 * revisions the snapshot brought; they compare currentRevision with the last revision they saw.
 *
 * The gRPC server itself lives above the node (src/etcd/server.ts); it registers its starter here
 * (registerEtcdApi) when loaded, so KvNode.start({ etcdAddress }) can start it without the node
 * importing upward.
 */
import { AutoCompactor, type AutoCompaction } from './auto-compaction.js';
import { InvalidArgumentError } from '../errors.js';
import type { TreeStats } from '../lsm/db.js';
import { noSpaceError, type AlarmMember } from '../mvcc/alarms.js';
import type { MvccApplied } from '../mvcc/apply.js';
import { takesSpace, type MvccWrite, type MvccWriteResponse, type RangeRequest, type RangeResponse, type TxnRequest } from '../mvcc/requests.js';
import type { LeaseInfo } from '../mvcc/store.js';
import type { RevisionEvents } from '../mvcc/types.js';
import { assert } from '../util/assert.js';
import type { BackupInfo } from './snapshot/backup-source.js';
import type { MemberInfo, NodeStatus } from './node-status.js';
import type { RequestPath } from './request-path.js';
import { SpaceAlarm } from './space-alarm.js';
import type { ApplyResult, KvStateMachine } from './state-machine.js';

export interface EtcdHeader {
  clusterId: bigint;
  memberId: bigint;
  raftTerm: number;
}

export type RevisionListener = (batch: RevisionEvents) => void;

/** A lease command as applied (the lessor of src/etcd/lessor.ts follows them). */
export type LeaseApplied =
  | { kind: 'grant'; id: bigint; ttlSeconds: number }
  | { kind: 'revoke'; id: bigint }
  | { kind: 'checkpoint'; id: bigint; remainingTtlSeconds: number };

/** A running etcd API server, as the node holds it. */
export interface EtcdApiServer {
  /** "host:port" it listens on (the port the system picked for port 0). */
  readonly address: string;
  close(): Promise<void>;
}

/** What the etcd API uses of a node (KvNode has all of it). */
export interface EtcdNode {
  readonly id: number;
  readonly etcd: NodeEtcd;
  readonly leader: { id: number; address: string } | undefined;
  status(): NodeStatus;
  members(): MemberInfo[];
  /** The etcd API address of every member that serves one, by id. */
  memberEtcdAddresses(): Promise<Map<number, string>>;
  removeMember(id: number): Promise<void>;
  /** etcd's MemberAdd order: the member is committed first and started later; resolves with its id. */
  addMemberFirst(address: string, learner: boolean): Promise<number>;
  promoteMember(id: number): Promise<void>;
  updateMember(id: number, address: string): Promise<void>;
  transferLeadership(id: number): Promise<void>;
  /** A consistent backup (snapshot/backup-source.ts): begin, pull chunks, end. */
  backupBegin(): Promise<BackupInfo>;
  backupChunk(id: string, fileIndex: number, offset: number, bytesMax: number): Uint8Array;
  backupEnd(id: string): void;
}

/** Starts the etcd API of `node` on `address`. */
export type EtcdApiStarter = (node: EtcdNode, address: string) => Promise<EtcdApiServer>;

let starter: EtcdApiStarter | undefined;

/** Called by src/etcd/server.ts when it loads. */
export function registerEtcdApi(start: EtcdApiStarter): void {
  starter = start;
}

export function etcdApiStarter(): EtcdApiStarter {
  if (starter === undefined) {
    throw new InvalidArgumentError('option etcdAddress needs the etcd API loaded: import the package root (or src/etcd/server.js)', 'KV_ERR_INVALID_ARGUMENT');
  }
  return starter;
}

/** Bound on onApplied listeners per node (each watch stream registers one at most). */
export const REVISION_LISTENERS_MAX = 10_000;

export class NodeEtcd {
  private readonly listeners = new Set<RevisionListener>();
  private readonly leaseListeners = new Set<(op: LeaseApplied) => void>();
  private server: EtcdApiServer | undefined;
  private readonly compactor: AutoCompactor;
  private readonly spaceAlarm: SpaceAlarm;

  constructor(
    private readonly h: {
      stateMachine: () => KvStateMachine;
      path: RequestPath;
      header: () => EtcdHeader;
      autoCompaction: AutoCompaction;
      /** Whether this node is the running leader (only the leader proposes auto-compactions). */
      isLeader: () => boolean;
      log: (line: string) => void;
      fatal: (err: unknown) => void;
      /** The node's two trees (the space alarm watches their background errors). */
      trees: () => Array<{ tree: 'log' | 'state'; stats: TreeStats }>;
      /** etcd's --quota-backend-bytes: state tree bytes that raise a NOSPACE alarm; 0: none. */
      quotaBackendBytes: number;
      spaceCheckMs: number;
    },
  ) {
    this.compactor = new AutoCompactor(h.autoCompaction, {
      isLeader: h.isLeader,
      currentRevision: () => this.currentRevision,
      compactRevision: () => this.compactRevision,
      compact: async (revision) => {
        await this.propose({ type: 'compact', revision });
      },
      log: h.log,
      fatal: h.fatal,
    });
    this.spaceAlarm = new SpaceAlarm({
      trees: h.trees,
      dbSizeBytes: () => this.dbSizeBytes(),
      quotaBackendBytes: h.quotaBackendBytes,
      checkMs: h.spaceCheckMs,
      active: () => this.appliedAlarms().some((a) => a.alarm === 'NOSPACE' && a.memberId === this.h.header().memberId),
      raise: async () => {
        await this.alarm('activate', { memberId: this.h.header().memberId, alarm: 'NOSPACE' });
      },
      log: h.log,
      fatal: h.fatal,
    });
  }

  /** Starts the auto-compactor (auto-compaction.ts) and the space alarm; the node calls it once running. */
  startUpkeep(): void {
    this.compactor.start();
    this.spaceAlarm.start();
  }

  /** Starts the etcd API server (src/etcd/server.ts) of `node` on `address`. */
  async serve(node: EtcdNode, address: string): Promise<void> {
    this.server = await etcdApiStarter()(node, address);
  }

  /** "host:port" the server listens on, if started. */
  get address(): string | undefined {
    return this.server?.address;
  }

  /** Stops the auto-compactor and closes the server, if started (KvNode.stop). */
  async close(): Promise<void> {
    this.compactor.stop();
    this.spaceAlarm.stop();
    await this.server?.close();
  }

  header(): EtcdHeader {
    return this.h.header();
  }

  get currentRevision(): number {
    return this.h.stateMachine().mvcc.revision;
  }

  get compactRevision(): number {
    return this.h.stateMachine().mvcc.compactRevision;
  }

  /** Whether this replica's applied state still has physical compaction steps to take. */
  get compactionPending(): boolean {
    return this.h.stateMachine().mvcc.compactionPending;
  }

  /**
   * Proposes an etcd write; rejects with the MvccError the apply refused it with. A write that
   * takes space while this member knows a NOSPACE alarm is refused here, before it reaches the
   * Raft log (as etcd's quota check refuses before proposing): a full disk is not filled further
   * with entries the apply would refuse anyway. The apply still decides (src/mvcc/apply.ts).
   */
  async propose(write: MvccWrite): Promise<MvccApplied> {
    if (takesSpace(write) && this.h.stateMachine().mvcc.noSpaceAlarm) throw noSpaceError();
    const outcome = await this.h.path.proposeCommand((p) => ({ type: 'etcd', write, ...p }));
    assert(outcome?.etcd !== undefined, 'an etcd write was applied without an outcome');
    return outcome.etcd;
  }

  /**
   * A txn that writes nothing, served here after a ReadIndex barrier (src/mvcc/store.ts readTxn);
   * undefined when this replica is mid-apply and the txn must go through Raft (propose) instead.
   */
  async readTxn(txn: TxnRequest): Promise<MvccApplied | undefined> {
    await this.h.path.readBarrier();
    return this.h.stateMachine().mvcc.readTxn(txn);
  }

  async range(req: RangeRequest, serializable: boolean): Promise<{ revision: number; response: RangeResponse }> {
    if (!serializable) await this.h.path.readBarrier();
    return this.h.stateMachine().mvcc.range(req);
  }

  async readEvents(fromRevision: number, toRevision: number, key: Uint8Array, rangeEnd: Uint8Array | undefined, countMax: number): Promise<RevisionEvents[]> {
    return this.h.stateMachine().mvcc.readEvents(fromRevision, toRevision, key, rangeEnd, countMax);
  }

  /** Bytes of the state tree (tables and memtables): etcd's dbSize. */
  dbSizeBytes(): number {
    const st = this.h.stateMachine().lsm.stats();
    return st.levels.reduce((n, l) => n + l.bytes, 0) + st.memtable.bytes + st.memtable.immutableBytes;
  }

  /** Every active alarm of the cluster (etcd's Alarm GET), after a ReadIndex barrier. */
  async alarms(): Promise<AlarmMember[]> {
    await this.h.path.readBarrier();
    return this.appliedAlarms();
  }

  /** Every active alarm as this member applied them (no barrier: etcd's Status lists these). */
  appliedAlarms(): AlarmMember[] {
    return this.h.stateMachine().mvcc.alarms();
  }

  /** Activates or deactivates an alarm through Raft; resolves with the alarms it changed (etcd's AlarmResponse). */
  async alarm(action: 'activate' | 'deactivate', member: AlarmMember): Promise<AlarmMember[]> {
    const applied = await this.propose({ type: 'alarm', action, member });
    assert(applied.response.type === 'alarm', 'an alarm command answered by another kind');
    return applied.response.alarms;
  }

  /** etcd's Hash of this replica's applied state: a CRC32C of the whole state tree (src/mvcc/store.ts). */
  hash(): { revision: number; hash: number } {
    return this.h.stateMachine().mvcc.hash();
  }

  /** etcd's HashKV of this replica's applied state (src/mvcc/store.ts). */
  hashKv(revision: number): { revision: number; hash: number; compactRevision: number } {
    return this.h.stateMachine().mvcc.hashKv(revision);
  }

  leases(): LeaseInfo[] {
    return this.h.stateMachine().mvcc.leases();
  }

  lease(id: bigint): (LeaseInfo & { keys: Uint8Array[] }) | undefined {
    return this.h.stateMachine().mvcc.lease(id);
  }

  /** Calls `listener` with every revision applied from now on; returns its removal. */
  onApplied(listener: RevisionListener): () => void {
    if (this.listeners.size >= REVISION_LISTENERS_MAX) throw new InvalidArgumentError(`more than ${REVISION_LISTENERS_MAX} revision listeners`, 'KV_ERR_INVALID_ARGUMENT');
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` with every lease grant, revoke and checkpoint applied from now on, in order. */
  onLeaseApplied(listener: (op: LeaseApplied) => void): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  /** The node applied `results` (in order): tells the listeners their revisions and lease commands. */
  applied(results: readonly ApplyResult[]): void {
    if (this.leaseListeners.size > 0) {
      for (const r of results) {
        const op = 'etcd' in r && r.etcd !== undefined ? leaseAppliedOf(r.etcd.response) : undefined;
        if (op !== undefined) for (const l of this.leaseListeners) l(op);
      }
    }
    if (this.listeners.size === 0) return;
    for (const r of results) {
      if (!('revisions' in r) || r.revisions === undefined) continue;
      for (const batch of r.revisions) for (const l of this.listeners) l(batch);
    }
  }
}

function leaseAppliedOf(r: MvccWriteResponse): LeaseApplied | undefined {
  switch (r.type) {
    case 'leaseGrant':
      return { kind: 'grant', id: r.id, ttlSeconds: r.ttlSeconds };
    case 'leaseRevoke':
      return { kind: 'revoke', id: r.id };
    case 'leaseCheckpoint':
      return { kind: 'checkpoint', id: r.id, remainingTtlSeconds: r.remainingTtlSeconds };
    default:
      return undefined;
  }
}
