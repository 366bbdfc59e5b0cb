import { describe, expect, it } from 'vitest';
import {
  Lessor,
  leaseTtlSecondsMin,
  type LeaseApplied,
  type LeaseInfo,
  type LessorHost,
  type LessorOptions,
} from '../../src/etcd/lessor.js';
import { NodeStoppedError, NotLeaderError } from '../../src/node/errors.js';

/** A lease table applied by hand, a leader flag, and a record of proposed revokes. */
class FakeLessorHost implements LessorHost {
  leader = true;
  readonly table = new Map<bigint, LeaseInfo>();
  readonly proposed: bigint[] = [];
  failProposals = false;
  /** When set, a proposed revoke is applied at once (as a healthy cluster would). */
  applyRevokes = false;
  private readonly listeners = new Set<(op: LeaseApplied) => void>();

  isLeader(): boolean {
    return this.leader;
  }
  leases(): Iterable<LeaseInfo> {
    return this.table.values();
  }
  lease(id: bigint): LeaseInfo | undefined {
    return this.table.get(id);
  }
  onLeaseApplied(listener: (op: LeaseApplied) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  proposeRevoke(id: bigint): Promise<unknown> {
    this.proposed.push(id);
    if (this.failProposals) return Promise.reject(new NotLeaderError('not the leader'));
    if (this.applyRevokes) this.apply({ kind: 'revoke', id });
    return Promise.resolve();
  }
  apply(op: LeaseApplied): void {
    if (op.kind === 'grant') this.table.set(op.id, { id: op.id, ttlSeconds: op.ttlSeconds, remainingTtlSeconds: 0 });
    if (op.kind === 'revoke') this.table.delete(op.id);
    if (op.kind === 'checkpoint') {
      const l = this.table.get(op.id);
      if (l !== undefined) l.remainingTtlSeconds = op.remainingTtlSeconds;
    }
    for (const l of this.listeners) l(op);
  }
}

function setup(options: Partial<LessorOptions> = {}): { host: FakeLessorHost; lessor: Lessor; clock: { ms: number } } {
  const host = new FakeLessorHost();
  const clock = { ms: 1_000_000 };
  const lessor = new Lessor(host, () => clock.ms, { electionTimeoutMs: 1000, ...options });
  return { host, lessor, clock };
}

/** Advances the fake clock by `ms` in check-interval steps, running the lessor's check each step. */
function run(lessor: Lessor, clock: { ms: number }, ms: number): void {
  const step = lessor.options.checkIntervalMs;
  for (let t = 0; t < ms; t += step) {
    clock.ms += step;
    lessor.check();
  }
}

describe('Lessor', () => {
  it('computes the minimum TTL as etcd does: ceil(1.5 x election timeout) seconds', () => {
    expect(leaseTtlSecondsMin(1000)).toBe(2);
    expect(leaseTtlSecondsMin(3000)).toBe(5);
    expect(leaseTtlSecondsMin(100)).toBe(1);
    const { lessor } = setup();
    expect(lessor.grantedTtl(1)).toBe(2);
    expect(lessor.grantedTtl(60)).toBe(60);
  });

  it('on the leader, proposes one revoke when a lease expires, and none after it is applied', () => {
    const { host, lessor, clock } = setup();
    lessor.check(); // becomes primary
    host.apply({ kind: 'grant', id: 7n, ttlSeconds: 5 });
    run(lessor, clock, 4500);
    expect(host.proposed).toEqual([]);
    expect(lessor.remainingSeconds(7n)).toBe(1);
    run(lessor, clock, 500);
    expect(host.proposed).toEqual([7n]);
    host.apply({ kind: 'revoke', id: 7n });
    run(lessor, clock, 10_000);
    expect(host.proposed).toEqual([7n]);
  });

  it('a follower never revokes', () => {
    const { host, lessor, clock } = setup();
    host.leader = false;
    host.apply({ kind: 'grant', id: 7n, ttlSeconds: 2 });
    run(lessor, clock, 20_000);
    expect(host.proposed).toEqual([]);
    expect(lessor.remainingSeconds(7n)).toBeUndefined();
  });

  it('keeps a renewed lease alive, and reports 0 for a lease it does not know', () => {
    const { host, lessor, clock } = setup();
    lessor.check();
    host.apply({ kind: 'grant', id: 1n, ttlSeconds: 3 });
    for (let i = 0; i < 20; i++) {
      run(lessor, clock, 1000);
      expect(lessor.renew(1n)).toBe(3);
    }
    expect(host.proposed).toEqual([]);
    expect(lessor.renew(99n)).toBe(0);
    expect(lessor.heapSize).toBeLessThanOrEqual(2 * 1 + 64 + 1);
  });

  it('restarts expiry from an applied checkpoint (a keep-alive that reached a follower)', () => {
    const { host, lessor, clock } = setup();
    lessor.check();
    host.apply({ kind: 'grant', id: 1n, ttlSeconds: 4 });
    run(lessor, clock, 3000);
    host.apply({ kind: 'checkpoint', id: 1n, remainingTtlSeconds: 4 });
    run(lessor, clock, 3500);
    expect(host.proposed).toEqual([]);
    run(lessor, clock, 1000);
    expect(host.proposed).toEqual([1n]);
  });

  it('a new leader extends every lease by its TTL plus the election timeout instead of expiring them at once', () => {
    const { host, lessor, clock } = setup({ electionTimeoutMs: 2000 });
    host.leader = false;
    lessor.check();
    host.apply({ kind: 'grant', id: 1n, ttlSeconds: 5 });
    host.apply({ kind: 'grant', id: 2n, ttlSeconds: 10 });
    host.apply({ kind: 'checkpoint', id: 2n, remainingTtlSeconds: 3 });
    run(lessor, clock, 60_000); // long past both TTLs: the old leader was keeping them alive
    host.leader = true;
    lessor.check(); // promote at this instant
    run(lessor, clock, 4500); // 3 s checkpointed remainder + 2 s election timeout = 5 s
    expect(host.proposed).toEqual([]);
    run(lessor, clock, 500);
    expect(host.proposed).toEqual([2n]);
    run(lessor, clock, 2000); // 5 s TTL + 2 s
    expect(host.proposed).toEqual([2n, 1n]);
    host.leader = false;
    lessor.check();
    expect(lessor.isPrimary).toBe(false);
  });

  it('skips a check that meets the lease table unavailable (a snapshot install) and promotes at the next', () => {
    const { host, lessor, clock } = setup();
    host.apply({ kind: 'grant', id: 1n, ttlSeconds: 5 });
    const leases = host.leases.bind(host);
    host.leases = () => {
      throw new NodeStoppedError('the state machine is being replaced by a snapshot');
    };
    lessor.check();
    expect(lessor.isPrimary).toBe(false);
    expect(lessor.checkFailures).toBe(1);
    host.leases = leases;
    lessor.check();
    expect(lessor.isPrimary).toBe(true);
    run(lessor, clock, 6000);
    expect(host.proposed).toEqual([1n]);
  });

  it('proposes a failed revoke again after the retry interval', async () => {
    const { host, lessor, clock } = setup({ revokeRetryMs: 3000 });
    lessor.check();
    host.failProposals = true;
    host.apply({ kind: 'grant', id: 5n, ttlSeconds: 2 });
    run(lessor, clock, 2000);
    expect(host.proposed).toEqual([5n]);
    await Promise.resolve();
    expect(lessor.revokeFailures).toBe(1);
    expect(lessor.renew(5n)).toBe(0); // its revoke is under way
    run(lessor, clock, 2500);
    expect(host.proposed).toEqual([5n]);
    run(lessor, clock, 500);
    expect(host.proposed).toEqual([5n, 5n]);
  });

  it('limits revokes per second when many leases expire together', () => {
    const { host, lessor, clock } = setup({ revokesPerSecondMax: 100, checkIntervalMs: 500 });
    lessor.check();
    host.applyRevokes = true;
    for (let i = 1; i <= 300; i++) host.apply({ kind: 'grant', id: BigInt(i), ttlSeconds: 2 });
    run(lessor, clock, 2000);
    expect(host.proposed.length).toBe(50); // one check's share: 100/s x 0.5 s
    run(lessor, clock, 1000);
    expect(host.proposed.length).toBe(150);
    run(lessor, clock, 2000);
    expect(host.proposed.length).toBe(300);
    expect(new Set(host.proposed).size).toBe(300);
    expect(host.table.size).toBe(0);
  });
});
