/**
 * Learning of this node's own removal when the entry that removed it never reached it: the node
 * was down or cut off while the cluster removed it, so it still counts itself a member, finds no
 * leader (the members no longer send it anything and refuse its votes), and would fail every
 * request with KV_ERR_NOT_LEADER after its deadline, forever. (etcd meets the same case: a removed
 * member learns of it from a peer's answer and stops, etcdserver's ErrMemberRemoved.)
 *
 * After leaderlessMsMin without a leader, the node asks each peer in its address book for its
 * status (the client protocol), at most one round at a time. It concludes that it was removed only
 * on the word of a leader of its own cluster that has applied at least as far as this node and
 * whose configuration holds this node neither as voter nor as learner. Why that is safe: this node
 * counts itself a member because it applied the entry that added it; a leader that applied that
 * far applied that entry too, so if its configuration lacks this node, a later entry removed it.
 */
import { LsmraftError } from '../errors.js';
import type { NodeId } from '../raft/types.js';
import { ClientConnection } from './client-connection.js';
import type { NodeStatus } from './node-status.js';

export interface RemovalWatchHost {
  readonly id: NodeId;
  /** The cluster id as status() formats it. */
  clusterId(): string;
  /** This node's own configuration holds it (as voter or learner). */
  isMember(): boolean;
  appliedIndex(): number;
  leaderKnown(): boolean;
  /** Addresses of the other nodes of the address book. */
  peerAddresses(): string[];
  /** This node is no longer a member; `how` says how it learned it. */
  removed(how: string): void;
}

export interface RemovalWatchOptions {
  /** How often the node checks whether it has been leaderless long enough. */
  checkEveryMs: number;
  /** Leaderless this long before a round of questions (and again between rounds). */
  leaderlessMsMin: number;
  /** Bound on connecting to one peer and on its answer. */
  askTimeoutMs: number;
}

/** A peer's status, or undefined when it cannot be reached or does not answer in time. */
async function statusOf(address: string, timeoutMs: number): Promise<NodeStatus | undefined> {
  let conn: ClientConnection;
  try {
    conn = await ClientConnection.connect(address, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return undefined;
  }
  try {
    const res = await conn.request({ op: 'status' }, timeoutMs);
    return res.ok && res.json !== undefined ? (JSON.parse(res.json) as NodeStatus) : undefined;
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return undefined;
  } finally {
    conn.close();
  }
}

export class RemovalWatch {
  private timer: NodeJS.Timeout | undefined;
  private leaderlessSinceMs: number | undefined;
  private asking = false;
  /** Index of an applied removal of this node not yet final (appliedTo decides). */
  private removalAppliedAt: number | undefined = undefined;

  constructor(private readonly h: RemovalWatchHost, private readonly opts: RemovalWatchOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.opts.checkEveryMs);
    this.timer.unref();
  }

  /**
   * This node applied its own removal at `index`. Not yet final: a node that catches up on a log
   * where it was removed and later added again (an operator replaced it under the same id) applies
   * both. It is removed only if, once every committed entry it knows of is applied, it is still out.
   */
  removalApplied(index: number): void {
    this.removalAppliedAt = index;
  }

  /** After each turn: entries are applied up to `applied`; `commit` is the commit index known. */
  appliedTo(applied: number, commit: number): void {
    const at = this.removalAppliedAt;
    if (at === undefined) return;
    if (this.h.isMember()) this.removalAppliedAt = undefined;
    else if (applied >= commit) {
      this.removalAppliedAt = undefined;
      this.h.removed(`at index ${at}`);
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.asking || this.timer === undefined) return;
    if (this.h.leaderKnown()) {
      this.leaderlessSinceMs = undefined;
      return;
    }
    const now = Date.now();
    this.leaderlessSinceMs ??= now;
    if (now - this.leaderlessSinceMs < this.opts.leaderlessMsMin || !this.h.isMember()) return;
    this.asking = true;
    try {
      const applied = this.h.appliedIndex();
      const answers = await Promise.all(this.h.peerAddresses().map((a) => statusOf(a, this.opts.askTimeoutMs)));
      const verdict = answers.find(
        (s) =>
          s !== undefined && s.role === 'leader' && s.leader === s.id && s.clusterId === this.h.clusterId() && s.applied >= applied &&
          !s.voters.includes(this.h.id) && !s.learners.includes(this.h.id),
      );
      if (verdict !== undefined && this.timer !== undefined && this.h.isMember()) this.h.removed(`as leader ${verdict.id} reports (this node missed the entry)`);
    } finally {
      this.asking = false;
      // The next round waits another full window.
      this.leaderlessSinceMs = Date.now();
    }
  }
}
