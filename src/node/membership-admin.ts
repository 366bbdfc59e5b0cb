/**
 * Membership administration at the leader (Ongaro's thesis §4.1 single-server changes, as etcd's
 * `member add/remove/promote/update` and `move-leader`). Members join in one of two orders:
 *
 *   handshake first (kvctl add, `addMember`): the JOIN handshake of membership.ts with a running
 *     empty node, then a learner that catches up, then its promotion to voter (thesis §4.2.1);
 *   configuration first (etcd's MemberAdd, `addMemberFirst`): the leader picks a new id
 *     (member-rules.ts), commits the member (a learner, or a voter after etcd's strict check), and
 *     answers; the operator then starts the node with initialClusterState 'existing' (it waits in
 *     no cluster), and whichever node leads finds it waiting and sends it the same JOIN handshake
 *     (contactNewMembers); from then on the leader's snapshot and log bring it up to date. A
 *     learner is made a voter by `promoteMember` (etcd's MemberPromote) once it is in sync.
 *
 * Also: removing a member (the leader hands leadership over before it removes itself), changing a
 * member's address (a conf change of the same role carrying the new address: every member dials
 * it once applied, peers.ts), and leadership transfer. On a follower each request is forwarded to
 * the leader (request-path.ts).
 *
 * What must hold: a conf change is proposed only by a leader that has applied an entry of its own
 * term (thesis §4.1, as etcd), and the configuration-first changes one at a time (`serial`), so the
 * id, the strict check and the duplicate-address check see every change before them; every wait
 * is bounded by a deadline derived from requestTimeoutMs.
 */
import { InvalidArgumentError, LsmraftError } from '../errors.js';
import type { RawNode } from '../raft/raw-node.js';
import type { ConfChange, NodeId } from '../raft/types.js';
import type { ClientResponse } from './codec.js';
import { connectClient, type ClientConnectionOptions } from './client-connection.js';
import { MembershipError, NotLeaderError, type LeaderInfo } from './errors.js';
import { NO_CLUSTER } from './frame.js';
import { formatClusterId } from './identity.js';
import { ADD_CATCH_UP_MS_MIN, addMemberBudgetMs, encodeMemberContext, type AddressBook } from './membership.js';
import { addVoterRefusal, MemberChangeRefusedError, newMemberId, promoteRefusal } from './member-rules.js';
import { parseAddress } from './address.js';
import type { RequestPath } from './request-path.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** What membership administration needs of its node. */
export interface MembershipAdminHost {
  readonly id: NodeId;
  readonly tickMs: number;
  readonly requestTimeoutMs: number;
  readonly book: AddressBook;
  readonly path: RequestPath;
  log(line: string): void;
  checkRunning(): void;
  rawNode(): RawNode;
  kick(): void;
  isLeader(): boolean;
  leaderId(): NodeId;
  leader(): LeaderInfo | undefined;
  clusterId(): bigint;
  /** The address this node advertises. */
  address(): string;
  /** Records a member's address and connects to it. */
  addPeer(id: NodeId, address: string): void;
  /** Term of the last applied entry. */
  appliedTerm(): number;
  /** Options to dial another node at `address`: its peer TLS, if the node has TLS (tls-options.ts). */
  dialNode(address: string): ClientConnectionOptions;
  /** The highest node id any applied conf change named (state-machine.ts memberIdMax). */
  memberIdMax(): number;
}

/** How often the leader asks a member that acknowledged no entry whether it waits to join (contactNewMembers). */
export const NEW_MEMBER_CONTACT_MS = 1000;
/** Bound on the configuration-first changes waiting for the one running (more: KV_ERR_BUSY). */
export const MEMBER_CHANGES_QUEUED_MAX = 16;

/** The leader's progress match index of every member (empty on a follower). */
function matchIndexes(progress: ReadonlyMap<NodeId, { match: number }> | undefined): Map<NodeId, number> {
  const out = new Map<NodeId, number>();
  for (const [id, pr] of progress ?? []) out.set(id, pr.match);
  return out;
}

export class MembershipAdmin {
  /** The configuration-first change running, if any: the next one waits for it. */
  private serial: Promise<unknown> = Promise.resolve();
  private serialCount = 0;
  /** When the leader last sent a JOIN to each new member, and the ones in flight. */
  private readonly contactedAt = new Map<NodeId, number>();
  private readonly contacting = new Set<NodeId>();

