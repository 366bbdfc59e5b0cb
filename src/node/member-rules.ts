/**
 * The checks etcd makes before a membership change that adds a member first and starts it later
 * (etcd's server/etcdserver/server.go AddMember/PromoteMember with --strict-reconfig-check, and
 * api/membership/cluster.go IsReadyToAddVotingMember / ValidateConfigurationChange), over the
 * leader's view of the Raft configuration and its progress tracker:
 *
 *   newMemberId       the id MemberAdd gives: above every id the cluster has ever had
 *   addVoterRefusal   the strict check: a voter that is not running yet must not cost the quorum
 *   promoteRefusal    only a learner, and only one in sync with the leader, may become a voter
 *
 * "Started" (etcd: a member that published its attributes) is, on the leader, a member that has
 * acknowledged at least one entry: its progress match is above 0 (the leader itself counts). A new
 * member's progress starts at match 0 (src/raft/raft.ts applyConfChange), so a member added but
 * never started is not counted until it answers.
 *
 * Unlike etcd, the strict check has no exception for a one-member cluster: etcd lets a single
 * member add a second voter (quorum 2 with one member running, for its v2 restore procedure); here
 * that is refused like any other add that leaves fewer started voters than the new quorum, since
 * the cluster could commit nothing (not even the removal of the member) until it starts.
 */
import { LsmraftError, type LsmraftErrorCode } from '../errors.js';
import type { ConfState, NodeId } from '../raft/types.js';

/** A membership change the cluster refuses (etcd's membership errors); `code` says which. */
export class MemberChangeRefusedError extends LsmraftError {
  constructor(code: LsmraftErrorCode, message: string) {
    super(code, message);
  }
}

/** Largest node id (ids are safe integers; the etcd API shows them as uint64). */
export const NODE_ID_MAX = Number.MAX_SAFE_INTEGER;

/**
 * The id for a new member: one above both the highest id the cluster ever configured (the state
 * machine's high-water mark, `memberIdMax`, kept in the replicated state: state-machine.ts) and
 * every member of `conf` (the first member of a cluster was never added by a conf change).
 */
export function newMemberId(memberIdMax: number, conf: ConfState): NodeId {
  let max = memberIdMax;
  for (const id of [...conf.voters, ...conf.learners]) if (id > max) max = id;
  if (max >= NODE_ID_MAX) throw new MemberChangeRefusedError('KV_ERR_MEMBERSHIP', `no node id is left above ${max}`);
  return max + 1;
}

/** Whether a member counts as started on the leader `selfId` (see the header). */
function started(id: NodeId, selfId: NodeId, match: ReadonlyMap<NodeId, number>): boolean {
  return id === selfId || (match.get(id) ?? 0) > 0;
}

/**
 * Why adding one more voter, not yet started, must be refused by the strict check, or undefined.
 * As etcd's IsReadyToAddVotingMember: with the new voter counted, the started voters must still
 * be a quorum.
 */
export function addVoterRefusal(conf: ConfState, selfId: NodeId, match: ReadonlyMap<NodeId, number>): string | undefined {
  const voters = conf.voters.length + 1;
  const startedVoters = conf.voters.filter((v) => started(v, selfId, match)).length;
  const quorum = Math.floor(voters / 2) + 1;
  if (startedVoters >= quorum) return undefined;
  return `${startedVoters} of ${voters} voters would be started, a quorum needs ${quorum}`;
}

/**
 * Share of the leader's log a learner must hold to be promoted (etcd's readyPercent in
 * server.go isLearnerReady: 0.9).
 */
export const PROMOTE_READY_FRACTION = 0.9;

/**
 * Why learner `id` must not be promoted now, or undefined. The refusal's code says which etcd
 * error it is: not a member, not a learner, or not in sync with the leader (its match below
 * PROMOTE_READY_FRACTION of the leader's), or the strict check (promoting it would leave the
 * started voters short of the new quorum).
 */
export function promoteRefusal(conf: ConfState, id: NodeId, selfId: NodeId, match: ReadonlyMap<NodeId, number>): MemberChangeRefusedError | undefined {
  if (conf.voters.includes(id)) return new MemberChangeRefusedError('KV_ERR_MEMBER_NOT_LEARNER', `node ${id} is a voter, not a learner`);
  if (!conf.learners.includes(id)) return new MemberChangeRefusedError('KV_ERR_MEMBER_NOT_FOUND', `node ${id} is not a member`);
  const leaderMatch = match.get(selfId) ?? 0;
  const learnerMatch = match.get(id) ?? 0;
  if (learnerMatch === 0 || learnerMatch < leaderMatch * PROMOTE_READY_FRACTION) {
    return new MemberChangeRefusedError('KV_ERR_LEARNER_NOT_READY', `learner ${id} holds the log to ${learnerMatch}, the leader to ${leaderMatch}`);
  }
  const voters = conf.voters.length + 1;
  const startedVoters = conf.voters.filter((v) => started(v, selfId, match)).length + 1;
  if (startedVoters < Math.floor(voters / 2) + 1) {
    return new MemberChangeRefusedError('KV_ERR_NOT_ENOUGH_STARTED', `promoting node ${id} leaves ${startedVoters} of ${voters} voters started`);
  }
  return undefined;
}
