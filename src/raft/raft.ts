/**
 * The Raft consensus state machine, IO-free, after etcd-io/raft's raft.go (Ongaro & Ousterhout,
 * "In Search of an Understandable Consensus Algorithm", and Ongaro's thesis for pre-vote,
 * check-quorum, leadership transfer, ReadIndex and single-server membership changes).
 *
 * Messages come in through step(), time through tick(); outgoing messages collect in `msgs`, and
 * RawNode hands them to the driver in a Ready together with what must be persisted first. Nothing
 * here touches a clock, a socket, a file or a global random source: randomness comes from config.random.
 *
 * Invariants asserted here:
 *   - a node grants at most one vote per term (vote is only set when it was NONE or the same node);
 *   - the leader commits by counting replicas only for entries of its own term (Raft §5.4.2);
 *   - applied <= committed <= lastIndex (in RaftLog);
 *   - at most one conf change is pending, and none before the leader committed an entry of its term.
 *
 * Why one file of ~1,100 lines: the role step functions (stepLeader, stepCandidate, stepFollower)
 * share the node's private state and each other's transitions (becomeX, bcastAppend, maybeCommit);
 * apart, every transition would need an exported seam that code outside the core could misuse.
 * Configuration lives in config.ts, the log in log.ts, progress tracking in tracker.ts/progress.ts,
 * ReadIndex bookkeeping in read-only.ts.
 *
 * MUTATION POINTS (for the simulator's bug injection, test/sim/mutants.test.ts): each is a single
 * line of its own, matched there by a whole-line pattern, so keep these lines exactly as they are:
 *   (a) maybeCommit():           const ofCurrentTerm = term === this.term;
 *   (b) stepLeader, prop case:   const alreadyPending = this.pendingConfIndex > this.raftLog.applied || !this.committedEntryInCurrentTerm();
 *   (c) handleVoteRequest:       this.vote = m.from;
 *   (d) hardState():             return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
 *   (e) stepLeader, readIndex:   if (this.trk.isSingleton()) {
 */
