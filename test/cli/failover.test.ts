// Real kv-server processes under a client load: SIGKILL the leader, a new leader is elected and
// writes resume, every acknowledged write is readable afterwards, and the killed node restarts
// from its data directory and catches up. Then: a node stopped while the leader compacts its log
// catches up by snapshot.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../helpers/cluster.js';

interface Load {
  acked: Map<string, string>;
  ackTimesMs: number[];
  failures: number;
  stop: () => Promise<void>;
}

/** `concurrency` writers of unique keys through the client until stopped. */
function startLoad(client: KvClient, concurrency: number, prefix: string): Load {
  const load: Load = { acked: new Map(), ackTimesMs: [], failures: 0, stop: async () => {} };
  let stopped = false;
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    // Bounded by the test stopping it; each pass is one write (at most the client's deadline).
    for (let i = 0; i < 1_000_000 && !stopped; i++) {
      const key = `${prefix}-${w}-${String(i).padStart(6, '0')}`;
      const value = `v${i}`;
      try {
        await client.put(key, value);
        load.acked.set(key, value);
        load.ackTimesMs.push(Date.now());
      } catch {
        load.failures++;
      }
    }
  });
  load.stop = async () => {
    stopped = true;
    await Promise.all(workers);
  };
  return load;
}

async function formCluster(dir: string, extraArgs: string[] = []): Promise<ServerProcess[]> {
  const servers = await Promise.all([1, 2, 3].map((id) => startServer({ id, dataDir: join(dir, `node-${id}`), extraArgs })));
  const [s1, s2, s3] = servers as [ServerProcess, ServerProcess, ServerProcess];
  expect(await s1.ask(`add 2 ${s2.address}`, /^(added|error)/, 15_000)).toMatch(/^added/);
  expect(await s1.ask(`add 3 ${s3.address}`, /^(added|error)/, 15_000)).toMatch(/^added/);
  return servers;
}

function parseStatus(line: string): { applied: number; commit: number; snapshotIndex: number; leader: string } {
  const m = /commit (\d+) applied (\d+) .* snapshot (\d+)\/\d+/.exec(line);
  const leader = /leader (\S+)/.exec(line);
  if (m === null || leader === null) throw new Error(`bad status line: ${line}`);
  return { commit: Number(m[1]), applied: Number(m[2]), snapshotIndex: Number(m[3]), leader: leader[1]! };
}

describe('kv-server cluster faults', () => {
  const dirs: string[] = [];
  const clients: KvClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await stopAll();
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('survives a SIGKILLed leader under load; the killed node restarts and catches up', async () => {
    const dir = tempDir('failover');
    dirs.push(dir);
    const servers = await formCluster(dir);
    const client = await KvClient.connect(servers.map((s) => s.address), { requestTimeoutMs: 20_000 });
    clients.push(client);
    const load = startLoad(client, 8, 'f');
    await eventually('load is running', () => load.acked.size >= 100, 15_000);

    const leaderId = (await client.status()).leader;
    const victim = servers.find((s) => s.id === leaderId)!;
    const killedAtMs = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    const ackedAtKill = load.acked.size;
    await eventually('writes resume after the kill', () => load.ackTimesMs.some((t) => t > killedAtMs + 50) && load.acked.size >= ackedAtKill + 100, 15_000);
    const firstAckAfterKillMs = load.ackTimesMs.find((t) => t > killedAtMs)! - killedAtMs;
    await load.stop();

    // A new leader, and every acknowledged write is readable (linearizably).
    const newLeader = (await client.status()).leader;
    expect(newLeader).not.toBe(leaderId);
    expect(newLeader).toBeGreaterThan(0);
    const pairs = await client.scan('f-', 'f-~', 10_000);
    const stored = new Map(pairs.map(([k, v]) => [fromUtf8(k), fromUtf8(v)]));
    for (const [k, v] of load.acked) expect(stored.get(k), k).toBe(v);
    expect(firstAckAfterKillMs).toBeLessThan(5_000);

    // The killed node restarts from its data directory and catches up.
    const back = await startServer({ id: victim.id, address: victim.address, dataDir: victim.dataDir });
    const target = (await client.status()).commit;
    await eventually('the restarted node catches up', async () => parseStatus(await back.ask('status', /^node /)).applied >= target, 15_000, 100);
    const [lastKey, lastValue] = [...load.acked].pop()!;
    expect(await back.ask(`lsm g ${lastKey}`, /./)).toBe(lastValue);
    expect(await back.ask('get f-0-000000', /./)).toBe(load.acked.get('f-0-000000'));
  });

  it('a node stopped while the leader compacts its log catches up by snapshot', async () => {
    const dir = tempDir('snapshot');
    dirs.push(dir);
    const servers = await formCluster(dir, ['--snapshot-entries', '100', '--compact-keep-entries', '10']);
    const client = await KvClient.connect(servers.map((s) => s.address));
    clients.push(client);
    await client.put('early', 'bird');
    const follower = servers.find((s) => s.id !== 1)!;
    await eventually('follower applies early', async () => (await follower.ask('lsm g early', /./)) === 'bird');
    const before = parseStatus(await follower.ask('status', /^node /));
    await follower.stop();
    expect(follower.exitCode).toBe(0);

    const load = startLoad(client, 16, 's');
    await eventually('600 writes while it is down', () => load.acked.size >= 600, 30_000);
    await load.stop();
    const leaderStatus = await client.status();
    expect(leaderStatus.snapshotIndex).toBeGreaterThan(before.applied);
    expect(leaderStatus.logFirstIndex).toBeGreaterThan(before.applied + 1);

    const back = await startServer({ id: follower.id, address: follower.address, dataDir: follower.dataDir });
    await eventually('it catches up', async () => parseStatus(await back.ask('status', /^node /)).applied >= leaderStatus.commit, 20_000, 100);
    const after = parseStatus(await back.ask('status', /^node /));
    expect(after.snapshotIndex).toBeGreaterThan(before.applied);
    expect(await back.ask('lsm g early', /./)).toBe('bird');
    const [lastKey, lastValue] = [...load.acked].pop()!;
    expect(await back.ask(`lsm g ${lastKey}`, /./)).toBe(lastValue);
    const count = await back.askLines('lsm r s- s-~', /^\(\d+ keys?\)$/, 20_000);
    expect(count[count.length - 1]).toBe(`(${Math.min(load.acked.size, 1000)} keys)`);
  });
});
