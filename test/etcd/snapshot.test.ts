/**
 * Maintenance.Snapshot (src/etcd/snapshot-stream.ts): a member streams its backup file; the file a
 * grpc-js client assembles from the blobs and the one `etcdctl snapshot save` writes are lsmraft
 * backups that restoreBackup() turns into a new cluster holding every key (values above one blob
 * included). Blobs are at most 1 MiB and remaining_bytes counts down to 0. Skips the etcdctl part
 * (saying why) when etcdctl 3.4 is missing. The member deletes its checkpoint after each stream,
 * a cancelled one included.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_BLOB_BYTES_MAX } from '../../src/etcd/snapshot-stream.js';
import '../../src/etcd/server.js';
import { KvNode } from '../../src/node/kv-node.js';
import { restoreBackup } from '../../src/node/restore.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { EtcdTestClient, type Wire } from './etcd-client.js';
import { runEtcdctl } from './etcdctl.js';
import { findEtcdctl } from './tools.js';

const dir = tempDir('etcd-snapshot');
const nodes: KvNode[] = [];
let source: KvNode;
let client: EtcdTestClient;
/** Key -> value written; two values above a blob so chunks and blobs straddle. */
const written = new Map<string, string>();

async function start(id: number, dataDir: string): Promise<KvNode> {
  const n = await KvNode.start({ id, address: '127.0.0.1:0', dataDir, engine: 'js', workerPool: false, etcdAddress: '127.0.0.1:0' });
  nodes.push(n);
  return n;
}

function snapshotCall(c: EtcdTestClient): grpc.ClientReadableStream<Wire> {
  const m = (c as unknown as { clients: Record<string, grpc.Client> }).clients.Maintenance as unknown as { Snapshot(req: Wire): grpc.ClientReadableStream<Wire> };
  return m.Snapshot({});
}

/** The source member's pending backups (checkpoints under its snapshots directory). */
const pendingBackups = (): string[] => readdirSync(join(dir, 'source', 'snapshots'));

async function dump(c: EtcdTestClient): Promise<Map<string, string>> {
  const res = await c.call('KV', 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]) });
  return new Map((res.kvs as Wire[]).map((kv) => [(kv.key as Buffer).toString(), (kv.value as Buffer).toString()]));
}

/** Restores `file` into a new member and returns what its etcd API lists. */
async function restoredKeys(file: string, id: number): Promise<Map<string, string>> {
  const dataDir = join(dir, `restored-${id}`);
  await restoreBackup(file, { dataDir, id, address: '127.0.0.1:0' });
  const n = await start(id, dataDir);
  const c = new EtcdTestClient(n.etcdAddress!);
  try {
    const deadline = Date.now() + 15_000;
    for (;;) { // bounded: until the restored member leads, at most 15 s
      try {
        return await dump(c);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    c.close();
  }
}

beforeAll(async () => {
  source = await start(1, join(dir, 'source'));
  client = new EtcdTestClient(source.etcdAddress!);
  const deadline = Date.now() + 15_000;
  while (!source.isLeader && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 200; i++) written.set(`k/${String(i).padStart(3, '0')}`, `v${i}`);
  written.set('big/1', 'a'.repeat(1_200_000));
  written.set('big/2', 'b'.repeat(700_000));
  for (const [k, v] of written) await client.call('KV', 'Put', { key: Buffer.from(k), value: Buffer.from(v) });
}, 60_000);

afterAll(async () => {
  client.close();
  for (const n of nodes) await n.stop();
  removeDir(dir);
});

describe('Maintenance.Snapshot', () => {
  it('streams a backup a grpc-js client saves and restoreBackup restores with every key', async () => {
    const blobs: Buffer[] = [];
    const remaining: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = snapshotCall(client);
      s.on('data', (m: Wire) => {
        blobs.push(m.blob as Buffer);
        remaining.push(Number(m.remaining_bytes));
        expect((m.header as Wire).member_id).toBeDefined();
      });
      s.on('error', reject);
      s.on('end', resolve);
    });
    const file = Buffer.concat(blobs);
    expect(blobs.length).toBeGreaterThan(2);
    for (const b of blobs) expect(b.length).toBeLessThanOrEqual(SNAPSHOT_BLOB_BYTES_MAX);
    let sent = 0;
    blobs.forEach((b, i) => {
      sent += b.length;
      expect(remaining[i]).toBe(file.length - sent);
    });
    expect(remaining.at(-1)).toBe(0);
    expect(file.length % 512).toBe(32); // what etcdctl 3.4 checks of a snapshot's length
    const path = join(dir, 'grpc.snap');
    writeFileSync(path, file);
    expect(pendingBackups()).toEqual([]);
    expect(await restoredKeys(path, 2)).toEqual(written);
  }, 60_000);

  it('deletes the checkpoint when the client cancels the stream', async () => {
    await new Promise<void>((resolve) => {
      const s = snapshotCall(client);
      s.once('data', () => s.cancel());
      s.on('error', () => resolve()); // CANCELLED, as asked
      s.on('end', resolve);
    });
    await eventually('the checkpoint is deleted', () => pendingBackups().length === 0, 5_000);
  }, 30_000);

  it('etcdctl snapshot save writes the same kind of file', async (ctx) => {
    const tool = findEtcdctl();
    if ('skip' in tool) {
      console.log(`skipped: ${tool.skip}`);
      ctx.skip();
      return;
    }
    const path = join(dir, 'etcdctl.snap');
    const r = await runEtcdctl([source.etcdAddress!], ['snapshot', 'save', path]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.stdout).toContain(`Snapshot saved at ${path}`);
    expect(readFileSync(path).subarray(0, 8).toString()).toBe('lsmrbkup');
    expect(pendingBackups()).toEqual([]);
    expect(await restoredKeys(path, 3)).toEqual(written);
  }, 60_000);
});
