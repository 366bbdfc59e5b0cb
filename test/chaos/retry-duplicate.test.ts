/**
 * A client retry must not apply a write twice (exactly-once client sessions, as in the Raft
 * dissertation, section 6.3). The scenario, with real processes:
 *
 *   1. a follower F is paused (SIGSTOP): its kernel still accepts connections and buffers bytes;
 *   2. client A puts k=v1 with a 1 s attempt timeout; the attempt to F times out, the retry on the
 *      leader succeeds: A has its ack;
 *   3. client B puts k=v2 (ok) and reads v2;
 *   4. F resumes (SIGCONT), reads A's buffered request and proposes it: a second apply of v1,
 *      after v2 was acknowledged.
 *
 * Linearizable behaviour: B still reads v2. Without client sessions (a command carries a client id
 * and sequence number; the state machine drops one it has applied), B reads v1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, stopAll } from '../helpers/cluster.js';
import { ChaosCluster } from './cluster.js';

describe('a retried write', () => {
  let cluster: ChaosCluster | undefined;
  const clients: KvClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await cluster?.close();
    cluster = undefined;
    await stopAll();
  });

  it('is not applied again after a later acknowledged write (paused follower, retry elsewhere)', async () => {
    cluster = new ChaosCluster({ nodes: 3 });
    await cluster.start();
    const c = cluster;
    let leader = 0;
    await eventually('a leader', async () => (leader = await c.leader()) !== 0, 20_000, 200);
    const follower = c.ids.find((id) => id !== leader)!;
    // Every node knows the leader and is caught up before the pause.
    await eventually('all nodes caught up', async () => {
      const s = await Promise.all(c.ids.map((id) => c.status(id)));
      return s.every((x) => x.leader === leader && x.applied === s[0]!.applied);
    }, 20_000, 200);

    c.pause(follower);
    // A tries the paused follower first: it has no leader hint yet (no call made).
    const a = new KvClient([c.node(follower).listenAddress, c.node(leader).listenAddress], { attemptTimeoutMs: 1_000, requestTimeoutMs: 10_000 });
    clients.push(a);
    const t0 = Date.now();
    await a.put('k', 'v1');
    // The first attempt waited out its 1 s on the paused follower before the retry.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

    const b = new KvClient([c.node(leader).listenAddress], { requestTimeoutMs: 10_000 });
    clients.push(b);
    await b.put('k', 'v2');
    expect(fromUtf8((await b.get('k'))!)).toBe('v2');

    c.resume(follower);
    // Let the follower run what it buffered and catch up: all nodes at one applied index twice
    // in a row, a second apart.
    let lastApplied = -1;
    await eventually('the follower caught up after resuming', async () => {
      const s = await Promise.all(c.ids.map((id) => c.status(id)));
      const same = s.every((x) => x.applied === s[0]!.applied);
      const settled = same && s[0]!.applied === lastApplied;
      lastApplied = same ? s[0]!.applied : -1;
      return settled;
    }, 20_000, 1_000);

    expect(fromUtf8((await b.get('k'))!), 'B read an older write applied again after its own').toBe('v2');
  }, 90_000);
});
