/**
 * The lessor: who decides that a lease has expired (etcd server/lease/lessor.go).
 *
 * Leases themselves (grant, revoke deleting the attached keys in one revision, checkpoints) are
 * state-machine apply, the same on every replica, and the state machine has no clock. Expiry is a
 * clock decision, so exactly one member makes it: the leader (etcd's "primary" lessor). It keeps a
 * min-heap of expiry times; when a lease's time passes it proposes LeaseRevoke through Raft, and
 * the revoke, once applied, is what removes the lease everywhere.
 *
 * - Promote (this member became leader): every lease's expiry restarts from now, at its remaining
 *   TTL (a checkpointed remainder, else its TTL) plus the election timeout, as etcd's
 *   Promote(extend) does: a leader change must not make the leases whose keep-alives went to the
 *   old leader expire in a burst. Demote drops the heap: followers track no expiry.
 * - Renew (keep-alive) on the leader: expiry = now + TTL. A follower cannot renew locally; it
 *   proposes LeaseCheckpoint{id, remaining = TTL}, and the leader's lessor, seeing that checkpoint
 *   applied, restarts the lease's expiry from the remainder (see lease-service.ts).
 * - Revokes are rate limited (etcd's leaseRevokeRate) and retried: a revoked lease stays in the
 *   heap at now + revokeRetryMs until its revoke is applied, so a revoke lost with a leader change
 *   is proposed again.
 *
 * Minimum TTL, as etcd computes it (server/etcdserver/server.go): ceil(1.5 x election timeout) in
 * seconds; a grant below it is raised to it and the response reports the raised TTL.
 */
import { LsmraftError } from '../errors.js';
import type { LeaseInfo } from '../mvcc/store.js';
import type { LeaseApplied } from '../node/etcd-api.js';
import { assert } from '../util/assert.js';

export type { LeaseApplied, LeaseInfo };

/** etcd's MaxLeaseTTL (server/lease/lessor.go), in seconds. */
export const LEASE_TTL_SECONDS_MAX = 9_000_000_000;

/** etcd's minimum lease TTL for an election timeout, in whole seconds. */
export function leaseTtlSecondsMin(electionTimeoutMs: number): number {
  return Math.ceil((3 * electionTimeoutMs) / 2 / 1000);
}

export interface LessorHost {
  isLeader(): boolean;
  leases(): Iterable<LeaseInfo>;
  lease(id: bigint): LeaseInfo | undefined;
  /** Calls `listener` with each applied lease command, in log order. */
  onLeaseApplied(listener: (op: LeaseApplied) => void): () => void;
  /** Proposes LeaseRevoke through Raft; resolves once applied. */
  proposeRevoke(id: bigint): Promise<unknown>;
}

export interface LessorOptions {
  electionTimeoutMs: number;
  /** How often the leader looks for expired leases (etcd: 500 ms). */
  checkIntervalMs: number;
  /** After proposing a revoke, when to propose it again if it was not applied. */
  revokeRetryMs: number;
  /** Revokes proposed per second at most (etcd's leaseRevokeRate: 1000). */
  revokesPerSecondMax: number;
}

export const DEFAULT_LESSOR_OPTIONS: LessorOptions = {
  electionTimeoutMs: 1000,
  checkIntervalMs: 500,
  revokeRetryMs: 3000,
  revokesPerSecondMax: 1000,
};

interface HeapItem {
  expiryMs: number;
  id: bigint;
}

/**
 * A binary min-heap of expiry times with lazy deletion: an item whose expiry is no longer the
 * lease's current one (renewed, revoked) is skipped when it surfaces.
 */
