/**
 * The request path of a node: how a write or a linearizable read gets to the leader and back.
 *
 * RequestPath proposes writes and asks for read indexes through the Raft core, which forwards them
 * to the leader ('prop', 'readIndex': Raft thesis §6.4); the writes of one event-loop turn go as
 * one proposal of many entries (bounded in count and bytes); while no leader is known it retries until
 * the request's deadline (then KV_ERR_NOT_LEADER); a proposal or read that never left this node is
 * sent again once a (new) leader is known; admin requests the core does not forward go to the
 * leader over a client connection (forwardToLeader).
 *
 * PendingRequests holds the requests a node is waiting on, after etcd's server/etcdserver wait.Wait (writes keyed by
 * request id, resolved when their entry is applied) and its linearizable read loop (reads keyed by
 * the ReadIndex context, served once the applied index reaches the read index: Raft thesis §6.4).
 *
 * Deadlines: one timer for all waiters, not one each (a setTimeout and clearTimeout per request cost
 * more than the request's own bookkeeping under load). It is set for the earliest deadline; when it
 * fires it ends the waiters past their deadline and is set again for the earliest of the others.
 * Requests share one timeout, so the earliest waiter is the oldest and the timer fires about once
 * per timeout, its sweep walking the waiters (at most pendingMax). A waiter times out at its
 * deadline, or up to SWEEP_GAP_MS_MIN later.
 *
 * What must hold: every waiter ends exactly once (applied, failed, or timed out), and the number of
 * waiters is bounded (pendingMax): past it a new request fails at once instead of growing memory.
 * Reads are answered in read-index order, and only after the state machine applied at least their
 * index.
 */
import { LsmraftError } from '../errors.js';
import { ProposalDroppedError } from '../raft/errors.js';
import type { RawNode } from '../raft/raw-node.js';
import type { ConfChangeType, Message, NodeId, ReadState } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { utf8 } from '../util/bytes.js';
import type { ClientResponse } from './codec.js';
import { connectClient, type ClientConnectionOptions, type ClientRequestInput } from './client-connection.js';
import { errorFromWire, NotLeaderError, RequestTimeoutError, type LeaderInfo } from './errors.js';
import { decodeKvCommand, encodeKvCommand, type KvCommand, type ProposalTag } from './kv-command.js';
import type { MvccApplied } from '../mvcc/apply.js';

/** What an applied write answers its proposer: a register's session id, an etcd write's outcome. */
export interface AppliedOutcome {
  sessionId?: number | undefined;
  etcd?: MvccApplied | undefined;
}

interface Waiter {
  /** Writes: what the state machine answered; reads and conf changes: nothing. */
  resolve: (outcome?: AppliedOutcome) => void;
  reject: (e: Error) => void;
  /** When it times out (Date.now() ms), and what it says then. */
  deadlineMs: number;
  what: string;
  timeoutMs: number;
  /** The proposal's data (writes) or the read context (reads), to send again. */
  payload?: Uint8Array;
  /** Writes: the proposer's term when it last proposed the write. */
  term?: number;
}

interface ConfWaiter extends Waiter {
  type: ConfChangeType;
  nodeId: NodeId;
}

/** The least time between two sweeps of the deadline timer: bounds how late a waiter may time out. */
export const SWEEP_GAP_MS_MIN = 5;

export class PendingRequests {
  private readonly writes = new Map<number, Waiter>();
  /** Reads waiting for their ReadState, by context (hex). */
  private readonly reads = new Map<string, Waiter>();
  /** Reads with a read index, waiting for the applied index to reach it; ascending by index. */
  private awaitingApply: Array<{ index: number; key: string; waiter: Waiter }> = [];
  private readonly confChanges = new Set<ConfWaiter>();
  private failed: LsmraftError | undefined;
  /** The one deadline timer and when it fires (Infinity: not set). */
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAtMs = Infinity;

  constructor(private readonly pendingMax: number) {
    assert(Number.isSafeInteger(pendingMax) && pendingMax > 0, 'pendingMax must be positive');
  }

  get size(): number {
    return this.writes.size + this.reads.size + this.awaitingApply.length + this.confChanges.size;
  }

