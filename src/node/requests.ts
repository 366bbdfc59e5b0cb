/**
 * Client requests a node is waiting on, after etcd's server/etcdserver wait.Wait (writes keyed by
 * request id, resolved when their entry is applied) and its linearizable read loop (reads keyed by
 * the ReadIndex context, served once the applied index reaches the read index: Raft thesis §6.4).
 *
 * What must hold: every waiter ends exactly once (applied, failed, or timed out), its timer is
 * cleared when it ends, and the number of waiters is bounded (pendingMax): past it a new request
 * fails at once instead of growing memory. Reads are answered in read-index order, and only after
 * the state machine applied at least their index.
 */
import { assert } from '../util/assert.js';
import type { ConfChangeType, NodeId } from '../raft/types.js';
import { RequestTimeoutError } from './errors.js';
import { LsmraftError } from '../errors.js';

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** The proposal's data (writes) or the read context (reads), to send again. */
  payload?: Uint8Array;
  /** Writes: the proposer's term when it last proposed the write. */
  term?: number;
}

interface ConfWaiter extends Waiter {
  type: ConfChangeType;
  nodeId: NodeId;
}

export class PendingRequests {
  private readonly writes = new Map<number, Waiter>();
  /** Reads waiting for their ReadState, by context (hex). */
  private readonly reads = new Map<string, Waiter>();
  /** Reads with a read index, waiting for the applied index to reach it; ascending by index. */
  private awaitingApply: Array<{ index: number; key: string; waiter: Waiter }> = [];
  private readonly confChanges = new Set<ConfWaiter>();
  private failed: LsmraftError | undefined;

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

  private makeWaiter(what: string, timeoutMs: number, onTimeout: () => void): { promise: Promise<void>; waiter: Waiter } {
    let waiter!: Waiter;
    const promise = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        onTimeout();
        reject(new RequestTimeoutError(what, timeoutMs));
      }, timeoutMs);
      waiter = { resolve, reject, timer };
    });
    return { promise, waiter };
  }

  /** Waits until the write tagged `requestId` is applied. Register BEFORE proposing it. */
  waitWrite(requestId: number, timeoutMs: number, data: Uint8Array, term: number): Promise<void> {
    this.admit('write');
    assert(!this.writes.has(requestId), () => `request id ${requestId} reused`);
    const { promise, waiter } = this.makeWaiter(`write ${requestId}`, timeoutMs, () => this.writes.delete(requestId));
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
      clearTimeout(w.timer);
      w.reject(new LsmraftError('KV_ERR_TIMEOUT', `write ${id}: the leadership changed (term ${w.term} -> ${appliedTerm}) before it was applied; its outcome is unknown, retry it`));
    }
  }

  /** The data of a write still waiting, or undefined once it ended. */
  writeData(requestId: number): Uint8Array | undefined {
    return this.writes.get(requestId)?.payload;
  }

  /** The entry of write `requestId` was applied. Unknown ids (another incarnation's) are ignored. */
  writeApplied(requestId: number): void {
    const w = this.writes.get(requestId);
    if (w === undefined) return;
    this.writes.delete(requestId);
    clearTimeout(w.timer);
    w.resolve();
  }

  /** Forgets a write whose proposal was refused (the caller reports the refusal itself). */
  cancelWrite(requestId: number, why: Error): void {
    const w = this.writes.get(requestId);
    if (w === undefined) return;
    this.writes.delete(requestId);
    clearTimeout(w.timer);
    w.reject(why);
  }

  /** Waits until a ReadState for `contextKey` arrived AND the applied index reached its index. */
  waitRead(contextKey: string, timeoutMs: number, context: Uint8Array): Promise<void> {
    this.admit('read');
    assert(!this.reads.has(contextKey), () => `read context ${contextKey} reused`);
    const { promise, waiter } = this.makeWaiter('linearizable read (waiting for the leader\'s read index and its apply)', timeoutMs, () => {
      this.reads.delete(contextKey);
      this.awaitingApply = this.awaitingApply.filter((r) => r.key !== contextKey);
    });
    waiter.payload = context;
    this.reads.set(contextKey, waiter);
    return promise;
  }

  /** Contexts of the reads still waiting for their ReadState (to ask a new leader again). */
  readContextsWaiting(): Uint8Array[] {
    return [...this.reads.values()].map((w) => w.payload!);
  }

  cancelRead(contextKey: string, why: Error): void {
    const w = this.reads.get(contextKey);
    if (w === undefined) return;
    this.reads.delete(contextKey);
    clearTimeout(w.timer);
    w.reject(why);
  }

  /** A ReadState arrived: the read may be served once applied >= index. */
  readIndexKnown(contextKey: string, index: number, applied: number): void {
    const w = this.reads.get(contextKey);
    if (w === undefined) return;
    this.reads.delete(contextKey);
    if (index <= applied) {
      clearTimeout(w.timer);
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
    for (const r of done) {
      clearTimeout(r.waiter.timer);
      r.waiter.resolve();
    }
  }

  /** Waits until conf change (type, nodeId) is applied. */
  waitConfChange(type: ConfChangeType, nodeId: NodeId, timeoutMs: number): Promise<void> {
    this.admit('conf change');
    let entry!: ConfWaiter;
    const { promise, waiter } = this.makeWaiter(`${type} ${nodeId}`, timeoutMs, () => this.confChanges.delete(entry));
    entry = { ...waiter, type, nodeId };
    this.confChanges.add(entry);
    return promise;
  }

  confChangeApplied(type: ConfChangeType, nodeId: NodeId): void {
    for (const w of [...this.confChanges]) {
      if (w.type !== type || w.nodeId !== nodeId) continue;
      this.confChanges.delete(w);
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  /** Fails every waiter (the node stops) and every later request with `why`. */
  failAll(why: LsmraftError): void {
    this.failed = why;
    const all: Waiter[] = [...this.writes.values(), ...this.reads.values(), ...this.awaitingApply.map((r) => r.waiter), ...this.confChanges];
    this.writes.clear();
    this.reads.clear();
    this.awaitingApply = [];
    this.confChanges.clear();
    for (const w of all) {
      clearTimeout(w.timer);
      w.reject(why);
    }
  }
}