class ExpiryHeap {
  private items: HeapItem[] = [];

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items = [];
  }

  push(item: HeapItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.expiryMs <= a[i]!.expiryMs) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  peek(): HeapItem | undefined {
    return this.items[0];
  }

  pop(): HeapItem | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.expiryMs < a[m]!.expiryMs) m = l;
        if (r < a.length && a[r]!.expiryMs < a[m]!.expiryMs) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export class Lessor {
  readonly options: LessorOptions;
  readonly ttlSecondsMin: number;
  private primary = false;
  /** id -> current expiry (ms on the lessor's clock), on the leader only. */
  private readonly expiry = new Map<bigint, number>();
  /** Leases whose revoke was proposed and not yet applied. */
  private readonly revoking = new Set<bigint>();
  private readonly heap = new ExpiryHeap();
  private readonly stopListening: () => void;
  private timer: NodeJS.Timeout | undefined;
  /** Revoke proposals that failed with a typed error (retried after revokeRetryMs). */
  revokeFailures = 0;
  /** Checks that met the applied state unavailable (retried at the next check). */
  checkFailures = 0;

  constructor(
    private readonly host: LessorHost,
    private readonly now: () => number,
    options: Partial<LessorOptions> = {},
  ) {
    this.options = { ...DEFAULT_LESSOR_OPTIONS, ...options };
    assert(this.options.revokesPerSecondMax > 0 && this.options.checkIntervalMs > 0, 'lessor limits must be positive');
    this.ttlSecondsMin = leaseTtlSecondsMin(this.options.electionTimeoutMs);
    this.stopListening = host.onLeaseApplied((op) => this.applied(op));
  }

  /** Runs check() every checkIntervalMs until stop(). */
  start(): void {
    assert(this.timer === undefined, 'lessor started twice');
    this.timer = setInterval(() => this.check(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopListening();
    this.demote();
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  /** The TTL a grant of `requested` seconds gets (etcd raises it to the minimum). */
  grantedTtl(requestedSeconds: number): number {
    return Math.max(requestedSeconds, this.ttlSecondsMin);
  }

  /** This member became leader: track every lease, each extended so none expires in a burst. */
  promote(): void {
    const leases = [...this.host.leases()]; // first: it may throw while the state is replaced
    this.primary = true;
    this.expiry.clear();
    this.revoking.clear();
    this.heap.clear();
    const base = this.now() + this.options.electionTimeoutMs;
    for (const l of leases) {
      const seconds = l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds;
      this.schedule(l.id, base + seconds * 1000);
    }
  }

  demote(): void {
    this.primary = false;
    this.expiry.clear();
    this.revoking.clear();
    this.heap.clear();
  }

  /**
   * Keep-alive on the leader: the lease's TTL, or 0 if there is no such lease (or its revoke is
   * under way), which is how etcd's keep-alive stream reports a lease not found.
   */
  renew(id: bigint): number {
    assert(this.primary, 'renew on a member that is not the leader');
    const l = this.host.lease(id);
    if (l === undefined || this.revoking.has(id)) return 0;
    this.schedule(id, this.now() + l.ttlSeconds * 1000);
    return l.ttlSeconds;
  }

  /** Seconds left of a lease on the leader; undefined on a follower or for an unknown lease. */
  remainingSeconds(id: bigint): number | undefined {
    if (!this.primary) return undefined;
    const e = this.expiry.get(id);
    if (e === undefined) return undefined;
    return Math.max(0, Math.ceil((e - this.now()) / 1000));
  }

  /**
   * One look for expired leases (leader only): also notices a change of role, since the lessor
   * learns of leadership by asking (a promote a check late costs at most one check interval, well
   * inside the election-timeout extension).
   */
  check(): void {
    try {
      this.checkOnce();
    } catch (e) {
      // The applied state is unavailable for now (a snapshot install, a stop): the next check retries.
      if (!(e instanceof LsmraftError)) throw e;
      this.checkFailures++;
    }
  }

  private checkOnce(): void {
    const leader = this.host.isLeader();
    if (leader && !this.primary) this.promote();
    if (!leader && this.primary) this.demote();
    if (!this.primary) return;
    const now = this.now();
    let budget = Math.max(1, Math.floor((this.options.revokesPerSecondMax * this.options.checkIntervalMs) / 1000));
    for (let top = this.heap.peek(); top !== undefined && budget > 0; top = this.heap.peek()) {
      if (this.expiry.get(top.id) !== top.expiryMs) {
        this.heap.pop(); // stale: renewed or revoked since
        continue;
      }
      if (top.expiryMs > now) break;
      this.heap.pop();
      budget--;
      this.revoking.add(top.id);
      this.schedule(top.id, now + this.options.revokeRetryMs);
      this.host.proposeRevoke(top.id).catch((e: unknown) => {
        // Not leader, timeout, stopped: the retry above proposes it again while this member leads.
        if (!(e instanceof LsmraftError)) throw e;
        this.revokeFailures++;
      });
    }
  }

  /** Items in the heap (stale ones included): bounded by compact() at twice the leases tracked. */
  get heapSize(): number {
    return this.heap.size;
  }

  private schedule(id: bigint, expiryMs: number): void {
    this.expiry.set(id, expiryMs);
    this.heap.push({ id, expiryMs });
    if (this.heap.size > 2 * this.expiry.size + 64) this.compact();
  }

  /** Drops stale heap items (renewals leave one behind each). */
  private compact(): void {
    this.heap.clear();
    for (const [id, expiryMs] of this.expiry) this.heap.push({ id, expiryMs });
  }

  private applied(op: LeaseApplied): void {
    if (!this.primary) return;
    switch (op.kind) {
      case 'grant':
        this.schedule(op.id, this.now() + op.ttlSeconds * 1000);
        break;
      case 'revoke':
        this.expiry.delete(op.id);
        this.revoking.delete(op.id);
        break;
      case 'checkpoint':
        // A keep-alive that reached a follower, or a remainder the leader recorded itself.
        if (this.expiry.has(op.id) && !this.revoking.has(op.id)) {
          this.schedule(op.id, this.now() + op.remainingTtlSeconds * 1000);
        }
        break;
    }
  }
}
