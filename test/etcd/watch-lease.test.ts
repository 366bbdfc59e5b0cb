/**
 * The Watch and Lease services of a 3-node in-process cluster, through a grpc-js client built from
 * the project's .proto files: watches from now and from a past revision, on the leader and on
 * followers; a lease's expiry (decided by the leader) deleting its key, seen by a watcher as a
 * DELETE; keep-alives through a follower keeping a lease; a follower's watch surviving the
 * leader's stop.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdGrpcPackage } from '../../src/etcd/protos.js';
import type { KvNode } from '../../src/node/kv-node.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import type { EtcdTestClient, Wire } from './etcd-client.js';
import { startEtcdCluster, type EtcdCluster } from './etcd-cluster.js';

const dir = tempDir('etcd-watch-lease');
let cluster: EtcdCluster;
let nodes: KvNode[] = [];
let clients: EtcdTestClient[] = [];
const streams: Array<grpc.ClientDuplexStream<Wire, Wire>> = [];
const raw: grpc.Client[] = [];

const b = (s: string) => Buffer.from(s);
const rev = (r: Wire) => Number((r.header as Wire).revision);

type ClientCtor = new (address: string, creds: grpc.ChannelCredentials) => grpc.Client;

/** A Watch stream to `address` that records every response. */
class WatchClient {
  readonly responses: Wire[] = [];
  readonly stream: grpc.ClientDuplexStream<Wire, Wire>;
  ended = false;
  error: grpc.ServiceError | undefined;
  constructor(address: string) {
    const client = new (etcdGrpcPackage().Watch as unknown as ClientCtor)(address, grpc.credentials.createInsecure());
    raw.push(client);
    this.stream = (client as unknown as { Watch(): grpc.ClientDuplexStream<Wire, Wire> }).Watch();
    streams.push(this.stream);
    this.stream.on('data', (r: Wire) => this.responses.push(r));
    this.stream.on('end', () => (this.ended = true));
    this.stream.on('error', (e: grpc.ServiceError) => (this.error = e));
  }
  create(fields: Wire): void {
    this.stream.write({ create_request: { key: Buffer.alloc(0), range_end: Buffer.alloc(0), ...fields } });
  }
  /** "PUT k=v@rev" / "DELETE k@rev" of every event received for `watchId`. */
  events(watchId: string): string[] {
    return this.responses
      .filter((r) => r.watch_id === watchId)
      .flatMap((r) =>
        (r.events as Wire[]).map((e) => {
          const kv = e.kv as Wire;
          const k = (kv.key as Buffer).toString();
          return e.type === 'PUT' ? `PUT ${k}=${(kv.value as Buffer).toString()}@${kv.mod_revision}` : `DELETE ${k}@${kv.mod_revision}`;
        }),
      );
  }
}

function leaderIndex(): number {
  return nodes.findIndex((n) => n.isLeader);
}

beforeAll(async () => {
  cluster = await startEtcdCluster(dir);
  ({ nodes, clients } = cluster);
}, 30_000);

afterAll(async () => {
  for (const s of streams) s.cancel();
  for (const c of raw) c.close();
  await cluster.stop();
  removeDir(dir);
});