  constructor(private readonly h: MembershipAdminHost) {}

  /**
   * Adds node `id` listening at `address` as a voter. On a follower the request is forwarded to the
   * leader. The target must be an empty node (see membership.ts, the JOIN handshake); otherwise this
   * fails with KV_ERR_MEMBERSHIP naming the reason.
   */
  async addMember(id: NodeId, address: string): Promise<void> {
    this.h.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    parseAddress(address);
    if (!this.h.isLeader()) {
      await this.h.path.forwardToLeader({ op: 'addMember', nodeId: id, address }, addMemberBudgetMs(this.h.requestTimeoutMs));
      return;
    }
    const st = this.h.rawNode().status();
    if (st.conf.voters.includes(id)) throw new MembershipError(`node ${id} is already a member`);
    if (st.conf.learners.includes(id)) {
      const known = this.h.book.get(id);
      if (known === undefined || known === address) {
        // A learner left by an earlier add that did not finish, at the same address: promote it.
        await this.waitCaughtUp(id, st.commit);
        await this.proposeConfChange({ type: 'addVoter', nodeId: id, context: encodeMemberContext(known ?? address) });
        return;
      }
      // The learner is now a node at another address (an operator replaced a node whose add did
      // not finish). The leader's progress of `id` describes the old node's log, which the new one
      // does not have: remove the learner (its progress goes with it), then add the new node from
      // the start, JOIN handshake first, so it is caught up by a snapshot and then the log.
      await this.proposeConfChange({ type: 'removeVoter', nodeId: id });
      this.h.log(`node ${this.h.id}: learner ${id} at ${known} removed, to add node ${id} at ${address} afresh`);
    }
    await this.joinHandshake(id, address);
    this.h.addPeer(id, address);
    // Learner first (Raft thesis §4.2.1): a new member that must first receive a snapshot does
    // not count toward the quorum, so it cannot stall writes while it catches up.
    await this.proposeConfChange({ type: 'addLearner', nodeId: id, context: encodeMemberContext(address) });
    await this.waitCaughtUp(id, this.h.rawNode().status().commit);
    await this.proposeConfChange({ type: 'addVoter', nodeId: id, context: encodeMemberContext(address) });
    this.h.log(`node ${this.h.id}: added node ${id} at ${address}`);
  }

  /**
   * The leader's side of the JOIN handshake (membership.ts): asks the node at `address` to become
   * node `id` of this cluster. Fails with KV_ERR_MEMBERSHIP when it cannot be reached or refuses.
   * `onlyIfWaiting`: first ask the node's status, and send the JOIN only if it is node `id` in no
   * cluster (started with initialClusterState 'existing'); resolves false when it is not.
   */
  private async joinHandshake(id: NodeId, address: string, onlyIfWaiting = false): Promise<boolean> {
    const timeoutMs = this.h.requestTimeoutMs;
    let conn;
    try {
      conn = await connectClient(address, { ...this.h.dialNode(address), connectTimeoutMs: Math.min(timeoutMs, 2000), requestTimeoutMs: timeoutMs });
    } catch (err) {
      throw new MembershipError(`cannot reach node ${id} at ${address}: ${(err as Error).message}`, { cause: err });
    }
    let res: ClientResponse;
    try {
      if (onlyIfWaiting) {
        const st = await conn.request({ op: 'status' }, timeoutMs);
        const status = st.ok && st.json !== undefined ? (JSON.parse(st.json) as { id?: unknown; clusterId?: unknown }) : {};
        if (status.id !== id || status.clusterId !== formatClusterId(NO_CLUSTER)) return false;
      }
      res = await conn.join({ clusterId: this.h.clusterId(), nodeId: id, leaderId: this.h.id, leaderAddress: this.h.address() }, timeoutMs);
    } catch (err) {
      throw new MembershipError(`node ${id} at ${address} did not answer the join request: ${(err as Error).message}`, { cause: err });
    } finally {
      conn.close();
    }
    if (!res.ok) throw new MembershipError(`node ${id} at ${address} refused to join: ${res.message ?? res.errorCode ?? 'no reason given'}`);
    return true;
  }

