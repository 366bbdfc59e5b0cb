// etcd's order of adding a member, from Debian's etcdctl 3.4 against real kv-server processes
// (src/etcd/cluster-service.ts, src/node/membership-admin.ts addMemberFirst): `member add
// --learner` commits the member first, then `kv-server <id> ... --initial-cluster-state existing`
// starts it and the leader takes it in; `member promote` makes it a voter; `member update` moves
// it to another port. Also etcd's refusals: a learner not in sync, a voter, a taken or malformed
// peer URL, an unknown member, and the strict check on a one-member cluster. Skipped, with the
// reason printed, where etcdctl 3.4 is not installed.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../helpers/cluster.js';
import { runEtcdctl } from './etcdctl.js';
import { startLsmraftCluster } from './lsmraft-cluster.js';
import type { EtcdCluster } from './target.js';
import { findEtcdctl } from './tools.js';

const etcdctl = findEtcdctl();
const SKIP = 'skip' in etcdctl ? etcdctl.skip : undefined;
if (SKIP !== undefined) console.log(`skipping the etcdctl member tests: ${SKIP}`);

const ETCD_LINE = /etcd api on (\S+)/;
/** Bound on a new member catching up, and on each eventual condition below. */
const catchUpMs = 20_000;

let cluster: EtcdCluster;
const dir = tempDir('etcd-member');

beforeAll(async () => {
  if (SKIP === undefined) cluster = await startLsmraftCluster(3);
}, 60_000);

afterAll(async () => {
  if (cluster !== undefined) await cluster.stop();
  await stopAll();
  removeDir(dir);
});

/** etcdctl against the cluster's endpoints; its output (stdout, or stderr when it failed). */
async function ctl(args: string[], endpoints = cluster.endpoints()): Promise<{ ok: boolean; out: string }> {
  const r = await runEtcdctl(endpoints, args);
  return { ok: r.code === 0, out: r.code === 0 ? r.stdout : r.stderr };
}

/** Starts node `id` at 127.0.0.1:`port` as a member the cluster added first; returns it with its etcd address. */
async function startAdded(id: number, port: number): Promise<{ server: ServerProcess; etcd: string }> {
  const server = await startServer({ id, address: `127.0.0.1:${port}`, dataDir: join(dir, `node-${id}`), extraArgs: ['--etcd-address', '127.0.0.1:0', '--initial-cluster-state', 'existing'] });
  const { line } = await server.waitForLine(ETCD_LINE, 10_000);
  return { server, etcd: ETCD_LINE.exec(line)![1]! };
}