describe('etcd Watch and Lease services', () => {
  it('watches from now and from a past revision, on the leader and on a follower', async () => {
    const first = await clients[0]!.call('KV', 'Put', { key: b('w/a'), value: b('1') });
    const second = await clients[1]!.call('KV', 'Put', { key: b('w/b'), value: b('1') });
    const follower = nodes.findIndex((n) => !n.isLeader);
    const watchers = [new WatchClient(nodes[leaderIndex()]!.etcdAddress!), new WatchClient(nodes[follower]!.etcdAddress!)];
    for (const w of watchers) {
      w.create({ key: b('w/'), range_end: b('w0') });
      w.create({ key: b('w/'), range_end: b('w0'), start_revision: String(rev(first)) });
    }
    await eventually('created', () => watchers.every((w) => w.responses.filter((r) => r.created).length === 2));
    const third = await clients[2]!.call('KV', 'Put', { key: b('w/a'), value: b('2') });
    await eventually('events', () => watchers.every((w) => w.events('1').length === 3 && w.events('0').length === 1));
    for (const w of watchers) {
      expect(w.events('0')).toEqual([`PUT w/a=2@${rev(third)}`]);
      expect(w.events('1')).toEqual([`PUT w/a=1@${rev(first)}`, `PUT w/b=1@${rev(second)}`, `PUT w/a=2@${rev(third)}`]);
    }
  });

  it('cancels a watch from a compacted revision with compact_revision, and answers a progress request', async () => {
    const put = await clients[0]!.call('KV', 'Put', { key: b('c/k'), value: b('1') });
    await clients[0]!.call('KV', 'Compact', { revision: String(rev(put)) });
    const w = new WatchClient(nodes[1]!.etcdAddress!);
    w.create({ key: b('c/k'), start_revision: '1' });
    w.stream.write({ progress_request: {} });
    await eventually('canceled and progress', () => w.responses.length === 3);
    expect(w.responses[0]).toMatchObject({ watch_id: '0', created: true, canceled: false });
    expect(w.responses.slice(1).map((r) => [r.watch_id, r.canceled, r.compact_revision])).toEqual(
      expect.arrayContaining([
        ['0', true, String(rev(put))],
        ['-1', false, '0'],
      ]),
    );
  });

  it('deletes the keys of an expired lease, and a watcher sees the DELETE', async () => {
    const follower = clients[nodes.findIndex((n) => !n.isLeader)]!;
    const grant = await follower.call('Lease', 'LeaseGrant', { TTL: '1' });
    expect(grant.TTL).toBe('2'); // raised to etcd's minimum for a 1 s election timeout
    const put = await follower.call('KV', 'Put', { key: b('lease/k'), value: b('v'), lease: grant.ID });
    const w = new WatchClient(nodes[2]!.etcdAddress!);
    w.create({ key: b('lease/k'), start_revision: String(rev(put)) });
    await eventually('the DELETE of the expired lease', () => w.events('0').length === 2, 10_000);
    expect(w.events('0')[1]).toMatch(/^DELETE lease\/k@/);
    const ttl = await clients[0]!.call('Lease', 'LeaseTimeToLive', { ID: grant.ID });
    expect(ttl.TTL).toBe('-1');
    const range = await clients[0]!.call('KV', 'Range', { key: b('lease/k') });
    expect(range.kvs).toEqual([]);
  });

  it('keeps a lease alive with keep-alives through a follower', async () => {
    const fi = nodes.findIndex((n) => !n.isLeader);
    const grant = await clients[fi]!.call('Lease', 'LeaseGrant', { TTL: '2' });
    const client = new (etcdGrpcPackage().Lease as unknown as ClientCtor)(nodes[fi]!.etcdAddress!, grpc.credentials.createInsecure());
    raw.push(client);
    const ka = (client as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<Wire, Wire> }).LeaseKeepAlive();
    streams.push(ka);
    const answers: Wire[] = [];
    ka.on('data', (r: Wire) => answers.push(r));
    ka.on('error', () => {});
    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      ka.write({ ID: grant.ID });
      await new Promise((r) => setTimeout(r, 500));
    }
    // 5 s, more than twice the TTL: alive only through the keep-alives.
    expect(Date.now() - started).toBeGreaterThanOrEqual(5000);
    await eventually('keep-alive answers', () => answers.length === 10);
    expect(answers.every((a) => a.ID === grant.ID && a.TTL === '2')).toBe(true);
    const ttl = await clients[0]!.call('Lease', 'LeaseTimeToLive', { ID: grant.ID });
    expect(Number(ttl.TTL)).toBeGreaterThan(0);
    const leases = await clients[1]!.call('Lease', 'LeaseLeases', {});
    expect((leases.leases as Wire[]).map((l) => l.ID)).toContain(grant.ID);
  }, 20_000);

  it("keeps a follower's watch stream across the leader's stop; the new leader extends leases before expiring them", async () => {
    const li = leaderIndex();
    const fi = nodes.findIndex((n, i) => i !== li);
    const other = nodes.findIndex((n, i) => i !== li && i !== fi);
    const w = new WatchClient(nodes[fi]!.etcdAddress!);
    w.create({ key: b('survive') });
    w.create({ key: b('ext/k') });
    await eventually('created', () => w.responses.length === 2);
    const grant = await clients[li]!.call('Lease', 'LeaseGrant', { TTL: '3' });
    await clients[li]!.call('KV', 'Put', { key: b('ext/k'), value: b('v'), lease: grant.ID });
    const stopping = Date.now();
    await nodes[li]!.stop();
    await eventually('a new leader', () => nodes[fi]!.isLeader || nodes[other]!.isLeader, 15_000);
    const put = await clients[other]!.call('KV', 'Put', { key: b('survive'), value: b('yes') });
    await eventually('the event after the leader change', () => w.events('0').length === 1);
    expect(w.events('0')).toEqual([`PUT survive=yes@${rev(put)}`]);
    // The new leader restarts the lease at its TTL plus an election timeout (1 s): not at once, not
    // after the bare TTL (which would be 3 s after Raft stopped on the old leader), not never.
    await eventually('the lease revoked by the new leader', () => w.events('1').length === 2, 15_000);
    expect(Date.now() - stopping).toBeGreaterThanOrEqual(4000);
    expect(w.events('1')[1]).toMatch(/^DELETE ext\/k@/);
    expect(w.ended).toBe(false);
    expect(w.error).toBeUndefined();
  }, 40_000);
});