  /**
   * etcd's MemberAdd: commits a new member at `address` (a learner, or a voter) before it runs,
   * and resolves with its id; the operator then starts it (initialClusterState 'existing').
   * Refusals: an address another member has (KV_ERR_PEER_ADDRESS_EXISTS), a voter the started
   * voters could not outvote (KV_ERR_NOT_ENOUGH_STARTED: member-rules.ts, etcd's strict check).
   */
  async addMemberFirst(address: string, learner: boolean): Promise<NodeId> {
    this.h.checkRunning();
    parseAddress(address);
    if (!this.h.isLeader()) {
      const res = await this.h.path.forwardToLeader({ op: learner ? 'memberAddLearner' : 'memberAddVoter', address }, 2 * this.h.requestTimeoutMs);
      const id = (JSON.parse(res.json ?? '{}') as { id?: unknown }).id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw new MembershipError(`the leader answered member add without a member id (${String(res.json)})`);
      return id;
    }
    return this.oneAtATime(async () => {
      await this.waitOwnTermApplied(`add a member at ${address}`);
      const st = this.h.rawNode().status();
      this.refuseTakenAddress(st.conf, address, undefined);
      if (!learner) {
        const why = addVoterRefusal(st.conf, this.h.id, matchIndexes(st.progress));
        if (why !== undefined) throw new MemberChangeRefusedError('KV_ERR_NOT_ENOUGH_STARTED', `adding a voter at ${address} would cost the quorum: ${why}`);
      }
      const id = newMemberId(this.h.memberIdMax(), st.conf);
      await this.proposeConfChange({ type: learner ? 'addLearner' : 'addVoter', nodeId: id, context: encodeMemberContext(address) });
      this.h.log(`node ${this.h.id}: added node ${id} at ${address} as a ${learner ? 'learner' : 'voter'}; start it with: kv-server ${id} ${address} --initial-cluster-state existing`);
      return id;
    });
  }

  /** etcd's MemberPromote: makes learner `id` a voter, if it is in sync (member-rules.ts). */
  async promoteMember(id: NodeId): Promise<void> {
    this.h.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    if (!this.h.isLeader()) {
      await this.h.path.forwardToLeader({ op: 'memberPromote', nodeId: id }, 2 * this.h.requestTimeoutMs);
      return;
    }
    await this.oneAtATime(async () => {
      await this.waitOwnTermApplied(`promote node ${id}`);
      const st = this.h.rawNode().status();
      const refusal = promoteRefusal(st.conf, id, this.h.id, matchIndexes(st.progress));
      if (refusal !== undefined) throw refusal;
      const address = this.h.book.get(id);
      await this.proposeConfChange({ type: 'addVoter', nodeId: id, ...(address === undefined ? {} : { context: encodeMemberContext(address) }) });
      this.h.log(`node ${this.h.id}: promoted learner ${id} to voter`);
    });
  }

  /**
   * etcd's MemberUpdate: member `id` is now at `address`. The conf change keeps its role and
   * carries the new address, which every member dials once it applies it (peers.ts).
   */
  async updateMember(id: NodeId, address: string): Promise<void> {
    this.h.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    parseAddress(address);
    if (!this.h.isLeader()) {
      await this.h.path.forwardToLeader({ op: 'memberUpdate', nodeId: id, address }, 2 * this.h.requestTimeoutMs);
      return;
    }
    await this.oneAtATime(async () => {
      await this.waitOwnTermApplied(`update node ${id}`);
      const st = this.h.rawNode().status();
      const voter = st.conf.voters.includes(id);
      if (!voter && !st.conf.learners.includes(id)) throw new MemberChangeRefusedError('KV_ERR_MEMBER_NOT_FOUND', `node ${id} is not a member`);
      this.refuseTakenAddress(st.conf, address, id);
      await this.proposeConfChange({ type: voter ? 'addVoter' : 'addLearner', nodeId: id, context: encodeMemberContext(address) });
      this.contactedAt.delete(id);
      this.h.log(`node ${this.h.id}: node ${id} is now at ${address}`);
    });
  }

  /** Throws KV_ERR_PEER_ADDRESS_EXISTS when a member other than `except` is at `address`. */
  private refuseTakenAddress(conf: { voters: NodeId[]; learners: NodeId[] }, address: string, except: NodeId | undefined): void {
    for (const id of [...conf.voters, ...conf.learners]) {
      if (id !== except && this.h.book.get(id) === address) {
        throw new MemberChangeRefusedError('KV_ERR_PEER_ADDRESS_EXISTS', `node ${id} is at ${address} already`);
      }
    }
  }

