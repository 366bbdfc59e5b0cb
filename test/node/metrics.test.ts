// A node's operability surface in process: /metrics (names exist and move), /health and /ready
// (including losing the leader when the other members stop), 404, garbage on the socket, the
// structured log records, the reconnect log rate limit, and clean start-up failures (a port in
// use is KV_ERR_ADDRESS_IN_USE and leaves no data directory behind).
import { existsSync, readdirSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { createLogger } from '../../src/node/node-logger.js';
import { FrameType } from '../../src/node/frame.js';
import { Transport } from '../../src/node/transport.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { httpGet, sample, scrape } from '../helpers/metrics.js';

const running = new Set<KvNode>();
const dirs: string[] = [];
const servers: net.Server[] = [];

function newDir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function start(dir: string, id: number, extra: Partial<KvNodeOptions> = {}): Promise<KvNode> {
  const node = await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, `node-${id}`), engine: 'js', workerPool: false, ...extra });
  running.add(node);
  return node;
}

/** A TCP server holding a free port, closed after the test. */
async function occupiedPort(): Promise<number> {
  const server = net.createServer((s) => s.destroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** JSON records a node logs, captured in memory. */
function captureLogs(): { records: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const records: Array<Record<string, unknown>> = [];
  return { records, logger: createLogger('info', { write: (s: string) => void records.push(JSON.parse(s) as Record<string, unknown>) }) };
}

afterEach(async () => {
  await Promise.all([...running].map((n) => n.stop()));
  running.clear();
  for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('metrics endpoint', () => {
  it('serves etcd and lsm metrics that move with writes and flushes, /health, /ready and 404', async () => {
    const n = await start(newDir('metrics-one'), 1, { metricsAddress: '127.0.0.1:0', memtableBytesMax: 64 * 1024 });
    const address = n.metricsAddress!;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    await eventually('leader', () => n.isLeader);

    const before = await scrape(address);
    for (const name of [
      'etcd_server_has_leader', 'etcd_server_is_leader', 'etcd_server_leader_changes_seen_total', 'etcd_server_proposals_committed_total',
      'etcd_server_proposals_applied_total', 'etcd_server_proposals_pending', 'etcd_server_proposals_failed_total', 'lsmraft_raft_term',
      'etcd_disk_wal_fsync_duration_seconds_count', 'etcd_disk_backend_commit_duration_seconds_count', 'lsmraft_lsm_memtable_bytes',
      'lsmraft_lsm_level_files', 'lsmraft_lsm_flushes_total', 'lsmraft_lsm_block_cache_hits_total', 'lsmraft_lsm_bloom_filter_useful_total',
    ]) {
      expect(sample(before, name), name).toBeDefined();
    }
    expect(sample(before, 'etcd_server_has_leader')).toBe(1);
    expect(sample(before, 'etcd_server_is_leader')).toBe(1);
    expect(sample(before, 'etcd_server_leader_changes_seen_total')).toBe(1);
    expect(sample(before, 'lsmraft_lsm_level_files', { tree: 'state' })).toBe(0);

    // 2 KB values into a 64 KiB memtable: the state tree flushes at least once.
    const value = 'v'.repeat(2048);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => n.put(`k${batch}-${i}`, value)));
    }
    await eventually('a state tree flush', async () => (sample(await scrape(address), 'lsmraft_lsm_flushes_total', { tree: 'state' }) ?? 0) > 0);
    const after = await scrape(address);
    expect(sample(after, 'etcd_server_proposals_committed_total')).toBeGreaterThanOrEqual(sample(before, 'etcd_server_proposals_committed_total')! + 100);
    expect(sample(after, 'etcd_server_proposals_applied_total')).toBeGreaterThanOrEqual(sample(before, 'etcd_server_proposals_applied_total')! + 100);
    expect(sample(after, 'etcd_disk_wal_fsync_duration_seconds_count')).toBeGreaterThan(sample(before, 'etcd_disk_wal_fsync_duration_seconds_count')!);
    expect(sample(after, 'etcd_disk_backend_commit_duration_seconds_count')).toBeGreaterThan(sample(before, 'etcd_disk_backend_commit_duration_seconds_count')!);
    expect(sample(after, 'lsmraft_lsm_level_files', { tree: 'state' })).toBeGreaterThan(0);
    expect(sample(after, 'lsmraft_lsm_level_bytes', { tree: 'state' })).toBeGreaterThan(0);
    expect(sample(after, 'lsmraft_lsm_flush_written_bytes_total', { tree: 'state' })).toBeGreaterThan(0);
    // Lookups of absent keys inside the tables' key ranges reach their bloom filters, which answer most.
    for (let i = 0; i < 100; i++) n.localGet(`k${i % 10}-${i % 7}z`);
    expect(sample(await scrape(address), 'lsmraft_lsm_bloom_filter_useful_total', { tree: 'state' })).toBeGreaterThan(0);

    expect(await httpGet(address, '/health')).toEqual({ status: 200, body: '{"health":"true","reason":""}\n' });
    expect((await httpGet(address, '/ready')).status).toBe(200);
    expect((await httpGet(address, '/nope')).status).toBe(404);
    expect((await httpGet(address, '/metrics', { method: 'POST', body: 'x' })).status).toBe(405);

    // Garbage on the socket closes that connection only.
    await new Promise<void>((resolve) => {
      const [host, port] = address.split(':') as [string, string];
      const s = net.connect({ host, port: Number(port) }, () => s.end('\x00\x01 NOT HTTP\r\n\r\n'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    expect(sample(await scrape(address), 'etcd_server_has_leader')).toBe(1);
  });

  it('/health turns 503 when the node loses its leader; metrics carry per-peer bytes and round trips', async () => {
    const dir = newDir('metrics-three');
    const n1 = await start(dir, 1, { metricsAddress: '127.0.0.1:0' });
    const n2 = await start(dir, 2);
    const n3 = await start(dir, 3);
    await eventually('n1 leads', () => n1.isLeader);
    await n1.addMember(2, n2.address);
    await n1.addMember(3, n3.address);
    await n1.put('a', '1');
    const address = n1.metricsAddress!;
    expect((await httpGet(address, '/health')).status).toBe(200);
    await eventually('round trips measured', async () => (sample(await scrape(address), 'etcd_network_peer_round_trip_time_seconds_count', { To: '2' }) ?? 0) > 0);
    const text = await scrape(address);
    expect(sample(text, 'etcd_network_peer_sent_bytes_total', { To: '2' })).toBeGreaterThan(0);
    expect(sample(text, 'etcd_network_peer_received_bytes_total', { From: '3' })).toBeGreaterThan(0);

    for (const n of [n2, n3]) {
      running.delete(n);
      await n.stop();
    }
    // checkQuorum: the leader steps down after an election timeout without a quorum.
    await eventually('no leader', async () => (await httpGet(address, '/health')).status === 503, 10_000);
    expect(JSON.parse((await httpGet(address, '/health')).body)).toEqual({ health: 'false', reason: 'RAFT NO LEADER' });
    expect(sample(await scrape(address), 'etcd_server_has_leader')).toBe(0);
    // Ready means "joined or elected since start": still true.
    expect((await httpGet(address, '/ready')).status).toBe(200);
  });

  it('counts snapshot sends at the leader and installs at the follower', async () => {
    const dir = newDir('metrics-snap');
    const small = { snapshotEntries: 20, compactKeepEntries: 0, metricsAddress: '127.0.0.1:0' };
    const n1 = await start(dir, 1, small);
    const n2 = await start(dir, 2, small);
    await eventually('n1 leads', () => n1.isLeader);
    for (let i = 0; i < 60; i++) await n1.put(`s${i}`, 'v');
    await eventually('a snapshot made', () => n1.status().snapshotIndex > 1);
    await n1.addMember(2, n2.address);
    await eventually('n2 installed a snapshot', async () => sample(await scrape(n2.metricsAddress!), 'lsmraft_snapshot_receive_total', { result: 'success' }) === 1);
    const leader = await scrape(n1.metricsAddress!);
    expect(sample(leader, 'lsmraft_snapshot_send_total', { To: '2', result: 'success' })).toBe(1);
    expect(sample(leader, 'etcd_network_snapshot_send_total_duration_seconds_count', { To: '2' })).toBe(1);
    expect(sample(await scrape(n2.metricsAddress!), 'lsmraft_snapshot_install_duration_seconds_count')).toBe(1);
  });

  it('each node has its own registry', async () => {
    const dir = newDir('metrics-two');
    const a = await start(dir, 1, { metricsAddress: '127.0.0.1:0' });
    const b = await start(dir, 2, { metricsAddress: '127.0.0.1:0' });
    await eventually('both lead their own cluster', () => a.isLeader && b.isLeader);
    await a.put('x', '1');
    const [ta, tb] = await Promise.all([scrape(a.metricsAddress!), scrape(b.metricsAddress!)]);
    expect(sample(ta, 'etcd_server_proposals_committed_total')).toBeGreaterThan(sample(tb, 'etcd_server_proposals_committed_total')!);
  });
});

describe('structured logs', () => {
  it('records carry level, time, msg and node; leader changes are logged', async () => {
    const { records, logger } = captureLogs();
    const n = await start(newDir('logs'), 7, { logger });
    await eventually('leader', () => n.isLeader);
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) {
      expect(r).toMatchObject({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String), node: 7 });
    }
    expect(records.find((r) => r['component'] === 'raft' && r['leader'] === 7)).toBeDefined();
  });

  it('the older log(line) callback still receives the messages', async () => {
    const lines: string[] = [];
    const n = await start(newDir('logs-cb'), 1, { log: (line) => lines.push(line) });
    await eventually('leader', () => n.isLeader);
    expect(lines.some((l) => l.includes('leader is 1'))).toBe(true);
  });

  it('a down peer yields few log lines (reconnect failures are rate-limited)', async () => {
    const lines: string[] = [];
    const downPort = await occupiedPort();
    // Free the port again: connects are refused at once, the worst case for log volume.
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const t = new Transport({
      nodeId: 1, clusterId: () => 1n, listenHost: '127.0.0.1', listenPort: 0, frameBytesMax: 1 << 20,
      peerQueueFramesMax: 16, peerQueueBytesMax: 1 << 20, reconnectDelayMsMin: 20, reconnectDelayMsMax: 500,
      onFrame: () => undefined, log: (line) => lines.push(line),
    });
    try {
      await t.listen();
      t.setPeer(2, `127.0.0.1:${downPort}`);
      t.send(2, FrameType.RAFT, new Uint8Array(8));
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(t.stats().reconnects).toBeGreaterThanOrEqual(5);
      const about = lines.filter((l) => l.includes('peer 2'));
      expect(about.length).toBeGreaterThanOrEqual(1);
      expect(about.length).toBeLessThanOrEqual(2);
    } finally {
      await t.close();
    }
  });
});

describe('start-up failures', () => {
  it('a peer port in use is KV_ERR_ADDRESS_IN_USE naming it, and leaves no data directory', async () => {
    const port = await occupiedPort();
    const dir = newDir('addr-in-use');
    const dataDir = join(dir, 'parent', 'node-1');
    const failed = KvNode.start({ id: 1, address: `127.0.0.1:${port}`, dataDir, engine: 'js', workerPool: false });
    await expect(failed).rejects.toMatchObject({ code: 'KV_ERR_ADDRESS_IN_USE', address: `127.0.0.1:${port}` });
    await expect(failed).rejects.toThrow(`127.0.0.1:${port}`);
    expect(existsSync(join(dir, 'parent'))).toBe(false);
  });

  it('a metrics port in use is KV_ERR_ADDRESS_IN_USE; an existing data directory is kept as it was', async () => {
    const port = await occupiedPort();
    const dir = newDir('metrics-in-use');
    const first = await start(dir, 1);
    await first.put('k', 'v');
    running.delete(first);
    await first.stop();
    const files = readdirSync(join(dir, 'node-1')).sort();
    await expect(start(dir, 1, { metricsAddress: `127.0.0.1:${port}` })).rejects.toMatchObject({ code: 'KV_ERR_ADDRESS_IN_USE' });
    expect(readdirSync(join(dir, 'node-1')).sort()).toEqual(files);
    // A fresh one is removed again, and the peer port the failed start bound is free.
    await expect(start(dir, 2, { metricsAddress: `127.0.0.1:${port}` })).rejects.toMatchObject({ code: 'KV_ERR_ADDRESS_IN_USE' });
    expect(existsSync(join(dir, 'node-2'))).toBe(false);
    const again = await start(dir, 1);
    expect(again.localGet('k')).toBeDefined();
  });
});
