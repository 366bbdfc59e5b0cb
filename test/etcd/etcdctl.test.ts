// etcdctl 3.4 against a 3-node lsmraft cluster serving the etcd v3 API (ETCD_TARGET=etcd: against
// a real etcd 3.4, which the expected outputs come from): the conformance scenario of
// test/etcd/testdata/etcdctl.txt, then a leader SIGKILL while an `etcdctl watch` and an
// `etcdctl lease keep-alive` run. Skipped, with the reason printed, where etcdctl (or, for
// ETCD_TARGET=etcd, etcd) is not installed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/cluster.js';
import { BackgroundEtcdctl, runEtcdctl } from './etcdctl.js';
import { FailoverProxy } from './failover-proxy.js';
import { ResumingWatch } from './resuming-watch.js';
import { rewriteScenario, runScenario } from './scenario.js';
import { skipReason, startTarget, targetKind, type EtcdCluster } from './target.js';

const KIND = targetKind();
const SKIP = skipReason(KIND, true);
if (SKIP !== undefined) console.log(`skipping the etcdctl tests: ${SKIP}`);
const SCENARIO = join(import.meta.dirname, 'testdata', 'etcdctl.txt');

/** Writes put during the failover test, before and after the kill. */
const writesBeforeKill = 30;
const writesAfterKill = 30;
/** The lease the keep-alive holds: short, so a keep-alive that stopped would let it expire. */
const leaseTtlSeconds = 5;

let cluster: EtcdCluster;

beforeAll(async () => {
  if (SKIP === undefined) cluster = await startTarget(KIND, 3);
}, 90_000);

afterAll(async () => {
  if (cluster !== undefined) await cluster.stop();
  await stopAll();
});

