// After a kill -9, a node re-applies the committed entries past its state tree's durable applied
// index (src/node/driver.ts), conf changes included. It must re-apply them over the configuration
// it had AT that index, as etcd does (raft restarts from the snapshot's ConfState and the server
// re-applies the conf changes after it), so that each conf change yields the same configuration
// as the first time. Restarting the core from the LATEST configuration instead replays the history
// over the wrong base: the node passes through configurations its cluster never had ("addLearner
// 2" over voters [1,2,3] gives voters [1,3]), campaigns, counts votes and answers status and
// membership requests from them, and a snapshot it makes meanwhile records one for good (a node
// that installs it keeps it). Found by the chaos soak (test/chaos/): after a wiped and re-added
// node was killed and restarted, removing a member answered "node 3 is not a member", then "node 1
// is the only voter".
//
// The second test is the soak's scenario: node 1 of 3 (the node that bootstrapped the cluster)
// removed, wiped, started empty (a one-member cluster of its own), added back, killed with SIGKILL,
// restarted on its directory. The leader must send the new node a snapshot taken after the entry
// that added it (src/node/snapshot/shipper.ts): it sent the bootstrap snapshot, whose configuration
// is voters [1] only, and the new node 1, a one-member cluster with the cluster's id until the
// entries after it arrived, could elect itself (it did, under load, in the soak: "node 1 is the
// only voter", and its add never finished: "lost leadership before promoting it").
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { eventually, startCluster, startServer, TestResources, type ServerProcess } from '../helpers/cluster.js';

const res = new TestResources();
afterEach(() => res.release());

const CONF_LINE = /node \d+: applied (\w+) (\d+) at (\d+): (voters \[[\d,]*\] learners \[[\d,]*\])/;

/** Index -> "<change> <id>: voters [...] learners [...]" of every conf change this process applied. */
function confHistory(p: ServerProcess): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of p.stderr.split('\n')) {
    const m = CONF_LINE.exec(line);
    if (m !== null) out.set(Number(m[3]), `${m[1]} ${m[2]}: ${m[4]}`);
  }
  return out;
}

describe('restart after a kill -9', () => {
  it('re-applies conf changes over the configuration of the applied index, never another', { timeout: 120_000 }, async () => {
    const dir = res.dir('restart-conf-replay');
    const servers = await startCluster(dir, 3);
    const three = servers[2]!;
    await eventually('node 3 applied its promotion', () => /applied addVoter 3 at/.test(three.stderr), 20_000);
    const before = confHistory(three);
    three.kill('SIGKILL');
    await three.exited;
    const again = await startServer({ id: 3, address: three.address, dataDir: join(dir, 'node-3') });
    await eventually('node 3 re-applied its log', () => /re-applied \d+ entries of the log/.test(again.stderr), 20_000);
    const after = confHistory(again);
    // The restart re-applied conf changes (else this test checks nothing).
    expect(after.size).toBeGreaterThan(0);
    for (const [index, conf] of after) expect(`${index}: ${conf}`).toBe(`${index}: ${before.get(index)}`);
  });

  it('a removed, wiped and re-added node gets no configuration of its earlier life, and restarts into the cluster', { timeout: 120_000 }, async () => {
    const dir = res.dir('readd-restart');
    const [first, two, three] = await startCluster(dir, 3);
    const admin = res.track(new KvClient([two!.address, three!.address], { requestTimeoutMs: 20_000 }));
    // Node 2 leads, so that node 1's removal is not its own leader's (which ends in a forwarded call).
    await admin.transferLeadership(2);
    await admin.removeMember(1);
    first!.kill('SIGKILL');
    await first!.exited;
    // Node 1 again, empty: a cluster of its own until added back.
    const fresh = await startServer({ id: 1, dataDir: join(dir, 'node-1-fresh') });
    await admin.addMember(1, fresh.address);
    await eventually('node 1 applied its promotion', () => /applied addVoter 1 at/.test(fresh.stderr), 20_000);
    const addedAt = Number([...two!.stderr.matchAll(/applied addLearner 1 at (\d+)/g)].at(-1)![1]);
    // Nothing before the entry that added it: the snapshot it got is at least that recent.
    expect([...confHistory(fresh).keys()].filter((i) => i <= addedAt)).toEqual([]);
    // A leader of its own cluster before the join; never one after it.
    expect(fresh.stderr.slice(fresh.stderr.indexOf('joined cluster'))).not.toMatch(/"role":"leader"/);
    fresh.kill('SIGKILL');
    await fresh.exited;

    const again = await startServer({ id: 1, address: fresh.address, dataDir: join(dir, 'node-1-fresh') });
    const viaOne = res.track(new KvClient([again.address], { requestTimeoutMs: 20_000 }));
    await eventually('node 1 follows a leader', async () => (await viaOne.status()).leader !== 0, 20_000);
    expect((await viaOne.status()).voters).toEqual([1, 2, 3]);
    await viaOne.removeMember(3);
    await eventually('node 1 applied the removal of node 3', async () => (await viaOne.status()).voters.join(',') === '1,2', 20_000);
    expect(again.stderr).not.toMatch(/"role":"leader"/);
  });
});
