/**
 * Pending ReadIndex requests at the leader, after etcd-io/raft's read_only.go.
 *
 * Safe mode (the default): a read request records the commit index at arrival; the leader sends a
 * heartbeat round carrying the request's context; once a quorum acknowledges that context, the
 * leader knows it was still leader when the request arrived, so the recorded index is safe to read
 * at. Requests are answered in arrival order: an ack for a later request confirms all earlier ones.
 *
 * Lease mode: the leader answers at once with its commit index, trusting that no other leader can
 * exist while its lease (an election timeout since it heard from a quorum) runs. This holds only
 * with checkQuorum on (the leader steps down once the lease lapses, and followers with a live leader
 * reject votes) and only while the nodes' clocks tick at rates within a bounded drift of each other:
 * a follower whose clock runs fast may elect a new leader while the old one still believes its
 * lease. lsmraft uses safe mode unless a driver opts in.
 */
import type { Message, NodeId } from './types.js';

export type ReadOnlyOption = 'safe' | 'lease';

export interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Set<NodeId>;
}

/** Pending requests are keyed by their context bytes, as hex. */
export function contextKey(ctx: Uint8Array | undefined): string {
  if (ctx === undefined) return '';
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += ctx[i]!.toString(16).padStart(2, '0');
  return s;
}

export class ReadOnly {
  readonly option: ReadOnlyOption;
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /** Records a request that arrived when the commit index was `index`. Duplicate contexts are ignored. */
  addRequest(index: number, m: Message): void {
    const key = contextKey(m.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req: m, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records that `id` acknowledged the heartbeat with `context`; returns the acks so far. */
  recvAck(id: NodeId, context: Uint8Array | undefined): ReadonlySet<NodeId> | undefined {
    const rs = this.pending.get(contextKey(context));
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Dequeues the request with `context` and every request queued before it. */
  advance(context: Uint8Array | undefined): ReadIndexStatus[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs !== undefined) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  /** Context of the newest pending request (sent with heartbeats so they also confirm reads). */
  lastPendingRequestContext(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)?.req.context;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