  /** Runs `change` after the configuration-first change before it settled. */
  private oneAtATime<T>(change: () => Promise<T>): Promise<T> {
    if (this.serialCount >= MEMBER_CHANGES_QUEUED_MAX) {
      return Promise.reject(new LsmraftError('KV_ERR_BUSY', `${MEMBER_CHANGES_QUEUED_MAX} membership changes are already waiting on node ${this.h.id}`));
    }
    this.serialCount++;
    const run = this.serial.then(change).finally(() => this.serialCount--);
    this.serial = run.catch(() => undefined); // the caller sees the outcome; the chain only orders
    return run;
  }

  /**
   * On the leader, each tick: takes in the members added first (addMemberFirst) once they run.
   * A member the configuration holds that has not acknowledged an entry (progress match 0) for
   * NEW_MEMBER_CONTACT_MS is asked its status, at most once per NEW_MEMBER_CONTACT_MS and one
   * request at a time per member; if it is that node waiting in no cluster (initialClusterState
   * 'existing'), it gets the JOIN handshake. Only such a node: a member that restarted empty as a
   * fresh one-member cluster (its disk lost) must not be taken back silently, since it may have
   * acknowledged entries it no longer has (Raft's safety counts on them); an operator removes and
   * adds it again. Failures are expected until the operator starts the node, and are retried.
   */
  contactNewMembers(nowMs: number): void {
    if (!this.h.isLeader()) {
      this.contactedAt.clear();
      return;
    }
    const st = this.h.rawNode().status();
    if (st.progress === undefined) return;
    for (const [id, pr] of st.progress) {
      if (id === this.h.id || pr.match > 0) {
        this.contactedAt.delete(id);
        continue;
      }
      const last = this.contactedAt.get(id);
      if (last === undefined) {
        // Seen unacknowledged for the first time (a leader's followers are, at its first ticks).
        this.contactedAt.set(id, nowMs);
        continue;
      }
      if (this.contacting.has(id) || nowMs - last < NEW_MEMBER_CONTACT_MS) continue;
      const address = this.h.book.get(id);
      if (address === undefined) continue;
      this.contactedAt.set(id, nowMs);
      this.contacting.add(id);
      this.joinHandshake(id, address, true)
        .then((joined) => {
          if (joined) {
            this.h.log(`node ${this.h.id}: node ${id} at ${address} joined`);
            this.h.kick();
          }
        })
        .catch((err: unknown) => {
          if (!(err instanceof LsmraftError)) throw err;
        })
        .finally(() => this.contacting.delete(id));
    }
    for (const id of [...this.contactedAt.keys()]) if (!st.progress.has(id)) this.contactedAt.delete(id);
  }

  /** Waits until member `id`'s log reaches `index` (as this leader sees it), or fails. */
  private async waitCaughtUp(id: NodeId, index: number): Promise<void> {
    const limitMs = Math.max(this.h.requestTimeoutMs, ADD_CATCH_UP_MS_MIN);
    const deadline = Date.now() + limitMs;
    // Each pass sleeps two ticks; bounded by the deadline.
    for (;;) {
      this.h.checkRunning();
      const st = this.h.rawNode().status();
      if (st.role !== 'leader') throw new MembershipError(`node ${id} was added as a learner, but node ${this.h.id} lost leadership before promoting it; add it again at the leader`);
      if ((st.progress?.get(id)?.match ?? 0) >= index) return;
      if (Date.now() > deadline) {
        throw new MembershipError(`node ${id} was added as a learner but did not catch up to index ${index} within ${limitMs} ms; it stays a learner (remove it, or add it again to retry the promotion)`);
      }
      await sleep(this.h.tickMs * 2);
    }
  }