describe.skipIf(SKIP !== undefined)(`etcdctl 3.4 against ${KIND}`, () => {
  it('the conformance scenario prints what etcd 3.4 prints', async () => {
    const text = readFileSync(SCENARIO, 'utf8');
    const results = await runScenario(text, cluster);
    if (process.env.LSMRAFT_REWRITE === '1') {
      // The expected outputs are etcd's by definition: never rewrite them from lsmraft's.
      if (KIND !== 'etcd') throw new Error('rewrite the etcdctl scenario with ETCD_TARGET=etcd only');
      writeFileSync(SCENARIO, rewriteScenario(text, results));
      return;
    }
    const mismatches = results
      .filter((r) => r.differs === undefined && r.actual.join('\n') !== r.block.expected.join('\n'))
      .map((r) => `etcdctl.txt:${r.block.line}: ${r.block.command}\n  expected:\n    ${r.block.expected.join('\n    ')}\n  actual:\n    ${r.actual.join('\n    ')}`);
    expect(mismatches.join('\n')).toBe('');
    expect(results.length).toBeGreaterThan(80);
  }, 180_000);

  it('member list through each member lists every member with its client URL, and no revision', async () => {
    const eps = cluster.endpoints().map((e) => e.replace(/^https?:\/\//, ''));
    expect(eps.length).toBe(3);
    for (const ep of eps) {
      const r = await runEtcdctl([ep], ['member', 'list', '-w', 'json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { header: Record<string, unknown>; members: Array<{ clientURLs?: string[] }> };
      expect(Object.keys(out.header)).not.toContain('revision');
      expect(out.members.length).toBe(3);
      const urls = out.members.map((m) => (m.clientURLs ?? []).map((u) => u.replace(/^https?:\/\//, '')));
      expect(urls.every((u) => u.length === 1), `through ${ep}: ${r.stdout}`).toBe(true);
      expect(urls.map((u) => u[0]).sort()).toEqual([...eps].sort());
    }
  }, 60_000);

  it('a watch misses no event and a keep-alive keeps its lease while the leader is SIGKILLed', async () => {
    const eps = cluster.endpoints();
    const grant = await runEtcdctl(eps, ['lease', 'grant', String(leaseTtlSeconds)]);
    const leaseId = /^lease ([0-9a-f]{16}) granted/.exec(grant.stdout)?.[1];
    expect(leaseId, grant.stderr).toBeDefined();
    expect((await runEtcdctl(eps, ['put', 'f/leased', 'kept', `--lease=${leaseId}`])).code).toBe(0);
    // The watch and the keep-alive reach the cluster through one endpoint that leads to the
    // leader, then to the others: their streams certainly cross the failover.
    const leader = await findLeader(eps);
    const proxy = await FailoverProxy.start([leader, ...cluster.members.filter((m) => m !== leader)]);
    const viaProxy = [`--endpoints=${proxy.address}`];
    const keepAlive = new BackgroundEtcdctl(eps, [...viaProxy, 'lease', 'keep-alive', leaseId!]);
    const startRevision = await currentRevision(eps);
    const watch = new ResumingWatch((rev) => [...viaProxy, 'watch', 'f/w/', '--prefix', '-w', 'json', `--rev=${rev}`], startRevision + 1);
    try {
      await writeKeys(0, writesBeforeKill);
      const killedAtMs = Date.now();
      leader.kill('SIGKILL');
      await leader.exited;
      await writeKeys(writesBeforeKill, writesAfterKill);
      await waitForWatched(watch, `f/w/${String(writesBeforeKill + writesAfterKill - 1).padStart(4, '0')}`, 30_000);

      // Every write the cluster holds reached the watch, once, in revision order.
      const stored = await getJson(cluster.endpoints(), ['get', 'f/w/', '--prefix', '-w', 'json']);
      const seen = watch.events();
      const revisions = seen.map((e) => e.revision);
      expect(revisions, 'watch events in strictly increasing revision order').toEqual([...new Set(revisions)].sort((a, b) => a - b));
      const seenPairs = new Set(seen.map((e) => `${e.key}@${e.revision}`));
      const missed = stored.kvs.map((kv) => `${b64(kv.key)}@${Number(kv.mod_revision)}`).filter((pair) => !seenPairs.has(pair));
      expect(missed, 'puts the watch never reported').toEqual([]);
      expect(stored.kvs.length).toBe(writesBeforeKill + writesAfterKill);

      // Past the lease's TTL since the kill: only renewals through the new leader kept it.
      const waitMs = (leaseTtlSeconds + 3) * 1000 - (Date.now() - killedAtMs);
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      expect(keepAlive.exitCode, keepAlive.stderr).toBeUndefined();
      const ttl = await runEtcdctl(cluster.endpoints(), ['lease', 'timetolive', leaseId!, '--keys']);
      expect(ttl.stdout, ttl.stderr).toMatch(/remaining\(\d+s\), attached keys\(\[f\/leased\]\)/);
    } finally {
      await Promise.all([keepAlive.stop(), watch.stop()]);
      await proxy.close();
    }
  }, 150_000);
});

interface KvJson {
  key: string;
  mod_revision: number | string;
}

function b64(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}

async function getJson(endpoints: string[], args: string[]): Promise<{ kvs: KvJson[] }> {
  const r = await runEtcdctl(endpoints, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { kvs?: KvJson[] };
  return { kvs: doc.kvs ?? [] };
}

/** The cluster's revision now. */
async function currentRevision(endpoints: string[]): Promise<number> {
  const r = await runEtcdctl(endpoints, ['get', 'f/none', '-w', 'json']);
  const revision = Number(/"revision":(\d+)/.exec(r.stdout)?.[1]);
  if (r.code !== 0 || !Number.isInteger(revision)) throw new Error(`get: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return revision;
}

/** Waits until the watch reported `key`, resuming it when the server cancelled it. */
async function waitForWatched(watch: ResumingWatch, key: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Each pass sleeps 300 ms; bounded by the deadline (and the watch's restarts by restartsMax).
  for (;;) {
    if (watch.events().some((e) => e.key === key)) return;
    if (Date.now() > deadline) throw new Error(`the watch did not report ${key} within ${timeoutMs} ms (${watch.restarts} restarts)\n${watch.stderr()}`);
    watch.resume();
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * Puts f/w/<i> for i in [from, from + count) through the running members, one after another, each
 * retried (bounded) until an etcdctl put succeeds: a put whose outcome was unknown and is retried
 * writes a second version, which the watch must report too.
 */
async function writeKeys(from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const key = `f/w/${String(i).padStart(4, '0')}`;
    let attempt = 0;
    // Bounded: 20 attempts, each bounded by etcdctl's --command-timeout.
    for (;;) {
      const r = await runEtcdctl(cluster.endpoints(), ['put', key, `v${i}`]);
      if (r.code === 0) break;
      if (++attempt >= 20) throw new Error(`put ${key}: ${r.stderr}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
}

/** The member that leads now, per `etcdctl endpoint status` (a member's own ID equals the leader's). */
async function findLeader(endpoints: string[]): Promise<EtcdCluster['members'][number]> {
  const r = await runEtcdctl(endpoints, ['endpoint', 'status', '-w', 'json']);
  if (r.code !== 0) throw new Error(`endpoint status: ${r.stderr}`);
  // IDs are uint64: compared as the digits etcdctl printed, never as JSON numbers.
  const rows = [...r.stdout.matchAll(/"Endpoint":"([^"]+)","Status":\{"header":\{"cluster_id":\d+,"member_id":(\d+),.*?"leader":(\d+)/g)];
  const leaderRow = rows.find((m) => m[2] === m[3]);
  const member = cluster.members.find((m) => m.clientAddress === leaderRow?.[1]);
  if (member === undefined) throw new Error(`no leader among ${r.stdout}`);
  return member;
}
