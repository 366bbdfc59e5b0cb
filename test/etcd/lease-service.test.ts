import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { etcdStatusOf } from '../../src/etcd/errors.js';
import {
  LEASE_TTL_TOO_LARGE,
  leaseHandlers,
  statusError,
  type LeaseServiceHost,
} from '../../src/etcd/lease-service.js';
import { Lessor, type LeaseApplied, type LeaseInfo, type LessorHost } from '../../src/etcd/lessor.js';
import { LsmraftError } from '../../src/errors.js';
import { MvccError, leaseNotFoundError } from '../../src/mvcc/errors.js';
import { NotLeaderError } from '../../src/node/errors.js';
import { utf8 } from '../../src/util/bytes.js';

/**
 * Applies proposals at once to an in-memory lease table, as a one-member cluster would, refusing
 * what the MVCC store's apply refuses.
 */
class FakeHost implements LeaseServiceHost, LessorHost {
  leader = true;
  readonly table = new Map<bigint, LeaseInfo & { keys: Uint8Array[] }>();
  readonly proposals: string[] = [];
  failWith: LsmraftError | undefined;
  readonly listeners = new Set<(op: LeaseApplied) => void>();
  isLeader(): boolean {
    return this.leader;
  }
  onLeaseApplied(listener: (op: LeaseApplied) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  leases(): Iterable<LeaseInfo> {
    return this.table.values();
  }
  lease(id: bigint): (LeaseInfo & { keys: Uint8Array[] }) | undefined {
    return this.table.get(id);
  }
  private apply(op: LeaseApplied, text: string): Promise<unknown> {
    this.proposals.push(text);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    if (op.kind === 'grant' && this.table.has(op.id)) return Promise.reject(new MvccError('MVCC_ERR_LEASE_EXISTS', 'exists'));
    if (op.kind === 'revoke' && !this.table.has(op.id)) return Promise.reject(leaseNotFoundError(op.id));
    if (op.kind === 'grant') this.table.set(op.id, { id: op.id, ttlSeconds: op.ttlSeconds, remainingTtlSeconds: 0, keys: [] });
    if (op.kind === 'revoke') this.table.delete(op.id);
    if (op.kind === 'checkpoint') this.table.get(op.id)!.remainingTtlSeconds = op.remainingTtlSeconds;
    for (const l of this.listeners) l(op);
    return Promise.resolve();
  }
  proposeGrant(id: bigint, ttlSeconds: number): Promise<unknown> {
    return this.apply({ kind: 'grant', id, ttlSeconds }, `grant ${ttlSeconds}`);
  }
  proposeRevoke(id: bigint): Promise<unknown> {
    return this.apply({ kind: 'revoke', id }, `revoke ${id}`);
  }
  proposeCheckpoint(id: bigint, remainingTtlSeconds: number): Promise<unknown> {
    return this.apply({ kind: 'checkpoint', id, remainingTtlSeconds }, `checkpoint ${id} ${remainingTtlSeconds}`);
  }
  header() {
    return { cluster_id: '1', member_id: '2', revision: '9', raft_term: '3' };
  }
  grpcError(e: LsmraftError): grpc.ServiceError {
    const s = etcdStatusOf(e, this.leader);
    return statusError(s.code, s.details);
  }
}

function setup(): { host: FakeHost; lessor: Lessor; clock: { ms: number }; h: ReturnType<typeof leaseHandlers> } {
  const host = new FakeHost();
  const clock = { ms: 0 };
  const lessor = new Lessor(
    host,
    () => clock.ms,
    { electionTimeoutMs: 1000 },
  );
  return { host, lessor, clock, h: leaseHandlers(host, lessor, { keepAlivesPendingMax: 4 }) };
}

function unary<Req>(handler: (call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => void, request: Req): Promise<any> {
  return new Promise((resolve, reject) => {
    handler({ request } as grpc.ServerUnaryCall<Req, unknown>, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

class FakeDuplex extends EventEmitter {
  readonly written: Array<{ ID: string; TTL: string }> = [];
  paused = false;
  ended = false;
  write(m: { ID: string; TTL: string }): boolean {
    this.written.push(m);
    return true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  end(): void {
    this.ended = true;
  }
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe('lease service', () => {
  it('grants with a picked positive id and the TTL raised to the minimum, and refuses what etcd refuses', async () => {
    const { host, h } = setup();
    const r = await unary(h.LeaseGrant, { TTL: '1', ID: '0' });
    expect(BigInt(r.ID)).toBeGreaterThan(0n);
    expect(r).toMatchObject({ TTL: '2', error: '', header: { revision: '9' } });
    expect(host.proposals).toEqual(['grant 2']);
    await expect(unary(h.LeaseGrant, { TTL: '9000000001', ID: '5' })).rejects.toMatchObject({
      code: grpc.status.OUT_OF_RANGE,
      details: LEASE_TTL_TOO_LARGE,
    });
    await expect(unary(h.LeaseGrant, { TTL: '10', ID: r.ID })).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: 'etcdserver: lease already exists',
    });
    await expect(unary(h.LeaseRevoke, { ID: '77' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'etcdserver: requested lease not found',
    });
    await unary(h.LeaseRevoke, { ID: r.ID });
    expect(host.table.size).toBe(0);
    host.failWith = new NotLeaderError('no leader');
    host.leader = false;
    await expect(unary(h.LeaseGrant, { TTL: '10', ID: '6' })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'etcdserver: no leader',
    });
  });

  it('reports time to live: -1 when unknown, the lessor clock on the leader, the granted TTL on a follower, keys on request', async () => {
    const { host, lessor, clock, h } = setup();
    lessor.check(); // primary
    await unary(h.LeaseGrant, { TTL: '30', ID: '7' });
    host.table.get(7n)!.keys.push(utf8('k1'));
    clock.ms += 10_000;
    expect(await unary(h.LeaseTimeToLive, { ID: '8', keys: false })).toMatchObject({ ID: '8', TTL: '-1' });
    const ttl = await unary(h.LeaseTimeToLive, { ID: '7', keys: true });
    expect(ttl).toMatchObject({ TTL: '20', grantedTTL: '30' });
    expect(ttl.keys.map(String)).toEqual(['k1']);
    host.leader = false;
    lessor.check(); // demoted
    expect(await unary(h.LeaseTimeToLive, { ID: '7', keys: false })).toMatchObject({ TTL: '30', keys: [] });
    expect((await unary(h.LeaseLeases, {})).leases).toEqual([{ ID: '7' }]);
  });

  it('keeps alive on the leader by renewing, on a follower by a checkpoint through Raft, in order; 0 for an unknown lease', async () => {
    const { host, lessor, clock, h } = setup();
    lessor.check();
    await unary(h.LeaseGrant, { TTL: '10', ID: '7' });
    const call = new FakeDuplex();
    h.LeaseKeepAlive(call as unknown as grpc.ServerDuplexStream<{ ID: string }, unknown>);
    clock.ms += 8000;
    call.emit('data', { ID: '7' });
    call.emit('data', { ID: '99' });
    await until(() => call.written.length === 2);
    expect(call.written.map((w) => `${w.ID}:${w.TTL}`)).toEqual(['7:10', '99:0']);
    expect(lessor.remainingSeconds(7n)).toBe(10);
    host.leader = false;
    lessor.check();
    call.emit('data', { ID: '7' });
    call.emit('data', { ID: '99' });
    call.emit('end');
    await until(() => call.ended);
    expect(call.written.map((w) => `${w.ID}:${w.TTL}`)).toEqual(['7:10', '99:0', '7:10', '99:0']);
    expect(host.proposals.filter((p) => p.startsWith('checkpoint'))).toEqual(['checkpoint 7 10']);
  });

  it('ends a follower keep-alive stream with the gRPC status of a failed proposal', async () => {
    const { host, h } = setup();
    host.leader = false;
    await unary(h.LeaseGrant, { TTL: '10', ID: '7' });
    host.failWith = new NotLeaderError('no leader');
    const call = new FakeDuplex();
    const errors: grpc.ServiceError[] = [];
    call.on('error', (e: grpc.ServiceError) => errors.push(e));
    h.LeaseKeepAlive(call as unknown as grpc.ServerDuplexStream<{ ID: string }, unknown>);
    call.emit('data', { ID: '7' });
    await until(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' });
    expect(call.written).toEqual([]);
  });
});