import { INVARIANTS, assert } from '../util/assert.js';
import { RaftLog } from './log.js';
import { ReadOnly } from './read-only.js';
import type { Progress } from './progress.js';
import { ProgressTracker } from './tracker.js';
import { validateConfig, type RaftConfig } from './config.js';
import type { Storage } from './storage.js';
import {
  NONE,
  confStateAfter,
  entryPayloadBytes,
  isEmptyHardState,
  makeMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.js';

/** Context of a vote request caused by leadership transfer: it bypasses the leader lease. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

/** Outcome of stepping a message: 'dropped' for a proposal/read the node could not accept. */
export type StepResult = 'ok' | 'dropped';

type CampaignType = 'preElection' | 'election' | 'transfer';

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** Default of RaftConfig.maxCommittedSizePerReadyBytes. */
export const MAX_COMMITTED_SIZE_PER_READY_BYTES_DEFAULT = 4 * 1024 * 1024;

function voteRespType(t: MessageType): MessageType {
  assert(t === 'vote' || t === 'preVote', () => `not a vote message type: ${t}`);
  return t === 'vote' ? 'voteResp' : 'preVoteResp';
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  role: Role = 'follower';
  /** Whether this node is a learner in its current configuration. */
  isLearner = false;
  msgs: Message[] = [];
  /** Number of times `msgs` was handed out (takeMessages): names the batch being built. */
  private msgsBatch = 0;
  lead: NodeId = NONE;
  /** Target of a leadership transfer in progress, or NONE. */
  leadTransferee: NodeId = NONE;
  /**
   * Log index of the latest conf change the leader appended (or its last index when it became
   * leader). No new conf change is accepted until the applied index reaches it.
   */
  pendingConfIndex = 0;
  /** Payload bytes of uncommitted entries this leader appended (bounded by maxUncommittedBytes). */
  uncommittedBytes = 0;
  readOnly: ReadOnly;
  /** Leader: ticks since the last check-quorum round; others: ticks since leader contact/election. */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly heartbeatTimeout: number;
  private readonly electionTimeout: number;
  /** Drawn from [electionTimeout, 2*electionTimeout) at every reset. */
  private randomizedElectionTimeout = 0;
  private readonly maxMsgBytes: number;
  private readonly maxInflightMsgs: number;
  private readonly maxUncommittedBytes: number;
  private readonly random: () => number;
  private readonly logger: ((line: string) => void) | undefined;
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];

  constructor(config: RaftConfig, storage: Storage) {
    validateConfig(config);
    this.id = config.id;
    this.raftLog = new RaftLog(storage, config.maxCommittedSizePerReadyBytes ?? MAX_COMMITTED_SIZE_PER_READY_BYTES_DEFAULT);
    const { hardState, confState } = storage.initialState();
    this.trk = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);
    this.checkQuorum = config.checkQuorum;
    this.preVote = config.preVote;
    this.heartbeatTimeout = config.heartbeatTicks;
    this.electionTimeout = config.electionTicks;
    this.maxMsgBytes = config.maxSizePerMsgBytes;
    this.maxInflightMsgs = config.maxInflightMsgs;
    this.maxUncommittedBytes = config.maxUncommittedEntriesBytes ?? NO_LIMIT;
    this.random = config.random;
    this.logger = config.logger;
    this.readOnly = new ReadOnly(config.readOnlyOption);

    this.restoreConf(confState);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    // An appliedIndex at or below the snapshot index adds nothing: the snapshot is applied state.
    if (config.appliedIndex !== undefined && config.appliedIndex > this.raftLog.applied) {
      // Applied entries were committed, even if the hard state recording that commit index was not
      // synced before a crash (a commit-only change need not be): never forget them.
      assert(config.appliedIndex <= this.raftLog.lastIndex(),
        () => `appliedIndex ${config.appliedIndex} is past the last index ${this.raftLog.lastIndex()}`);
      if (config.appliedIndex > this.raftLog.committed) this.raftLog.commitTo(config.appliedIndex);
      this.raftLog.appliedTo(config.appliedIndex);
    }
    this.becomeFollower(this.term, NONE);
    this.log(`newRaft ${this.id} [peers: [${[...this.trk.voters].join(',')}], term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}]`);
  }

  private log(line: string): void {
    if (this.logger !== undefined) this.logger(line);
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  private loadState(hs: HardState): void {
    const first = this.raftLog.firstIndex() - 1;
    const last = this.raftLog.lastIndex();
    // Everything up to the snapshot is committed, even when the hard state that records the commit
    // was not persisted before a crash (a driver may sync the snapshot and the hard state apart).
    const commit = Math.max(hs.commit, first);
    assert(commit <= last, () => `${this.id} state.commit ${hs.commit} is out of range [${first}, ${last}]`);
    this.raftLog.committed = commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** Sets the configuration from `cs` with fresh progress for every member. */
  private restoreConf(cs: ConfState): void {
    this.trk.voters.clear();
    this.trk.learners.clear();
    this.trk.progress.clear();
    const next = this.raftLog.lastIndex() + 1;
    for (const id of cs.voters) {
      this.trk.voters.add(id);
      this.trk.progress.set(id, this.trk.newProgress(0, next, false));
    }
    for (const id of cs.learners) {
      assert(!this.trk.voters.has(id), () => `node ${id} is both voter and learner`);
      this.trk.learners.add(id);
      this.trk.progress.set(id, this.trk.newProgress(0, next, true));
    }
    this.isLearner = this.trk.learners.has(this.id);
  }

  /** A node can become leader only if it is a voter of its configuration. */
  promotable(): boolean {
    return this.trk.voters.has(this.id);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  private send(m: Message): void {
    m.from = this.id;
    if (m.type === 'vote' || m.type === 'voteResp' || m.type === 'preVote' || m.type === 'preVoteResp') {
      // Vote messages carry the term being voted in, which for pre-votes is the future term.
      assert(m.term !== 0, () => `term should be set when sending ${m.type}`);
    } else {
      assert(m.term === 0, () => `term should not be set when sending ${m.type} (was ${m.term})`);
      // Proposals and read requests are forwarded to the leader as if local: they carry no term.
      if (m.type !== 'prop' && m.type !== 'readIndex') m.term = this.term;
    }
    this.msgs.push(m);
  }

  /**
   * Hands the outgoing messages to the driver (RawNode.ready). Each hand-out starts a new batch:
   * a probe already in the batch being built is not built again (Progress.isPaused).
   */
  takeMessages(): Message[] {
    const msgs = this.msgs;
    this.msgs = [];
    this.msgsBatch++;
    return msgs;
  }

  /**
   * Sends an append (or a snapshot) to `to` if its progress allows. Returns whether one was sent.
   * What bounds the appends built for one follower between two Readys, however many responses
   * arrive (after etcd's raft.go maybeSendAppend and tracker/progress.go):
   *   probe      one append per heartbeat interval, and never two for the same range in one batch;
   *   replicate  the inflight window (maxInflightMsgs, maxInflightBytes), plus, with the window
   *              full, one empty append per heartbeat interval;
   * and each append carries at most maxSizePerMsgBytes of entries (at least one), read once.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    assert(pr !== undefined, () => `no progress for ${to}`);
    if (pr.isPaused(this.msgsBatch)) return false;
    // A full window still lets an empty append through: it carries the commit index and, if the
    // window's messages were lost, draws the rejection that moves the follower back to probing.
    const windowFull = pr.state === 'replicate' && pr.inflights.full();
    if (windowFull && !sendIfEmpty) return false;
    const prevTerm = this.raftLog.term(pr.next - 1);
    const ents = windowFull ? [] : this.raftLog.entries(pr.next, this.maxMsgBytes);
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false;

    if (prevTerm === undefined || ents === undefined) {
      // The entries the follower needs are compacted: send the snapshot instead.
      if (!pr.recentActive) {
        this.log(`${this.id} ignore sending snapshot to ${to} since it is not recently active`);
        return false;
      }
      const snapshot = this.raftLog.snapshot();
      assert(snapshot.meta.index > 0, 'need non-empty snapshot');
      this.log(`${this.id} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${snapshot.meta.index}, term: ${snapshot.meta.term}] to ${to}`);
      pr.becomeSnapshot(snapshot.meta.index);
      this.send(makeMessage({ type: 'snap', to, snapshot }));
      return true;
    }

    const m = makeMessage({ type: 'app', to, index: pr.next - 1, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed });
    let bytes = 0;
    for (const e of ents) bytes += entryPayloadBytes(e);
    pr.sentAppend(ents.length, pr.next - 1 + ents.length, bytes, this.msgsBatch);
    this.send(m);
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to);
    assert(pr !== undefined, () => `no progress for ${to}`);
    // A follower may not have entries up to the leader's commit: never tell it to commit past match.
    const commit = Math.min(pr.match, this.raftLog.committed);
    const m = makeMessage({ type: 'heartbeat', to, commit });
    if (ctx !== undefined) m.context = ctx;
    this.send(m);
  }

  private forEachPeer(f: (id: NodeId, pr: Progress) => void): void {
    for (const id of this.trk.memberIds()) {
      if (id === this.id) continue;
      f(id, this.trk.progress.get(id)!);
    }
  }

  bcastAppend(): void {
    this.forEachPeer((id) => this.sendAppend(id));
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestContext());
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array | undefined): void {
    this.forEachPeer((id) => this.sendHeartbeat(id, ctx));
  }

  // ---------------------------------------------------------------------------------------------
  // Committing

  /**
   * Advances the commit index to what a quorum has acknowledged, but only if that entry is of the
   * current term (Raft §5.4.2, Figure 8): entries of older terms are committed indirectly. Returns
   * whether the commit index moved.
   */
  maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (mci <= this.raftLog.committed) return false;
    const term = this.raftLog.term(mci);
    const ofCurrentTerm = term === this.term;
    if (!ofCurrentTerm) return false;
    this.raftLog.commitTo(mci);
    return true;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  // ---------------------------------------------------------------------------------------------
  // Role changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const fresh = this.trk.newProgress(0, last + 1, pr.isLearner);
      if (id === this.id) fresh.match = last;
      this.trk.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
    // Reads held for a leadership that ended are dropped; their clients time out and retry.
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.random();
    assert(r >= 0 && r < 1, () => `config.random returned ${r}, not in [0,1)`);
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(r * this.electionTimeout);
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
    this.log(`${this.id} became follower at term ${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.log(`${this.id} became candidate at term ${this.term}`);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> pre-candidate]');
    // A pre-candidate changes neither its term nor its vote (Raft thesis §9.6).
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
    this.log(`${this.id} became pre-candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    assert(this.role !== 'follower', 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.trk.progress.get(this.id);
    assert(self !== undefined, 'a leader is a member of its configuration');
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively treat every entry up to the last index as a possible pending conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // An empty entry of the new term lets the leader commit (and so learn the commit index) at once.
    const ok = this.appendEntry([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]);
    assert(ok, 'empty entry was dropped');
    // The empty entry does not count against the uncommitted byte limit.
    this.uncommittedBytes = 0;
    this.log(`${this.id} became leader at term ${this.term}`);
  }

  private hup(t: CampaignType): void {
    if (this.role === 'leader') {
      this.log(`${this.id} ignoring hup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.log(`${this.id} is unpromotable and can not campaign`);
      return;
    }
    // A conf change committed but not applied may remove us: wait until it is applied.
    if (this.raftLog.committed > this.raftLog.applied) {
      const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, NO_LIMIT);
      assert(ents !== undefined, 'unapplied entries are never compacted');
      if (ents.some((e) => e.type === 'confChange')) {
        this.log(`${this.id} cannot campaign at term ${this.term} since there are pending conf changes to apply`);
        return;
      }
    }
    this.log(`${this.id} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  private campaign(t: CampaignType): void {
    let term: number;
    let voteType: MessageType;
    if (t === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      // Pre-vote asks "would you vote for me at the next term?" without changing ours.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    this.trk.recordVote(this.id, true);
    if (this.pollResult() === 'won') {
      // A single-voter cluster wins at once.
      if (t === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of [...this.trk.voters].sort((a, b) => a - b)) {
      if (id === this.id) continue;
      this.log(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}] sent ${voteType} request to ${id} at term ${term}`);
      const m = makeMessage({ type: voteType, to: id, term, index: this.raftLog.lastIndex(), logTerm: this.raftLog.lastTerm() });
      if (t === 'transfer') m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  private pollResult(): 'pending' | 'won' | 'lost' {
    return this.trk.tallyVotes().result;
  }

  // ---------------------------------------------------------------------------------------------
  // Ticks

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: 'hup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(makeMessage({ type: 'checkQuorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) {
        this.log(`${this.id} [term ${this.term}] abort transfer leadership to ${this.leadTransferee}: not done within an election timeout`);
        this.abortLeaderTransfer();
      }
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: 'beat', from: this.id }));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Step

  step(m: Message): StepResult {
    if (m.term === 0) {
      // Local message (or a forwarded proposal/read, which carries no term).
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Raft thesis §4.2.3: a node that heard from a live leader within the minimum election
          // timeout ignores vote requests, so a partitioned node rejoining cannot disrupt it.
          this.log(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] ignored ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`);
          return 'ok';
        }
      }
      if (m.type === 'preVote') {
        // Never change our term in response to a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term in a granted pre-vote response is the one we will campaign at; we bump our
        // term when we win the pre-election. A rejection carries a real higher term.
      } else {
        this.log(`${this.id} [term: ${this.term}] received a ${m.type} message with higher term from ${m.from} [term: ${m.term}]`);
        if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') this.becomeFollower(m.term, m.from);
        else this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A node with a stale term (e.g. after a partition) keeps sending to us; tell it our term so
        // it steps down. Without this, with check-quorum or pre-vote, a follower stranded at a
        // higher term could never be reached by the stale leader nor win an election.
        this.send(makeMessage({ type: 'appResp', to: m.from }));
      } else if (m.type === 'preVote') {
        this.log(`${this.id} rejected preVote from ${m.from} at term ${this.term}: stale term ${m.term}`);
        this.send(makeMessage({ type: 'preVoteResp', to: m.from, term: this.term, reject: true }));
      } else {
        this.log(`${this.id} [term: ${this.term}] ignored a ${m.type} message with lower term from ${m.from} [term: ${m.term}]`);
      }
      return 'ok';
    }

    switch (m.type) {
      case 'hup':
        this.hup(this.preVote ? 'preElection' : 'election');
        return 'ok';
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return 'ok';
      default:
        switch (this.role) {
          case 'leader':
            return this.stepLeader(m);
          case 'candidate':
          case 'preCandidate':
            return this.stepCandidate(m);
          case 'follower':
            return this.stepFollower(m);
        }
    }
  }

  private handleVoteRequest(m: Message): void {
    // We can vote if: we already voted for this node in this term (a repeated request), or we have
    // not voted and know of no leader in this term, or it is a pre-vote for a future term while we
    // have not heard from a leader for an election timeout (thesis §9.6: a pre-vote is granted only
    // if the leader seems down, so a node rejoining with an up-to-date log still cannot disrupt).
    const leaderSeemsAlive = this.lead !== NONE && this.electionElapsed < this.electionTimeout;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'preVote' && m.term > this.term && !leaderSeemsAlive);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.log(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] cast ${m.type} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`);
      // The response carries the request's term: for a pre-vote it is the future term; for a vote
      // it equals ours, since a higher term made us a follower above.
      this.send(makeMessage({ type: voteRespType(m.type), to: m.from, term: m.term }));
      if (m.type === 'vote') {
        assert(m.term === this.term && (this.vote === NONE || this.vote === m.from),
          () => `${this.id} would grant a second vote in term ${this.term} (voted ${this.vote}, asked by ${m.from})`);
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.log(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] rejected ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`);
      this.send(makeMessage({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true }));
    }
  }

  private stepLeader(m: Message): StepResult {
    switch (m.type) {
      case 'beat':
        // A new heartbeat interval: each paused follower may get one append again (the probe of a
        // probing one, an empty append through a full window), sent when it answers.
        this.forEachPeer((_id, pr) => {
          pr.msgAppFlowPaused = false;
        });
        this.bcastHeartbeat();
        return 'ok';
      case 'checkQuorum': {
        const self = this.trk.progress.get(this.id);
        if (self !== undefined) self.recentActive = true;
        if (!this.trk.quorumActive(this.id)) {
          this.log(`${this.id} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, NONE);
        }
        // Mark everyone inactive again for the next round.
        this.forEachPeer((_id, pr) => {
          pr.recentActive = false;
        });
        return 'ok';
      }
      case 'prop': {
        assert(m.entries.length > 0, `${this.id} stepped empty prop`);
        if (!this.trk.progress.has(this.id)) {
          // Removed from the configuration while leading: do not accept new work.
          return 'dropped';
        }
        if (this.leadTransferee !== NONE) {
          this.log(`${this.id} [term ${this.term}] transfer leadership to ${this.leadTransferee} is in progress; dropping proposal`);
          return 'dropped';
        }
        const entries = m.entries.map((e) => ({ ...e }));
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!;
          if (e.type !== 'confChange') continue;
          // One change at a time, and none before an entry of this term is committed (the thesis'
          // single-server change needs the previous configuration committed under this leader).
          const alreadyPending = this.pendingConfIndex > this.raftLog.applied || !this.committedEntryInCurrentTerm();
          if (alreadyPending) {
            this.log(`${this.id} ignoring conf change at index ${this.raftLog.lastIndex() + i + 1}: pending conf change at ${this.pendingConfIndex}, applied ${this.raftLog.applied}`);
            entries[i] = { term: 0, index: 0, type: 'normal', data: new Uint8Array(0) };
          } else {
            this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
          }
        }
        if (!this.appendEntry(entries)) return 'dropped';
        this.bcastAppend();
        return 'ok';
      }
      case 'readIndex': {
        if (this.trk.isSingleton()) {
          this.respondToReadIndex(m, this.raftLog.committed);
          return 'ok';
        }
        // Raft thesis §6.4: the commit index is only known once an entry of this term is committed.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return 'ok';
        }
        this.sendReadIndexResponse(m);
        return 'ok';
      }
      default:
        break;
    }

    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) {
      this.log(`${this.id} no progress available for ${m.from}`);
      return 'ok';
    }
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        if (m.reject) {
          this.log(`${this.id} received appResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from} for index ${m.index}`);
          let nextProbeIdx = m.rejectHint;
          if (m.logTerm > 0) {
            // The follower's log has term m.logTerm at rejectHint: skip every entry of ours with a
            // higher term in one step (etcd's fast back-off).
            nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm);
          }
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
        } else {
          const oldPaused = pr.isPaused(this.msgsBatch);
          if (pr.maybeUpdate(m.index)) {
            if (pr.state === 'probe') {
              pr.becomeReplicate();
            } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
              this.log(`${this.id} recovered from needing snapshot, resumed sending replication messages to ${m.from}`);
              pr.becomeProbe();
              pr.becomeReplicate();
            } else if (pr.state === 'replicate') {
              pr.inflights.freeLE(m.index);
            }
            if (this.maybeCommit()) {
              this.releasePendingReadIndexMessages();
              this.bcastAppend();
            } else if (oldPaused) {
              // The follower was paused and is free now: send what it missed.
              this.sendAppend(m.from);
            }
            // Fill the pipeline; the inflight window pauses the progress, so this ends within
            // maxInflightMsgs sends (the bound is a backstop).
            let sent = 0;
            while (sent <= this.maxInflightMsgs && this.maybeSendAppend(m.from, false)) sent++;
            if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
              this.log(`${this.id} sent timeoutNow to ${m.from} after received appResp`);
              this.sendTimeoutNow(m.from);
            }
          }
        }
        return 'ok';
      case 'heartbeatResp': {
        pr.recentActive = true;
        // A follower behind gets an append; its pause (see maybeSendAppend) makes that one per
        // heartbeat interval, not one per response: a follower resumed after a stop answers its
        // whole backlog of heartbeats at once.
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
        if (this.readOnly.option !== 'safe' || m.context === undefined || m.context.length === 0) return 'ok';
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === undefined) return 'ok';
        if (!this.trk.isQuorum(acks)) return 'ok';
        for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
        return 'ok';
      }
      case 'snapStatus':
        if (pr.state !== 'snapshot') return 'ok';
        if (m.reject) {
          this.log(`${this.id} snapshot failed, resumed sending replication messages to ${m.from}`);
          pr.pendingSnapshot = 0;
        } else {
          this.log(`${this.id} snapshot succeeded, resumed sending replication messages to ${m.from}`);
        }
        pr.becomeProbe();
        // Wait for the follower's append response (or the next heartbeat interval) before probing.
        pr.msgAppFlowPaused = true;
        return 'ok';
      case 'unreachable':
        // The last append was probably lost: fall back to probing.
        if (pr.state === 'replicate') pr.becomeProbe();
        this.log(`${this.id} failed to send message to ${m.from} because it is unreachable`);
        return 'ok';
      case 'transferLeader': {
        if (pr.isLearner) {
          this.log(`${this.id} is learner; ignored transferring leadership`);
          return 'ok';
        }
        const transferee = m.from;
        if (this.leadTransferee !== NONE) {
          if (this.leadTransferee === transferee) return 'ok';
          this.abortLeaderTransfer();
        }
        if (transferee === this.id) return 'ok';
        this.log(`${this.id} [term ${this.term}] starts to transfer leadership to ${transferee}`);
        // The transfer must finish within an election timeout (see tickHeartbeat).
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        return 'ok';
      }
      default:
        return 'ok';
    }
  }

  private stepCandidate(m: Message): StepResult {
    const myVoteRespType: MessageType = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        this.log(`${this.id} no leader at term ${this.term}; dropping proposal`);
        return 'dropped';
      case 'readIndex':
        return 'dropped';
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return 'ok';
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return 'ok';
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return 'ok';
      case 'timeoutNow':
        return 'ok';
      default:
        if (m.type !== myVoteRespType) return 'ok';
        this.trk.recordVote(m.from, !m.reject);
        {
          const { granted, rejected, result } = this.trk.tallyVotes();
          this.log(`${this.id} has received ${granted} ${m.type} votes and ${rejected} vote rejections`);
          if (result === 'won') {
            if (this.role === 'preCandidate') {
              this.campaign('election');
            } else {
              this.becomeLeader();
              this.bcastAppend();
            }
          } else if (result === 'lost') {
            // A pre-candidate (or candidate) that lost goes back to following at its current term.
            this.becomeFollower(this.term, NONE);
          }
        }
        return 'ok';
    }
  }

  private stepFollower(m: Message): StepResult {
    switch (m.type) {
      case 'prop':
        if (this.lead === NONE) {
          this.log(`${this.id} no leader at term ${this.term}; dropping proposal`);
          return 'dropped';
        }
        if (m.from !== this.id) {
          // Forwarded to us by a peer that thought we lead: forwarding again could bounce between
          // two nodes with stale views; the proposer retries instead.
          this.log(`${this.id} not leader; dropping proposal forwarded by ${m.from}`);
          return 'dropped';
        }
        this.send({ ...m, to: this.lead, term: 0 });
        return 'ok';
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return 'ok';
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return 'ok';
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return 'ok';
      case 'transferLeader':
        if (this.lead === NONE) {
          this.log(`${this.id} no leader at term ${this.term}; dropping leader transfer msg`);
          return 'dropped';
        }
        this.send({ ...m, to: this.lead, term: 0 });
        return 'ok';
      case 'timeoutNow':
        this.log(`${this.id} [term ${this.term}] received timeoutNow from ${m.from} and starts an election to get leadership`);
        // Leadership transfer skips pre-vote: the leader asked for it.
        this.hup('transfer');
        return 'ok';
      case 'readIndex':
        if (this.lead === NONE) {
          this.log(`${this.id} no leader at term ${this.term}; dropping index reading msg`);
          return 'dropped';
        }
        if (m.from !== this.id) {
          this.log(`${this.id} not leader; dropping read forwarded by ${m.from}`);
          return 'dropped';
        }
        this.send({ ...m, to: this.lead, term: 0 });
        return 'ok';
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
        return 'ok';
      default:
        return 'ok';
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit index matches the leader's log already.
      this.send(makeMessage({ type: 'appResp', to: m.from, index: this.raftLog.committed }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(makeMessage({ type: 'appResp', to: m.from, index: lastNew }));
      return;
    }
    // Reject with a hint: the last index at which our log could match the leader's, and its term,
    // so the leader can skip a whole divergent term at once.
    let hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    hintIndex = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    const hintTerm = this.raftLog.term(hintIndex) ?? 0;
    this.log(`${this.id} [logterm: ${this.raftLog.term(m.index) ?? 0}, index: ${m.index}] rejected app [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}`);
    this.send(makeMessage({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm }));
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    const resp = makeMessage({ type: 'heartbeatResp', to: m.from });
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    assert(m.snapshot !== undefined, 'snap message without snapshot');
    const s = m.snapshot;
    if (this.restore(s)) {
      this.log(`${this.id} [commit: ${this.raftLog.committed}] restored snapshot [index: ${s.meta.index}, term: ${s.meta.term}]`);
      this.send(makeMessage({ type: 'appResp', to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.log(`${this.id} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${s.meta.index}, term: ${s.meta.term}]`);
      this.send(makeMessage({ type: 'appResp', to: m.from, index: this.raftLog.committed }));
    }
  }

  /** Installs snapshot `s` if it is ahead of our commit index. Returns whether it was installed. */
  private restore(s: Snapshot): boolean {
    if (s.meta.index <= this.raftLog.committed) return false;
    if (this.role !== 'follower') {
      // Only a follower receives snapshots from a leader of its term; anything else is a bug in a
      // peer. Step down to a higher term so that the cluster re-elects (as etcd does).
      this.log(`${this.id} attempted to restore snapshot as leader; should never happen`);
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const inConf = s.meta.conf.voters.includes(this.id) || s.meta.conf.learners.includes(this.id);
    if (!inConf) {
      // Unlike etcd, accept it: a node joining with an empty log can be sent a snapshot taken before
      // the conf change that adds it (the driver's latest snapshot, or the bootstrap one). It stays a
      // non-voting follower until it applies that conf change from the entries after the snapshot.
      this.log(`${this.id} restoring snapshot [index: ${s.meta.index}] whose configuration does not include it yet`);
    }
    if (this.raftLog.matchTerm(s.meta.index, s.meta.term)) {
      // We have the snapshot's last entry: fast-forward the commit index instead.
      this.log(`${this.id} [commit: ${this.raftLog.committed}] fast-forwarded commit to snapshot [index: ${s.meta.index}, term: ${s.meta.term}]`);
      this.raftLog.commitTo(s.meta.index);
      return false;
    }
    this.raftLog.restore(s);
    this.restoreConf(s.meta.conf);
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) self.maybeUpdate(self.next - 1);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // ReadIndex

  private sendReadIndexResponse(m: Message): void {
    if (this.readOnly.option === 'safe') {
      this.readOnly.addRequest(this.raftLog.committed, m);
      // The leader's own ack counts toward the quorum.
      this.readOnly.recvAck(this.id, m.context);
      this.bcastHeartbeatWithCtx(m.context);
    } else {
      this.respondToReadIndex(m, this.raftLog.committed);
    }
  }

  /** Answers a read at `index`: locally as a ReadState, or to the follower that forwarded it. */
  private respondToReadIndex(req: Message, index: number): void {
    const context = req.context ?? new Uint8Array(0);
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, context });
      return;
    }
    this.send(makeMessage({ type: 'readIndexResp', to: req.from, index, context }));
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  /** For tests and status: the pending ReadIndex requests. */
  pendingReadCount(): number {
    return this.readOnly.pendingCount() + this.pendingReadIndexMessages.length;
  }

  // ---------------------------------------------------------------------------------------------
  // Proposals and conf changes

  /** Appends entries at the end of the leader's log, stamped with the current term. */
  private appendEntry(es: Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const stamped = es.map((e, i) => ({ ...e, term: this.term, index: li + 1 + i }));
    if (!this.increaseUncommittedBytes(stamped)) {
      this.log(`${this.id} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`);
      return false;
    }
    li = this.raftLog.append(stamped);
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    // A single-voter cluster commits on its own acknowledgement.
    this.maybeCommit();
    return true;
  }

  private increaseUncommittedBytes(ents: Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += entryPayloadBytes(e);
    // Always accept something if nothing is outstanding, so a large entry cannot block forever.
    if (this.uncommittedBytes > 0 && s > 0 && this.uncommittedBytes + s > this.maxUncommittedBytes) return false;
    this.uncommittedBytes += s;
    return true;
  }

  reduceUncommittedBytes(ents: Entry[]): void {
    if (this.uncommittedBytes === 0) return;
    let s = 0;
    for (const e of ents) s += entryPayloadBytes(e);
    this.uncommittedBytes = s > this.uncommittedBytes ? 0 : this.uncommittedBytes - s;
  }

  /**
   * Applies a committed conf change to the configuration (the driver calls this when it applies the
   * entry). Returns the new configuration.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const id = cc.nodeId;
    // The pure fold a restarting node uses to rebuild a past configuration must agree with this.
    const expected = INVARIANTS ? confStateAfter(this.trk.confState(), cc) : undefined;
    // As etcd: a new member's progress starts at the last index, so the leader probes it at once
    // with the last entry (instead of waiting for the next proposal).
    const next = Math.max(this.raftLog.lastIndex(), 1);
    switch (cc.type) {
      case 'addVoter': {
        if (this.trk.learners.has(id)) {
          // Promotion: keep the learner's progress, which the leader has been tracking.
          this.trk.learners.delete(id);
          this.trk.voters.add(id);
          this.trk.progress.get(id)!.isLearner = false;
        } else if (!this.trk.voters.has(id)) {
          this.trk.voters.add(id);
          const pr = this.trk.newProgress(0, next, false);
          // A new member counts as active so that check-quorum does not step us down at once.
          pr.recentActive = true;
          this.trk.progress.set(id, pr);
        }
        break;
      }
      case 'addLearner': {
        if (this.trk.voters.has(id)) {
          // Demotion of a voter to learner.
          this.trk.voters.delete(id);
          this.trk.learners.add(id);
          this.trk.progress.get(id)!.isLearner = true;
        } else if (!this.trk.learners.has(id)) {
          this.trk.learners.add(id);
          const pr = this.trk.newProgress(0, next, true);
          pr.recentActive = true;
          this.trk.progress.set(id, pr);
        }
        break;
      }
      case 'removeVoter':
        this.trk.voters.delete(id);
        this.trk.learners.delete(id);
        this.trk.progress.delete(id);
        break;
    }
    const cs = this.switchToConfig();
    if (expected !== undefined) {
      assert(JSON.stringify(cs) === JSON.stringify(expected), () => `conf change ${cc.type} ${id} gave ${JSON.stringify(cs)}, confStateAfter ${JSON.stringify(expected)}`);
    }
    return cs;
  }

  private switchToConfig(): ConfState {
    const cs = this.trk.confState();
    this.isLearner = this.trk.learners.has(this.id);
    const self = this.trk.progress.get(this.id);
    if (this.role === 'leader' && (self === undefined || this.isLearner)) {
      // The leader's own removal (or demotion) is now committed and applied: step down. The rest of
      // the cluster elects a new leader after an election timeout.
      this.log(`${this.id} removed from the configuration; stepping down`);
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.role !== 'leader' || cs.voters.length === 0) return cs;
    // The quorum changed: the commit index may move (e.g. after removing a lagging voter).
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      this.forEachPeer((id) => {
        this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== NONE && !this.trk.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  // ---------------------------------------------------------------------------------------------
  // Leadership transfer

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: 'timeoutNow', to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }
}
