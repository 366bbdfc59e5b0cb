/**
 * Backup and restore end to end (KvClient.snapshotSave, restoreBackup; docs/format/backup.md): a
 * save from a 3-member cluster restored into a new one-member cluster holds every key and the
 * session table; a save during writes holds every write acknowledged before it; damage is a typed
 * error naming the offset; the restored node grows; the node deletes backups nobody finishes.
 * LSMRAFT_BACKUP_KEYS sets the keys written (default 400).
 */
import { readFileSync, writeFileSync, readdirSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { KvClient } from '../../src/node/kv-client.js';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { restoreBackup } from '../../src/node/restore.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';

const KEYS = Number(process.env.LSMRAFT_BACKUP_KEYS ?? 400);
const running = new Set<KvNode>();
const clients: KvClient[] = [];
const dirs: string[] = [];

async function start(dataDir: string, id: number, extra: Partial<KvNodeOptions> = {}): Promise<KvNode> {
  const node = await KvNode.start({ id, address: '127.0.0.1:0', dataDir, engine: 'js', workerPool: false, ...extra });
  running.add(node);
  return node;
}

function client(addresses: string[]): KvClient {
  const c = new KvClient(addresses);
  clients.push(c);
  return c;
}

function newDir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function threeNodes(dir: string, extra: Partial<KvNodeOptions> = {}): Promise<KvNode[]> {
  const nodes = await Promise.all([1, 2, 3].map((id) => start(join(dir, `node-${id}`), id, extra)));
  await nodes[0]!.addMember(2, nodes[1]!.address);
  await nodes[0]!.addMember(3, nodes[2]!.address);
  return nodes;
}

/** Every user key and value of the cluster, through a linearizable scan in pages. */
async function dump(c: { scan: KvClient['scan'] }): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let from: string | undefined;
  // Bounded: each page advances past its last key; at most KEYS / 1000 + 2 pages.
  for (let page = 0; page < KEYS / 1000 + 100; page++) {
    const rows = await c.scan(from, undefined, 1000);
    for (const [k, v] of rows) out.set(fromUtf8(k), fromUtf8(v));
    if (rows.length < 1000) return out;
    from = `${fromUtf8(rows[rows.length - 1]![0])}\u0000`;
  }
  throw new Error('scan did not end');
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all([...running].map((n) => n.stop()));
  running.clear();
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('backup and restore', () => {
  it('a save from a follower of a 3-member cluster restores into a one-member cluster with every key and session, which grows', async () => {
    const dir = newDir('backup');
    const nodes = await threeNodes(dir);
    const c = client(nodes.map((n) => n.address));
    // KEYS puts in parallel groups of 50, then every 7th key deleted and every 5th overwritten.
    for (let i = 0; i < KEYS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, KEYS - i) }, (_, j) => c.put(`k${String(i + j).padStart(7, '0')}`, `v${i + j}`)));
    }
    for (let i = 0; i < KEYS; i += 7) await c.delete(`k${String(i).padStart(7, '0')}`);
    for (let i = 0; i < KEYS; i += 5) await c.put(`k${String(i).padStart(7, '0')}`, `w${i}`);
    const sessionId = c.sessionId!;
    const original = await dump(c);
    expect(original.size).toBe(KEYS - Math.ceil(KEYS / 7) + Math.ceil(KEYS / 35));

    const file = join(dir, 'cluster.bak');
    const follower = nodes.find((n) => !n.isLeader)!;
    const saver = client([follower.address]);
    const saved = await saver.snapshotSave(file, { chunkBytes: 4096 });
    expect(saved.address).toBe(follower.address);
    expect(saved.bytes).toBe(readFileSync(file).length);
    expect(saved.index).toBeGreaterThan(KEYS);
    expect(saved.chunks).toBeGreaterThan(1);
    expect(saved.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The member deleted its checkpoint when the client was done.
    expect(readdirSync(join(dir, `node-${follower.id}`, 'snapshots'))).toEqual([]);

    const restoredDir = join(dir, 'restored');
    const r = await restoreBackup(file, { dataDir: restoredDir, id: 7, address: '127.0.0.1:0' });
    expect(r.index).toBe(saved.index);
    expect(r.sha256).toBe(saved.sha256);
    await expect(restoreBackup(file, { dataDir: restoredDir, id: 7, address: '127.0.0.1:0' })).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });

    const n7 = await start(restoredDir, 7);
    await eventually('the restored node leads', () => n7.isLeader);
    expect(n7.status().voters).toEqual([7]);
    expect(n7.status().clusterId).not.toBe(nodes[0]!.status().clusterId);
    const c7 = client([n7.address]);
    expect(await dump(c7)).toEqual(original);
    // The session table came along: the old client's session is alive there, an unknown one is not.
    await n7.keepAliveSession(sessionId);
    await expect(n7.keepAliveSession(sessionId + 10_000)).rejects.toMatchObject({ code: 'KV_ERR_SESSION_EXPIRED' });

    // The restored cluster takes writes and members.
    await c7.put('after-restore', 'yes');
    const n8 = await start(join(dir, 'node-8'), 8);
    await n7.addMember(8, n8.address);
    await eventually('node 8 has the data', () => n8.localGet('after-restore') !== undefined && n8.localScan(undefined, undefined, 1).length === 1, 20_000);
    const c8 = client([n8.address]);
    const all = await dump(c8);
    expect(all.get('after-restore')).toBe('yes');
    all.delete('after-restore');
    expect(all).toEqual(original);
  }, 120_000);

  it('a save during writes holds every write acknowledged before the call', async () => {
    const dir = newDir('backup-concurrent');
    const nodes = await threeNodes(dir);
    const c = client(nodes.map((n) => n.address));
    const acked: string[] = [];
    let stopped = false;
    const writers = [0, 1, 2, 3].map(async (w) => {
      // Bounded: at most 100_000 writes each, stopped by the test.
      for (let i = 0; i < 100_000 && !stopped; i++) {
        const key = `w${w}-${String(i).padStart(6, '0')}`;
        await c.put(key, 'x');
        acked.push(key);
      }
    });
    await eventually('some writes', () => acked.length >= 100);
    const before = [...acked];
    const file = join(dir, 'live.bak');
    await client([nodes[2]!.address]).snapshotSave(file);
    stopped = true;
    await Promise.all(writers);
    await restoreBackup(file, { dataDir: join(dir, 'restored'), id: 9, address: '127.0.0.1:0' });
    const restored = await start(join(dir, 'restored'), 9);
    await eventually('the restored node leads', () => restored.isLeader);
    const got = await dump(client([restored.address]));
    for (const k of before) expect(got.has(k), k).toBe(true);
    // And it holds nothing that was never acknowledged at all.
    const all = new Set(acked);
    for (const k of got.keys()) expect(all.has(k), k).toBe(true);
  }, 60_000);

  it("a follower's backup is at or past the leader's applied index when a write was acknowledged (the read barrier)", async () => {
    const dir = newDir('backup-barrier');
    const nodes = await threeNodes(dir);
    const leader = nodes.find((n) => n.isLeader)!;
    const followers = nodes.filter((n) => n !== leader);
    // Followers learn a commit index only with the leader's next message: without a read barrier a
    // checkpoint taken right after an acknowledgement would miss the write.
    for (let i = 0; i < 10; i++) {
      await leader.put(`b${i}`, 'x');
      const applied = leader.status().applied;
      const info = await followers[i % 2]!.backupBegin();
      followers[i % 2]!.backupEnd(info.id);
      expect(info.index).toBeGreaterThanOrEqual(applied);
    }
  }, 30_000);

  it('a flipped byte or a truncation is a CorruptionError naming the offset, and leaves no data directory', async () => {
    const dir = newDir('backup-damage');
    const n = await start(join(dir, 'node-1'), 1);
    const c = client([n.address]);
    for (let i = 0; i < 50; i++) await c.put(`k${i}`, 'v'.repeat(200));
    // A save that cannot write its file fails, and the member deletes its checkpoint at once.
    await expect(c.snapshotSave(join(dir, 'no-such-dir', 'x.bak'))).rejects.toMatchObject({ code: 'LSM_ERR_IO' });
    expect(readdirSync(join(dir, 'node-1', 'snapshots'))).toEqual([]);
    const file = join(dir, 'good.bak');
    await c.snapshotSave(file, { chunkBytes: 1024 });
    const good = readFileSync(file);
    const flipAt = Math.floor(good.length / 2);
    const bad = Buffer.from(good);
    bad[flipAt]! ^= 0x40;
    writeFileSync(join(dir, 'flipped.bak'), bad);
    const target = join(dir, 'restored');
    const err = await restoreBackup(join(dir, 'flipped.bak'), { dataDir: target, id: 1, address: '127.0.0.1:0' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).code).toBe('LSM_ERR_CORRUPTION');
    // The damaged chunk's record starts at most one chunk (and its CRC) before the flipped byte.
    expect((err as CorruptionError).offset).toBeLessThanOrEqual(flipAt);
    expect((err as CorruptionError).offset).toBeGreaterThan(flipAt - 1024 - 4 - 1);
    expect(existsSync(target)).toBe(false);

    writeFileSync(join(dir, 'short.bak'), good.subarray(0, good.length - 100));
    mkdirSync(target);
    const err2 = await restoreBackup(join(dir, 'short.bak'), { dataDir: target, id: 1, address: '127.0.0.1:0' }).then(() => undefined, (e: unknown) => e);
    expect(err2).toBeInstanceOf(CorruptionError);
    expect((err2 as CorruptionError).offset).toBe(good.length - 100);
    // An empty directory the caller made stays, empty.
    expect(readdirSync(target)).toEqual([]);
  }, 30_000);

  it('deletes a backup nobody finishes after backupIdleMs, and bounds the pending ones', async () => {
    const dir = newDir('backup-idle');
    const n = await start(join(dir, 'node-1'), 1, { backupIdleMs: 300, backupsPendingMax: 1 });
    await n.put('a', 'b');
    const info = await n.backupBegin();
    const snapshots = join(dir, 'node-1', 'snapshots');
    expect(readdirSync(snapshots)).toEqual([info.id]);
    await expect(n.backupBegin()).rejects.toMatchObject({ code: 'KV_ERR_BUSY' });
    // A pull keeps it alive past the bound.
    await new Promise((r) => setTimeout(r, 200));
    n.backupChunk(info.id, 0, 0, 1024);
    await new Promise((r) => setTimeout(r, 200));
    expect(readdirSync(snapshots)).toEqual([info.id]);
    await eventually('the idle backup is deleted', () => readdirSync(snapshots).length === 0, 5_000);
    expect(() => n.backupChunk(info.id, 0, 0, 1024)).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    // The bound is free again.
    const again = await n.backupBegin();
    n.backupEnd(again.id);
    expect(readdirSync(snapshots)).toEqual([]);
  }, 30_000);
});
