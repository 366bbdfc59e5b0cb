// The `etcd3` npm client (microsoft/etcd3) against a 3-node lsmraft cluster serving the etcd v3
// API (ETCD_TARGET=etcd: against a real etcd 3.4, which these expectations were checked on): the
// examples of its readme and API docs, puts and gets with revisions, prefixes, transactions, watches
// and leases, each test under its own key prefix. With ETCD_TARGET=etcd, skipped with the reason
// printed where the etcd binary is not installed.
import { Etcd3, EtcdLeaseInvalidError, GRPCInvalidArgumentError, GRPCOutOfRangeError, type IKeyValue, type Watcher } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, stopAll } from '../helpers/cluster.js';
import { skipReason, startTarget, targetKind, type EtcdCluster } from './target.js';

const KIND = targetKind();
const SKIP = skipReason(KIND, false);
if (SKIP !== undefined) console.log(`skipping the etcd3 client tests: ${SKIP}`);

let cluster: EtcdCluster;
let client: Etcd3;

beforeAll(async () => {
  if (SKIP !== undefined) return;
  cluster = await startTarget(KIND, 3);
  client = new Etcd3({ hosts: cluster.endpoints().map((a) => `http://${a}`), dialTimeout: 5_000 });
}, 90_000);

afterAll(async () => {
  client?.close();
  if (cluster !== undefined) await cluster.stop();
  await stopAll();
});