  private admit(what: string): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.size >= this.pendingMax) throw new RequestTimeoutError(`${what} (${this.pendingMax} requests already pending)`, 0);
  }

  private makeWaiter(what: string, timeoutMs: number): { promise: Promise<AppliedOutcome | undefined>; waiter: Waiter } {
    let waiter!: Waiter;
    const deadlineMs = Date.now() + timeoutMs;
    const promise = new Promise<AppliedOutcome | undefined>((resolve, reject) => {
      waiter = { resolve, reject, deadlineMs, what, timeoutMs };
    });
    this.sweepBy(deadlineMs);
    return { promise, waiter };
  }

  /** Makes the deadline timer fire by `atMs` at the latest. */
  private sweepBy(atMs: number): void {
    if (atMs >= this.sweepAtMs) return;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepAtMs = atMs;
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(0, atMs - Date.now()));
  }

  /** The deadline timer fired: time out the waiters past their deadline, set it for the others. */
  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepAtMs = Infinity;
    const now = Date.now();
    let nextMs = Infinity;
    const expired: Waiter[] = [];
    const check = (w: Waiter): boolean => {
      if (w.deadlineMs <= now) {
        expired.push(w);
        return true;
      }
      if (w.deadlineMs < nextMs) nextMs = w.deadlineMs;
      return false;
    };
    for (const [id, w] of this.writes) if (check(w)) this.writes.delete(id);
    for (const [key, w] of this.reads) if (check(w)) this.reads.delete(key);
    if (this.awaitingApply.some((r) => r.waiter.deadlineMs <= now)) this.awaitingApply = this.awaitingApply.filter((r) => !check(r.waiter));
    else for (const r of this.awaitingApply) check(r.waiter);
    for (const w of this.confChanges) if (check(w)) this.confChanges.delete(w as ConfWaiter);
    if (nextMs !== Infinity) this.sweepBy(Math.max(nextMs, now + SWEEP_GAP_MS_MIN));
    for (const w of expired) w.reject(new RequestTimeoutError(w.what, w.timeoutMs));
  }

  /**
   * Waits until the write tagged `requestId` is applied (resolves with what it answered: the session id a register
   * created) or refused by the state machine (rejects with its error). Register BEFORE proposing it.
   */
  waitWrite(requestId: number, timeoutMs: number, data: Uint8Array, term: number): Promise<AppliedOutcome | undefined> {
    this.admit('write');
    assert(!this.writes.has(requestId), () => `request id ${requestId} reused`);
    const { promise, waiter } = this.makeWaiter(`write ${requestId}`, timeoutMs);
    waiter.payload = data;
    waiter.term = term;
    this.writes.set(requestId, waiter);
    return promise;
  }

  /** The write was proposed again, at `term`. */
  writeProposedAt(requestId: number, term: number): void {
    const w = this.writes.get(requestId);
    if (w !== undefined) w.term = term;
  }

  /**
   * An entry of `appliedTerm` was applied: no entry of an older term can be committed any more
   * (a leader of a newer term commits its own no-op after everything it kept). A write proposed
   * at an older term and still waiting was lost with its leader, or landed in a newer term under
   * a leader that was re-elected: its outcome is unknown, and it fails now instead of at its
   * timeout, so the client can retry at once.
   */
  writesOverTakenBy(appliedTerm: number): void {
    for (const [id, w] of this.writes) {
      if (w.term === undefined || w.term >= appliedTerm) continue;
      this.writes.delete(id);
      w.reject(new LsmraftError('KV_ERR_TIMEOUT', `write ${id}: the leadership changed (term ${w.term} -> ${appliedTerm}) before it was applied; its outcome is unknown, retry it`));
    }
  }

  /** The data of a write still waiting, or undefined once it ended. */
  writeData(requestId: number): Uint8Array | undefined {
    return this.writes.get(requestId)?.payload;
  }

  /** Removes the waiter of `key` from `map`; the caller ends it. */
  private static take<K>(map: Map<K, Waiter>, key: K): Waiter | undefined {
    const w = map.get(key);
    if (w === undefined) return undefined;
    map.delete(key);
    return w;
  }

  /**
   * The first entry proposed for write `requestId` was applied (copies applied later answer
   * nothing: the first decides). Unknown ids (another incarnation's) are ignored.
   */
  writeApplied(requestId: number, outcome: { error?: LsmraftError | undefined } & AppliedOutcome): void {
    const w = PendingRequests.take(this.writes, requestId);
    if (w === undefined) return;
    if (outcome.error !== undefined) w.reject(outcome.error);
    else w.resolve({ sessionId: outcome.sessionId, etcd: outcome.etcd });
  }

  /** Forgets a write whose proposal was refused (the caller reports the refusal itself). */
  cancelWrite(requestId: number, why: Error): void {
    PendingRequests.take(this.writes, requestId)?.reject(why);
  }

  /** Waits until a ReadState for `contextKey` arrived AND the applied index reached its index. */
  waitRead(contextKey: string, timeoutMs: number, context: Uint8Array): Promise<AppliedOutcome | undefined> {
    this.admit('read');
    assert(!this.reads.has(contextKey), () => `read context ${contextKey} reused`);
    const { promise, waiter } = this.makeWaiter('linearizable read (waiting for the leader\'s read index and its apply)', timeoutMs);
    waiter.payload = context;
    this.reads.set(contextKey, waiter);
    return promise;
  }

  /** Contexts of the reads still waiting for their ReadState (to ask a new leader again). */
  readContextsWaiting(): Uint8Array[] {
    return [...this.reads.values()].map((w) => w.payload!);
  }

  cancelRead(contextKey: string, why: Error): void {
    PendingRequests.take(this.reads, contextKey)?.reject(why);
  }

  /** A ReadState arrived: the read may be served once applied >= index. */
  readIndexKnown(contextKey: string, index: number, applied: number): void {
    const w = this.reads.get(contextKey);
    if (w === undefined) return;
    this.reads.delete(contextKey);
    if (index <= applied) {
      w.resolve();
      return;
    }
    // Insert keeping ascending order; ReadStates mostly arrive in order, so this scans from the end.
    let at = this.awaitingApply.length;
    while (at > 0 && this.awaitingApply[at - 1]!.index > index) at--;
    this.awaitingApply.splice(at, 0, { index, key: contextKey, waiter: w });
  }

  /** The state machine applied up to `applied`: serve the reads it covers. */
  appliedTo(applied: number): void {
    let n = 0;
    while (n < this.awaitingApply.length && this.awaitingApply[n]!.index <= applied) n++;
    if (n === 0) return;
    const done = this.awaitingApply.splice(0, n);
    for (const r of done) r.waiter.resolve();
  }

  /** Waits until conf change (type, nodeId) is applied. */
  waitConfChange(type: ConfChangeType, nodeId: NodeId, timeoutMs: number): Promise<AppliedOutcome | undefined> {
    this.admit('conf change');
    const { promise, waiter } = this.makeWaiter(`${type} ${nodeId}`, timeoutMs);
    this.confChanges.add({ ...waiter, type, nodeId });
    return promise;
  }

  confChangeApplied(type: ConfChangeType, nodeId: NodeId): void {
    for (const w of [...this.confChanges]) {
      if (w.type !== type || w.nodeId !== nodeId) continue;
      this.confChanges.delete(w);
      w.resolve();
    }
  }

  /**
   * Fails every waiter (the node stops) and every later request with `why`. A write or conf change
   * already proposed may still be committed by the others: those fail with KV_ERR_TIMEOUT (outcome
   * unknown), never with `why`, whose code may say "not done".
   */
  failAll(why: LsmraftError): void {
    this.failed = why;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepAtMs = Infinity;
    const unknown = new LsmraftError('KV_ERR_TIMEOUT', `${why.message} before the request was applied; its outcome is unknown`);
    for (const w of [...this.writes.values(), ...this.confChanges]) w.reject(unknown);
    const all: Waiter[] = [...this.reads.values(), ...this.awaitingApply.map((r) => r.waiter)];
    this.writes.clear();
    this.reads.clear();
    this.awaitingApply = [];
    this.confChanges.clear();
    for (const w of all) w.reject(why);
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** What the request path needs of its node. */
export interface RequestPathHost {
  readonly id: NodeId;
  readonly tickMs: number;
  readonly requestTimeoutMs: number;
  /** Uniform in [0, 1): the random bases of request ids and read contexts. */
  random(): number;
  /** The wall clock stamped into proposals (ms since the epoch). */
  clockMs(): number;
  rawNode(): RawNode;
  /** Wakes the Ready loop after a step. */
  kick(): void;
  isRunning(): boolean;
  /** Throws KV_ERR_STOPPED unless the node is running. */
  checkRunning(): void;
  /** The known leader's id, 0 if none. */
  leaderId(): NodeId;
  /** The known leader with its address, if both are known. */
  leader(): LeaderInfo | undefined;
  /** A JOIN reset is running: nothing may be stepped into the core meanwhile (join-target.ts). */
  joining(): boolean;
  /** The term a proposal made now is made at. */
  currentTerm(): number;
  /** Options to dial another node at `address`: its peer TLS, if the node has TLS (tls-options.ts). */
  dialNode(address: string): ClientConnectionOptions;
}

/** Bounds on the writes gathered into one proposal (RequestPath.gather): their count and data bytes. */
export const PROPOSAL_BATCH_COUNT_MAX = 256;
export const PROPOSAL_BATCH_BYTES_MAX = 1024 * 1024;

/** A write waiting in the batch of this event-loop turn. */
interface GatheredProposal {
  requestId: number;
  data: Uint8Array;
  deadlineMs: number;
}

export class RequestPath {
  readonly requests: PendingRequests;
  /** Writes gathered for the next proposal, their data bytes, and whether its proposing is scheduled. */
  private batch: GatheredProposal[] = [];
  private batchBytes = 0;
  private batchScheduled = false;
  private leaderWaiters: Array<() => void> = [];
  private nextRequestId: number;
  private nextReadId = 1;
  private readonly readContextPrefix: string;
  private reissueTimer: NodeJS.Timeout | undefined;
  /** The ReadIndex round in flight, and the one the reads arriving meanwhile share (readBarrier). */
  private readInFlight: Promise<void> | undefined;
  private readGathering: Promise<void> | undefined;
  /** Linearizable reads waiting in readBarrier, bounded by readCallersMax (the pending requests bound). */
  private readCallers = 0;
  private readonly readCallersMax: number;

  constructor(private readonly h: RequestPathHost, pendingRequestsMax: number) {
    this.requests = new PendingRequests(pendingRequestsMax);
    this.readCallersMax = pendingRequestsMax;
    // Request ids tag this incarnation's proposals: a random base keeps a restarted node from
    // taking an entry of its previous life (re-applied at startup) for one of its new requests.
    this.nextRequestId = Math.floor(h.random() * 2 ** 40) + 1;
    this.readContextPrefix = `${h.id}.${Math.floor(h.random() * 2 ** 40).toString(36)}.`;
  }

  /**
   * Proposes the command `make` builds, with a fresh proposal tag and this node's clock (a leader
   * stamps it again with its own: KvNode's step hook); resolves once applied here, with what the
   * state machine answered (the session a register created, an etcd write's outcome); rejects with
   * its error if it refused the command. Writes made in one turn of the event loop are proposed
   * together (gather), so a burst of client requests costs one append per follower, not one each.
   */
  async proposeCommand(make: (tag: ProposalTag & { timeMs: number }) => KvCommand): Promise<AppliedOutcome | undefined> {
    this.h.checkRunning();
    const requestId = this.nextRequestId++;
    const data = encodeKvCommand(make({ proposerId: this.h.id, proposalId: requestId, timeMs: this.h.clockMs() }));
    const deadline = Date.now() + this.h.requestTimeoutMs;
    const applied = this.requests.waitWrite(requestId, this.h.requestTimeoutMs, data, this.h.currentTerm());
    if (this.h.leaderId() !== 0 && !this.h.joining()) this.gather({ requestId, data, deadlineMs: deadline });
    else this.proposeAlone(requestId, data, deadline);
    return applied;
  }

  /**
   * Adds a write to the batch proposed at the end of this turn of the event loop (setImmediate: the
   * requests read from the sockets in one poll phase share it), or at once when the batch is full.
   */
  private gather(p: GatheredProposal): void {
    this.batch.push(p);
    this.batchBytes += p.data.length;
    if (this.batch.length >= PROPOSAL_BATCH_COUNT_MAX || this.batchBytes >= PROPOSAL_BATCH_BYTES_MAX) {
      this.proposeBatch();
      return;
    }
    if (this.batchScheduled) return;
    this.batchScheduled = true;
    setImmediate(() => {
      this.batchScheduled = false;
      this.proposeBatch();
    });
  }

  /**
   * Proposes the gathered writes as one proposal; if the core drops it (the leader was lost or is
   * handing over meanwhile), each goes the single way, retrying until its deadline.
   */
  private proposeBatch(): void {
    // Writes whose waiter already ended (timed out) are not proposed.
    const batch = this.batch.filter((p) => this.requests.writeData(p.requestId) !== undefined);
    this.batch = [];
    this.batchBytes = 0;
    if (batch.length === 0) return;
    if (this.h.isRunning() && this.h.leaderId() !== 0 && !this.h.joining()) {
      const term = this.h.currentTerm();
      try {
        this.h.rawNode().proposeAll(batch.map((p) => p.data));
        for (const p of batch) this.requests.writeProposedAt(p.requestId, term);
        this.h.kick();
        return;
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    }
    for (const p of batch) this.proposeAlone(p.requestId, p.data, p.deadlineMs);
  }

  /** Proposes one waiting write once a leader takes it (until `deadlineMs`); a failure ends its waiter. */
  private proposeAlone(requestId: number, data: Uint8Array, deadlineMs: number): void {
    void this.withLeader(deadlineMs, () => {
      this.requests.writeProposedAt(requestId, this.h.currentTerm());
      this.h.rawNode().propose(data);
    }).catch((err: unknown) => {
      if (!(err instanceof LsmraftError)) throw err;
      this.requests.cancelWrite(requestId, err);
    });
  }

  /**
   * Resolves once this node applied everything committed before the call (ReadIndex). Reads are
   * batched as etcd's linearizableReadLoop batches them (server/etcdserver/v3_server.go): at most
   * one ReadIndex round is in flight; the reads that arrive meanwhile gather behind it and share the
   * next round, sent when it ends. A round's index is taken after every read sharing it arrived,
   * so each is linearizable; a round costs one heartbeat broadcast whatever its number of reads.
   * A read may wait for the round in flight, then its own: up to twice requestTimeoutMs.
   */
  async readBarrier(): Promise<void> {
    this.h.checkRunning();
    if (this.readCallers >= this.readCallersMax) {
      throw new RequestTimeoutError(`linearizable read (${this.readCallersMax} reads already waiting)`, 0);
    }
    this.readCallers++;
    try {
      this.readGathering ??= this.nextReadRound(this.readInFlight);
      await this.readGathering;
    } finally {
      this.readCallers--;
    }
  }

  /** The round the reads gathering now share: sent once `before` (the round in flight) ended. */
  private async nextReadRound(before: Promise<void> | undefined): Promise<void> {
    // Its outcome belongs to its own reads; this round only waits for it to end. Without a round
    // in flight, one microtask lets the reads of the same tick join.
    await new Promise<void>((resolve) => (before ?? Promise.resolve()).then(() => resolve(), () => resolve()));
    this.readGathering = undefined;
    const round = this.readIndexRound();
    this.readInFlight = round;
    try {
      await round;
    } finally {
      if (this.readInFlight === round) this.readInFlight = undefined;
    }
  }

  /** One ReadIndex request: resolves once this node applied up to the index the leader answers. */
  private async readIndexRound(): Promise<void> {
    this.h.checkRunning();
    // A context unique among this node's reads, across restarts too (random prefix).
    const ctx = utf8(`${this.readContextPrefix}${this.nextReadId++}`);
    const key = hex(ctx);
    const deadline = Date.now() + this.h.requestTimeoutMs;
    const ready = this.requests.waitRead(key, this.h.requestTimeoutMs, ctx);
    ready.catch(() => undefined); // awaited below (see proposeCommand)
    try {
      await this.withLeader(deadline, () => this.h.rawNode().readIndex(ctx));
    } catch (err) {
      this.requests.cancelRead(key, err as Error);
    }
    await ready;
  }

  /** ReadStates of a Ready: the reads they answer may be served once applied. */
  readStates(rs: readonly ReadState[], applied: number): void {
    for (const r of rs) this.requests.readIndexKnown(hex(r.context), r.index, applied);
  }

  /**
   * Runs `step` (a propose or readIndex) once a leader is known, retrying while the core drops it
   * (no leader yet, or a leadership transfer) until the deadline; then KV_ERR_NOT_LEADER.
   */
  async withLeader(deadlineMs: number, step: () => void): Promise<void> {
    // Each pass waits at least one tick; bounded by the deadline.
    for (let attempt = 0; ; attempt++) {
      this.h.checkRunning();
      if (this.h.leaderId() !== 0 && !this.h.joining()) {
        try {
          step();
          this.h.kick();
          return;
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
        }
      }
      const leftMs = deadlineMs - Date.now();
      if (leftMs <= 0) {
        throw new NotLeaderError(`node ${this.h.id}: no leader accepted the request within ${this.h.requestTimeoutMs} ms`, this.h.leader());
      }
      await this.waitForLeaderChange(Math.min(leftMs, this.h.tickMs * Math.min(8, attempt + 1)));
    }
  }

  /** Resolves at the next leader change, or after `maxMs`. */
  waitForLeaderChange(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, maxMs);
      timer.unref();
      const waiters = this.leaderWaiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  /** The leader changed (to `leader`, 0 if unknown): wake the waiters, ask for lost read indexes. */
  leaderChanged(leader: NodeId): void {
    for (const w of this.leaderWaiters.splice(0)) w();
    // Reads sent to the old leader may be lost with it; reads are safe to ask for again.
    if (leader !== 0) this.reissueReadsLater();
  }

  /**
   * A message of this node could not be sent: a proposal ('prop') or read ('readIndex') that never
   * left this node is safe to send again (to the next leader). Other messages Raft resends itself.
   */
  unsent(m: Message): void {
    if (m.from !== this.h.id) return;
    if (m.type === 'prop') {
      for (const e of m.entries) {
        if (e.type !== 'normal' || e.data.length === 0) continue;
        const cmd = decodeKvCommand(e.data);
        if (cmd.proposerId === this.h.id) this.reproposeLater(cmd.proposalId);
      }
    } else if (m.type === 'readIndex' && m.context !== undefined) {
      this.reissueReadsLater();
    }
  }

  /** Proposes a waiting write again once a (new) leader is known; ends with the write's waiter. */
  private reproposeLater(requestId: number): void {
    void (async () => {
      await this.waitForLeaderChange(this.h.tickMs * 5);
      const data = this.requests.writeData(requestId);
      if (data === undefined || !this.h.isRunning()) return;
      this.proposeAlone(requestId, data, Date.now() + this.h.requestTimeoutMs);
    })();
  }

  /** Asks for the read index of every read still waiting for one, after a short pause. */
  private reissueReadsLater(): void {
    if (this.reissueTimer !== undefined) return;
    this.reissueTimer = setTimeout(() => {
      this.reissueTimer = undefined;
      this.reissueReads();
    }, this.h.tickMs * 5);
    this.reissueTimer.unref();
  }

  private reissueReads(): void {
    if (!this.h.isRunning() || this.h.leaderId() === 0 || this.h.joining()) return;
    for (const ctx of this.requests.readContextsWaiting()) {
      try {
        this.h.rawNode().readIndex(ctx);
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
        return; // asked again at the next leader change
      }
    }
    this.h.kick();
  }

  /**
   * Sends an admin request to the leader and waits up to `budgetMs`: more than the leader's own
   * deadline for the operation, so the leader's answer (success or its error) arrives first.
   */
  async forwardToLeader(req: ClientRequestInput, budgetMs: number): Promise<ClientResponse> {
    const deadline = Date.now() + budgetMs;
    await this.withLeader(Date.now() + this.h.requestTimeoutMs, () => {});
    const leader = this.h.leader();
    if (leader === undefined) throw new NotLeaderError(`node ${this.h.id}: the leader's address is unknown`);
    const conn = await connectClient(leader.address, { ...this.h.dialNode(leader.address), connectTimeoutMs: 1000, requestTimeoutMs: budgetMs });
    try {
      const res = await conn.request(req, Math.max(1, deadline - Date.now()));
      if (!res.ok) throw errorFromWire(res.errorCode, res.message, res.leaderHint);
      return res;
    } finally {
      conn.close();
    }
  }

  /** The node stops: wake every waiter, fail every request with `why`. */
  stop(why: LsmraftError): void {
    if (this.reissueTimer !== undefined) clearTimeout(this.reissueTimer);
    for (const w of this.leaderWaiters.splice(0)) w();
    this.requests.failAll(why);
  }
}
