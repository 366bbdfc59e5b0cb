/**
 * The simulated network between Raft nodes: a seeded, step-driven message queue that loses,
 * duplicates, delays and (through random delays) reorders messages, and that can be cut into
 * partitions that later heal. After the fault model of etcd's raft `network` test harness and
 * FoundationDB's / TigerBeetle's simulated packet bus; nothing here is real IO.
 *
 * Time is the simulation step. A message sent at step s is delivered at some step in
 * [s + 1, s + maxDelaySteps] unless it is dropped; a partition drops messages both when they are
 * sent and when they would be delivered (a cut made while a message is in flight loses it).
 */

import type { Message, NodeId } from '../raft/types.js';
import { assert } from '../util/assert.js';
import type { Random } from './random.js';

export interface NetworkOptions {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateRate: number;
  /** Upper bound of the delivery delay, in steps (>= 1). */
  maxDelaySteps: number;
  /** Upper bound on messages in flight; beyond it new messages are dropped (a full send queue). */
  maxInFlightMessages: number;
}

export type DropReason = 'loss' | 'partition' | 'overflow';

interface InFlight {
  message: Message;
  deliverAtStep: number;
  /** Send order, the tie-breaker that keeps delivery deterministic. */
  seq: number;
}

export class SimNetwork {
  private readonly rng: Random;
  private readonly options: NetworkOptions;
  /** In-flight messages by delivery step. */
  private readonly buckets = new Map<number, InFlight[]>();
  private inFlight = 0;
  private seq = 0;
  /** Partition group of each node; absent means group 0. Nodes talk only within a group. */
  private groups = new Map<NodeId, number>();
  sentCount = 0;
  droppedCount = 0;

  constructor(rng: Random, options: NetworkOptions) {
    assert(options.maxDelaySteps >= 1, 'maxDelaySteps must be at least 1');
    this.rng = rng;
    this.options = options;
  }

  connected(a: NodeId, b: NodeId): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  /** Splits the nodes: each listed group can talk only within itself; unlisted nodes form group 0. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((g, i) => {
      for (const id of g) this.groups.set(id, i + 1);
    });
  }

  heal(): void {
    this.groups = new Map();
  }

  isPartitioned(): boolean {
    return this.groups.size > 0;
  }

  describePartition(): string {
    const byGroup = new Map<number, NodeId[]>();
    for (const [id, g] of this.groups) {
      const list = byGroup.get(g) ?? [];
      list.push(id);
      byGroup.set(g, list);
    }
    return [...byGroup.values()].map((g) => `{${g.sort((a, b) => a - b).join(',')}}`).join(' | ');
  }

  /**
   * Queues a message. Returns why it was dropped, or undefined when it is on its way (the sender
   * uses this to report unreachable peers and failed snapshots, as a real transport would).
   */
  send(message: Message, nowStep: number): DropReason | undefined {
    this.sentCount++;
    if (!this.connected(message.from, message.to)) {
      this.droppedCount++;
      return 'partition';
    }
    if (this.rng.chance(this.options.lossRate)) {
      this.droppedCount++;
      return 'loss';
    }
    if (this.inFlight >= this.options.maxInFlightMessages) {
      this.droppedCount++;
      return 'overflow';
    }
    this.enqueue(message, nowStep);
    if (this.rng.chance(this.options.duplicateRate) && this.inFlight < this.options.maxInFlightMessages) this.enqueue(message, nowStep);
    return undefined;
  }

  /**
   * Takes the messages due at `nowStep`, in delivery order; drops those whose endpoints are now
   * cut apart. The caller delivers them (and drops those addressed to crashed nodes).
   */
  deliverable(nowStep: number): Message[] {
    const due = this.buckets.get(nowStep);
    if (due === undefined) return [];
    this.buckets.delete(nowStep);
    this.inFlight -= due.length;
    due.sort((a, b) => a.seq - b.seq);
    const out: Message[] = [];
    for (const f of due) {
      if (this.connected(f.message.from, f.message.to)) out.push(f.message);
      else this.droppedCount++;
    }
    return out;
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  private enqueue(message: Message, nowStep: number): void {
    const deliverAtStep = nowStep + 1 + this.rng.int(this.options.maxDelaySteps);
    let bucket = this.buckets.get(deliverAtStep);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(deliverAtStep, bucket);
    }
    bucket.push({ message, deliverAtStep, seq: this.seq++ });
    this.inFlight++;
  }
}