/** `p`, or a rejection after ms: a server that never answers a watch create fails the test, not its timeout. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Collects a watcher's events as `put key=value` / `delete key` lines. */
function record(watcher: Watcher): string[] {
  const events: string[] = [];
  watcher.on('put', (kv: IKeyValue) => events.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
  watcher.on('delete', (kv: IKeyValue) => events.push(`delete ${kv.key.toString()}`));
  return events;
}

describe.skipIf(SKIP !== undefined)(`the etcd3 client against ${KIND}`, () => {
  it('runs the readme quick start (in a namespace, so delete().all() stays inside it)', async () => {
    const ns = client.namespace('readme/');
    await ns.put('foo').value('bar');
    expect(await ns.get('foo').string()).toBe('bar');
    await ns.put('fizz').value('buzz');
    await ns.put('other').value('x');
    expect(await ns.getAll().prefix('f').keys()).toEqual(['fizz', 'foo']);
    expect(await ns.getAll().prefix('f').strings()).toEqual({ fizz: 'buzz', foo: 'bar' });
    await ns.delete().all();
    expect(await ns.getAll().count()).toBe(0);
    expect(await ns.get('foo').string()).toBeNull();
  });

  it('puts and gets with revisions, versions and historical reads', async () => {
    const first = await client.put('rv/k').value('v1').exec();
    const second = await client.put('rv/k').value('v2').getPrevious();
    expect(second?.value.toString()).toBe('v1');
    const got = await client.get('rv/k').exec();
    const kv = got.kvs[0]!;
    expect(kv.value.toString()).toBe('v2');
    expect(kv.version).toBe('2');
    expect(kv.create_revision).toBe(first.header.revision);
    expect(BigInt(kv.mod_revision)).toBe(BigInt(first.header.revision) + 1n);
    expect(got.header.revision).toBe(kv.mod_revision);
    // The value at the first put's revision.
    expect(await client.get('rv/k').revision(first.header.revision).string()).toBe('v1');
    // A revision the cluster has not reached: OUT_OF_RANGE with etcd's message.
    const future = (BigInt(got.header.revision) + 1000n).toString();
    await expect(client.get('rv/k').revision(future).string()).rejects.toThrow(GRPCOutOfRangeError);
    await expect(client.get('rv/k').revision(future).string()).rejects.toThrow('etcdserver: mvcc: required revision is a future revision');
  });

  it('reads prefixes with limits, sorting and counts, and deletes a prefix', async () => {
    for (const [k, v] of [['p/a', '3'], ['p/b', '1'], ['p/c', '2'], ['q/a', 'x']] as const) await client.put(k).value(v);
    expect(await client.getAll().prefix('p/').strings()).toEqual({ 'p/a': '3', 'p/b': '1', 'p/c': '2' });
    expect(await client.getAll().prefix('p/').count()).toBe(3);
    expect(await client.getAll().prefix('p/').sort('Key', 'Descend').limit(2).keys()).toEqual(['p/c', 'p/b']);
    expect(await client.getAll().prefix('p/').sort('Value', 'Ascend').keys()).toEqual(['p/b', 'p/c', 'p/a']);
    expect(await client.getAll().inRange({ start: 'p/b', end: 'q/b' }).keys()).toEqual(['p/b', 'p/c', 'q/a']);
    const deleted = await client.delete().prefix('p/').exec();
    expect(deleted.deleted).toBe('3');
    expect(await client.getAll().prefix('p/').count()).toBe(0);
    expect(await client.get('q/a').string()).toBe('x');
  });

  it('runs the lock example of its transaction docs: the then branch once, the else branch after', async () => {
    const lock = (id: string) => client.if('tx/lock', 'Create', '==', 0).then(client.put('tx/lock').value(id)).else(client.get('tx/lock')).commit();
    const a = await lock('a');
    expect(a.succeeded).toBe(true);
    const b = await lock('b');
    expect(b.succeeded).toBe(false);
    expect(b.responses[0]!.response_range!.kvs[0]!.value.toString()).toBe('a');
    // Unlock only with the right value.
    expect((await client.if('tx/lock', 'Value', '==', 'b').then(client.delete().key('tx/lock')).commit()).succeeded).toBe(false);
    expect((await client.if('tx/lock', 'Value', '==', 'a').then(client.delete().key('tx/lock')).commit()).succeeded).toBe(true);
    expect(await client.get('tx/lock').string()).toBeNull();
    // A transaction that writes nothing does not move the revision.
    const before = (await client.get('tx/none').exec()).header.revision;
    const noop = await client.if('tx/none', 'Value', '==', 'x').then(client.put('tx/none').value('y')).commit();
    expect(noop.succeeded).toBe(false);
    expect(noop.header.revision).toBe(before);
  });

  it('watches a prefix from now and replays a key history from a past revision', async () => {
    const watcher = await within(client.watch().prefix('wa/').create(), 10_000, 'watch create');
    const events = record(watcher);
    try {
      const first = await client.put('wa/1').value('one');
      await client.put('wa/2').value('two');
      await client.delete().key('wa/1');
      await eventually('three watch events', () => events.length >= 3, 10_000);
      expect(events).toEqual(['put wa/1=one', 'put wa/2=two', 'delete wa/1']);

      const replay = await within(client.watch().key('wa/1').startRevision(first.header.revision).create(), 10_000, 'watch create');
      const replayed = record(replay);
      try {
        await eventually('the replayed history of wa/1', () => replayed.length >= 2, 10_000);
        expect(replayed).toEqual(['put wa/1=one', 'delete wa/1']);
      } finally {
        await replay.cancel();
      }
    } finally {
      await watcher.cancel();
    }
  });

  it('a lease that is not kept alive expires and takes its key; a kept-alive one outlives its TTL', async () => {
    const ttlSeconds = 3;
    const dying = client.lease(ttlSeconds, { autoKeepAlive: false });
    const kept = client.lease(ttlSeconds);
    await dying.put('le/dying').value('soon gone');
    await kept.put('le/kept').value('stays');
    expect(await client.get('le/dying').string()).toBe('soon gone');
    // etcd expires a lease within about a second of its TTL (its lessor checks every 500 ms).
    await eventually('the lease to expire and delete le/dying', async () => (await client.get('le/dying').string()) === null, (ttlSeconds + 10) * 1000, 250);
    // Twice the TTL later the kept-alive lease and its key are still there.
    await new Promise((r) => setTimeout(r, ttlSeconds * 1000));
    expect(await client.get('le/kept').string()).toBe('stays');
    const id = await kept.grant();
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    expect(Number(ttl.TTL)).toBeGreaterThan(0);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['le/kept']);
    // Revoking deletes the key at once; the lease is then unknown.
    await kept.revoke();
    expect(await client.get('le/kept').string()).toBeNull();
    await expect(client.leaseClient.leaseRevoke({ ID: id })).rejects.toThrow(EtcdLeaseInvalidError);
  }, 30_000);

  it('sends etcd\'s errors: an empty key, a put under an unknown lease, too many operations in a txn', async () => {
    // The client picks its error class by the gRPC code, and some by etcd's message.
    await expect(client.kv.range({ key: Buffer.alloc(0) })).rejects.toThrow(GRPCInvalidArgumentError);
    await expect(client.kv.range({ key: Buffer.alloc(0) })).rejects.toThrow('etcdserver: key is not provided');
    await expect(client.kv.put({ key: Buffer.from('er/k'), value: Buffer.from('v'), lease: '1234' })).rejects.toThrow(EtcdLeaseInvalidError);
    // etcd's --max-txn-ops default is 128: 128 operations pass, 129 do not.
    const puts = (n: number) => Array.from({ length: n }, (_, i) => ({ request_put: { key: Buffer.from(`er/t${i}`), value: Buffer.from('v') } }));
    expect((await client.kv.txn({ success: puts(128) })).succeeded).toBe(true);
    await expect(client.kv.txn({ success: puts(129) })).rejects.toThrow('etcdserver: too many operations in txn request');
  });
});