/** A serializable get of `key` on one endpoint: its value, or undefined. */
async function localValue(endpoint: string, key: string): Promise<string | undefined> {
  const r = await runEtcdctl([endpoint], ['get', key, '--consistency=s', '--print-value-only']);
  return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

describe.skipIf(SKIP !== undefined)('etcdctl member add/promote/update against lsmraft', () => {
  it('adds a learner first, takes it in once started, promotes it, and moves it to another port', async () => {
    expect((await ctl(['put', 'before', 'v1'])).ok).toBe(true);
    const taken = cluster.endpoints()[0]!;

    // A learner that never starts: it cannot be promoted (not in sync); then it is removed.
    const ghostPort = await freePort();
    const ghost = await ctl(['member', 'add', 'ghost', `--peer-urls=http://127.0.0.1:${ghostPort}`, '--learner']);
    expect(ghost.ok, ghost.out).toBe(true);
    const ghostHex = /Member +([0-9a-f]+) added to cluster/.exec(ghost.out)![1]!;
    expect(await ctl(['member', 'promote', ghostHex])).toEqual({ ok: false, out: expect.stringContaining('etcdserver: can only promote a learner member which is in sync with leader') });
    const listed = await ctl(['member', 'list']);
    expect(listed.out).toMatch(new RegExp(`^${ghostHex}, unstarted, , http://127\\.0\\.0\\.1:${ghostPort}, , true$`, 'm'));
    expect((await ctl(['member', 'remove', ghostHex])).ok).toBe(true);

    // Refusals, with etcd's messages.
    const members = await ctl(['member', 'list', '-w', 'json']);
    const peer = (JSON.parse(members.out) as { members: Array<{ peerURLs: string[] }> }).members[0]!.peerURLs[0]!;
    expect((await ctl(['member', 'add', 'dup', `--peer-urls=${peer}`])).out).toContain('etcdserver: Peer URLs already exists');
    expect((await ctl(['member', 'add', 'tls', `--peer-urls=https://127.0.0.1:${ghostPort}`])).out).toContain('etcdserver: given member URLs are invalid');
    expect((await ctl(['member', 'update', 'abcdef', `--peer-urls=http://127.0.0.1:${ghostPort}`])).out).toContain('etcdserver: member not found');
    expect((await ctl(['member', 'promote', '1'])).out).toContain('etcdserver: can only promote a learner member');

    // The real fourth member: its id is above the removed one's (ids are never given twice).
    const port = await freePort();
    const added = await ctl(['member', 'add', 'n4', `--peer-urls=http://127.0.0.1:${port}`, '--learner']);
    expect(added.ok, added.out).toBe(true);
    const hex = /Member +([0-9a-f]+) added to cluster/.exec(added.out)![1]!;
    const id = Number.parseInt(hex, 16);
    expect(id).toBeGreaterThan(Number.parseInt(ghostHex, 16));
    expect(added.out).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    let n4 = await startAdded(id, port);
    await eventually('the learner has the key written before it started', async () => (await localValue(n4.etcd, 'before')) === 'v1', catchUpMs, 200);

    // Promote (it may take the leader a moment to see it in sync).
    let promoted = await ctl(['member', 'promote', hex]);
    for (let i = 0; i < 20 && !promoted.ok && promoted.out.includes('in sync'); i++) {
      await new Promise((r) => setTimeout(r, 250));
      promoted = await ctl(['member', 'promote', hex]);
    }
    expect(promoted.ok, promoted.out).toBe(true);
    await eventually('member list shows 4 started voters', async () => {
      const lines = (await ctl(['member', 'list'])).out.trim().split('\n');
      return lines.length === 4 && lines.every((l) => / started, \d+, http:\/\/.*, false$/.test(l));
    }, catchUpMs, 200);

    // Move it to another port, restart it there; a follower stops, so commits need it.
    const newPort = await freePort();
    const updated = await ctl(['member', 'update', hex, `--peer-urls=http://127.0.0.1:${newPort}`], [taken]);
    expect(updated.ok, updated.out).toBe(true);
    await n4.server.stop();
    n4 = { ...n4, server: await startServer({ id, address: `127.0.0.1:${newPort}`, dataDir: join(dir, `node-${id}`), extraArgs: ['--etcd-address', '127.0.0.1:0'] }) };
    n4.etcd = ETCD_LINE.exec((await n4.server.waitForLine(ETCD_LINE, 10_000)).line)![1]!;
    const status = await ctl(['endpoint', 'status', '-w', 'json']);
    const leaderId = String((JSON.parse(status.out) as Array<{ Status: { leader: string } }>)[0]!.Status.leader);
    const follower = (cluster as unknown as { members: Array<{ id: number; clientAddress: string; kill(): void }> }).members.find((m) => String(m.id) !== leaderId)!;
    follower.kill();
    const writers = cluster.endpoints().filter((e) => e !== follower.clientAddress);
    await eventually('a write commits with the moved member as one of the quorum', async () => (await runEtcdctl(writers, ['put', 'after', 'v2'])).code === 0, catchUpMs, 250);
    await eventually('the moved member has the write', async () => (await localValue(n4.etcd, 'after')) === 'v2', catchUpMs, 200);
  }, 120_000);

  it('refuses a voter that would cost a one-member cluster its quorum (strict check)', async () => {
    const single = await startServer({ id: 1, dataDir: join(dir, 'single'), extraArgs: ['--etcd-address', '127.0.0.1:0'] });
    const etcd = ETCD_LINE.exec((await single.waitForLine(ETCD_LINE, 10_000)).line)![1]!;
    await eventually('the single node serves', async () => (await runEtcdctl([etcd], ['put', 'k', 'v'])).code === 0, 10_000, 100);
    const port = await freePort();
    const r = await ctl(['member', 'add', 'x', `--peer-urls=http://127.0.0.1:${port}`], [etcd]);
    expect(r).toEqual({ ok: false, out: expect.stringContaining('etcdserver: re-configuration failed due to not enough started members') });
    // Nothing was added, and the cluster still commits.
    expect((await ctl(['member', 'list'], [etcd])).out.trim().split('\n')).toHaveLength(1);
    expect((await runEtcdctl([etcd], ['put', 'k', 'v2'])).code).toBe(0);
    await single.stop();
  }, 30_000);
});
