/**
 * What a node reports of itself and of its cluster (`status`, `ls` in the REPL, kvctl status and
 * members): the Raft core's view (RawNode.status()) joined with the address book and the storage's
 * indexes. Match indexes are known only on the leader (its progress tracker).
 */
import type { Transport } from './transport.js';
import type { RawNode } from '../raft/raw-node.js';
import type { NodeId, Role } from '../raft/types.js';
import type { AddressBook } from './membership.js';

export interface MemberInfo {
  id: NodeId;
  address: string | undefined;
  role: 'leader' | 'follower' | 'learner';
  /** Highest log index known replicated on that member (known only on the leader). */
  match: number | undefined;
  isSelf: boolean;
  /**
   * Milliseconds since this node last received a Raft message from that member; undefined if it
   * never did since it started. On the leader every member answers heartbeats, so this is each
   * member's reachability; a follower hears from the leader only.
   */
  lastContactMs: number | undefined;
}

export interface NodeStatus {
  id: NodeId;
  address: string;
  clusterId: string;
  term: number;
  role: Role;
  leader: NodeId;
  leaderAddress: string | undefined;
  commit: number;
  applied: number;
  logFirstIndex: number;
  logLastIndex: number;
  snapshotIndex: number;
  snapshotTerm: number;
  voters: NodeId[];
  learners: NodeId[];
  /** "host:port" of this node's etcd v3 API; absent if it serves none. */
  etcdAddress?: string;
}

type CoreStatus = ReturnType<RawNode['status']>;

/** What the core does not know: this node's address, cluster, and storage indexes. */
export interface LocalStatus {
  id: NodeId;
  address: string;
  clusterId: string;
  /** The state machine's applied index; undefined while a snapshot replaces it (the core's is used). */
  applied: number | undefined;
  logFirstIndex: number;
  logLastIndex: number;
  snapshotIndex: number;
  snapshotTerm: number;
  etcdAddress: string | undefined;
}

export function nodeStatus(st: CoreStatus, book: AddressBook, local: LocalStatus): NodeStatus {
  return {
    id: local.id,
    address: local.address,
    clusterId: local.clusterId,
    term: st.term,
    role: st.role,
    leader: st.lead,
    leaderAddress: st.lead === 0 ? undefined : book.get(st.lead),
    commit: st.commit,
    applied: local.applied ?? st.applied,
    logFirstIndex: local.logFirstIndex,
    logLastIndex: local.logLastIndex,
    snapshotIndex: local.snapshotIndex,
    snapshotTerm: local.snapshotTerm,
    voters: [...st.conf.voters].sort((a, b) => a - b),
    learners: [...st.conf.learners].sort((a, b) => a - b),
    ...(local.etcdAddress === undefined ? {} : { etcdAddress: local.etcdAddress }),
  };
}

/** The members of the core's configuration, by id; `lastHeardAt` is the wall time of the last message from a member. */
export function memberList(st: CoreStatus, book: AddressBook, selfId: NodeId, lastHeardAt: ReadonlyMap<NodeId, number>, nowMs: number): MemberInfo[] {
  const out: MemberInfo[] = [];
  const add = (id: NodeId, learner: boolean): void => {
    out.push({
      id,
      address: book.get(id),
      role: id === st.lead ? 'leader' : learner ? 'learner' : 'follower',
      match: st.progress?.get(id)?.match,
      isSelf: id === selfId,
      lastContactMs: id === selfId || !lastHeardAt.has(id) ? undefined : Math.max(0, nowMs - lastHeardAt.get(id)!),
    });
  };
  for (const id of st.conf.voters) add(id, false);
  for (const id of st.conf.learners) add(id, true);
  return out.sort((a, b) => a.id - b.id);
}

/**
 * KvNode.stats(): counters for tests and the bench. appliedOnStart: the state tree's durable
 * applied index when the node started; replayedEntries: entries of the log re-applied since
 * (replay-progress.ts), replayMs the time it took (undefined while it goes on); storageOpenMs: the
 * time opening the data directory took before (the log tree's WAL replay and log scan among it);
 * stateFlushes: background flushes of the state tree started, stateFlushWaits: times the loop
 * waited for one (state-flush.ts).
 */
export interface NodeStats {
  snapshotsSent: number;
  snapshotsInstalled: number;
  readyTurns: number;
  logSyncs: number;
  transport: ReturnType<Transport['stats']>;
  appliedOnStart: number;
  replayedEntries: number;
  replayMs: number | undefined;
  storageOpenMs: number;
  stateFlushes: number;
  stateFlushWaits: number;
}