  /**
   * Removes member `id` (forwarded to the leader on a follower). To remove the leader itself, it
   * first hands leadership to the most caught-up other voter, which then removes it.
   */
  async removeMember(id: NodeId): Promise<void> {
    this.h.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    if (!this.h.isLeader()) {
      await this.h.path.forwardToLeader({ op: 'removeMember', nodeId: id }, 4 * this.h.requestTimeoutMs);
      return;
    }
    const st = this.h.rawNode().status();
    if (!st.conf.voters.includes(id) && !st.conf.learners.includes(id)) throw new MembershipError(`node ${id} is not a member`);
    if (id === this.h.id) {
      let successor = 0;
      let bestMatch = -1;
      for (const v of st.conf.voters) {
        const match = st.progress?.get(v)?.match ?? -1;
        if (v !== this.h.id && match > bestMatch) [successor, bestMatch] = [v, match];
      }
      if (successor === 0) throw new MembershipError(`node ${id} is the only voter; a cluster cannot remove its last voter`);
      await this.transferLeadership(successor);
      await this.h.path.forwardToLeader({ op: 'removeMember', nodeId: id }, 2 * this.h.requestTimeoutMs);
      return;
    }
    await this.proposeConfChange({ type: 'removeVoter', nodeId: id });
    this.h.log(`node ${this.h.id}: removed node ${id}`);
  }

  /** Asks the leader to hand leadership to `id`; resolves once `id` leads. */
  async transferLeadership(id: NodeId): Promise<void> {
    this.h.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    const st = this.h.rawNode().status();
    if (st.lead === id) return;
    // Only the leader judges the request: a follower's configuration can lag the leader's (it may
    // still be re-applying its log after a restart), and it must not answer for one it does not have.
    if (!this.h.isLeader()) {
      await this.h.path.forwardToLeader({ op: 'transfer', nodeId: id }, 2 * this.h.requestTimeoutMs);
      return;
    }
    if (!st.conf.voters.includes(id)) throw new MembershipError(`node ${id} is not a voter`);
    const deadline = Date.now() + this.h.requestTimeoutMs;
    // Each pass waits for a leader change or a few ticks; bounded by the deadline. The core gives
    // a transfer up after an election timeout (the transferee did not catch up or campaign in
    // time): while this node still leads, it asks again.
    while (this.h.leaderId() !== id) {
      const st = this.h.rawNode().status();
      if (st.role === 'leader' && st.leadTransferee === 0) {
        this.h.rawNode().transferLeadership(id);
        this.h.kick();
      }
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new LsmraftError('KV_ERR_TIMEOUT', `leadership did not move to node ${id} within ${this.h.requestTimeoutMs} ms`);
      await this.h.path.waitForLeaderChange(Math.min(leftMs, this.h.tickMs * 5));
      this.h.checkRunning();
    }
  }

  /**
   * Waits until this leader applied an entry of its own term. The core turns a conf change into an
   * empty entry before that (Raft thesis §4.1 safety, as etcd): a leader that was just elected
   * (say, by a transfer a moment ago) waits for its no-op to be applied first. Then every entry
   * of earlier leaders is applied too: the configuration and memberIdMax are the whole story.
   */
  private async waitOwnTermApplied(what: string): Promise<void> {
    const readyBy = Date.now() + this.h.requestTimeoutMs;
    // Each pass sleeps a tick; bounded by the deadline.
    for (;;) {
      this.h.checkRunning();
      const st = this.h.rawNode().status();
      if (st.role !== 'leader') throw new NotLeaderError(`node ${this.h.id} lost leadership before it could ${what}`, this.h.leader());
      if (this.h.appliedTerm() >= st.term) return;
      if (Date.now() > readyBy) throw new MembershipError(`node ${this.h.id} did not commit an entry of its term within ${this.h.requestTimeoutMs} ms (no quorum?)`);
      await sleep(this.h.tickMs);
    }
  }

  private async proposeConfChange(cc: ConfChange): Promise<void> {
    await this.waitOwnTermApplied(`propose ${cc.type} ${cc.nodeId}`);
    const applied = this.h.path.requests.waitConfChange(cc.type, cc.nodeId, this.h.requestTimeoutMs);
    try {
      this.h.rawNode().proposeConfChange(cc);
      this.h.kick();
    } catch (err) {
      // The waiter times out on its own; report the refusal now.
      void applied.catch(() => {});
      throw new MembershipError(`conf change ${cc.type} ${cc.nodeId} not accepted: ${(err as Error).message}`, { cause: err });
    }
    try {
      await applied;
    } catch (err) {
      if (err instanceof LsmraftError && err.code === 'KV_ERR_TIMEOUT') {
        throw new MembershipError(`conf change ${cc.type} ${cc.nodeId} was not applied within ${this.h.requestTimeoutMs} ms (another change pending, or no quorum)`, { cause: err });
      }
      throw err;
    }
  }
}
