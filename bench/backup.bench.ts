/**
 * Backup benchmark, after etcd's snapshot save/restore timings: three in-process KvNodes (fsync
 * on), BENCH_KEYS keys of 100-byte values loaded through a KvClient (256 puts in flight), then
 *   save     KvClient.snapshotSave from a follower (read barrier, checkpoint, 1 MiB pulls, fsync);
 *   restore  restoreBackup into a new data directory (checks every chunk, SHA-256);
 *   verify   KvNode.start on it and a full scan, compared with the cluster's.
 *
 *   npm run bench:backup                      # 100,000 keys
 *   BENCH_KEYS=10000 npm run bench:backup
 *
 * Prints a table and one line `RESULT {json}` (times in ms, the file's bytes); writes
 * bench/results/backup.json and backup.svg (BENCH_OUT_DIR elsewhere).
 */
import { join } from 'node:path';
import { KvClient } from '../src/node/kv-client.js';
import { KvNode } from '../src/node/kv-node.js';
import { restoreBackup } from '../src/node/restore.js';
import { removeDir, tempDir } from '../test/helpers/cluster.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const IN_FLIGHT = 256;
const value = 'v'.repeat(100);

async function scanAll(c: KvClient): Promise<number> {
  let n = 0;
  let from: string | undefined;
  // Bounded: KEYS / 1000 + 1 pages.
  for (let page = 0; page <= KEYS / 1000 + 1; page++) {
    const rows = await c.scan(from, undefined, 1000);
    n += rows.length;
    if (rows.length < 1000) break;
    from = `${Buffer.from(rows[rows.length - 1]![0]).toString()}\u0000`;
  }
  return n;
}

async function main(): Promise<void> {
  const dir = tempDir('bench-backup');
  const nodes: KvNode[] = [];
  const clients: KvClient[] = [];
  const progress = makeProgress(5);
  try {
    progress.phase('start 3 nodes');
    for (const id of [1, 2, 3]) nodes.push(await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, `node-${id}`), logLevel: 'warn' }));
    await nodes[0]!.addMember(2, nodes[1]!.address);
    await nodes[0]!.addMember(3, nodes[2]!.address);
    const c = new KvClient(nodes.map((n) => n.address));
    clients.push(c);
    progress.phase(`load ${formatNumber(KEYS)} keys`);
    let t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      // Each worker takes the next key until KEYS are written.
      while (next < KEYS) {
        const i = next++;
        await c.put(`key${String(i).padStart(8, '0')}`, value);
      }
    }));
    const loadMs = performance.now() - t;
    const follower = nodes.find((n) => !n.isLeader)!;
    const saver = new KvClient([follower.address]);
    clients.push(saver);
    const file = join(dir, 'b.bak');
    progress.phase('save from a follower');
    t = performance.now();
    const saved = await saver.snapshotSave(file);
    const saveMs = performance.now() - t;
    progress.phase('restore');
    t = performance.now();
    await restoreBackup(file, { dataDir: join(dir, 'restored'), id: 9, address: '127.0.0.1:0' });
    const restoreMs = performance.now() - t;
    progress.phase('start the restored node and scan it');
    t = performance.now();
    const restored = await KvNode.start({ id: 9, address: '127.0.0.1:0', dataDir: join(dir, 'restored'), logLevel: 'warn' });
    nodes.push(restored);
    const rc = new KvClient([restored.address]);
    clients.push(rc);
    const count = await scanAll(rc);
    const verifyMs = performance.now() - t;
    if (count !== KEYS) throw new Error(`restored ${count} keys of ${KEYS}`);
    const r = { keys: KEYS, loadMs: Math.round(loadMs), saveMs: Math.round(saveMs), fileBytes: saved.bytes, chunks: saved.chunks, restoreMs: Math.round(restoreMs), startAndScanMs: Math.round(verifyMs) };
    progress.stop();
    console.log(
      alignedTable(
        ['keys', 'load ms', 'save ms', 'file bytes', 'chunks', 'restore ms', 'start and scan ms'],
        [[r.keys, r.loadMs, r.saveMs, r.fileBytes, r.chunks, r.restoreMs, r.startAndScanMs].map((v) => formatNumber(v))],
      ),
    );
    console.log(`RESULT ${JSON.stringify(r)}`);
    writeResults('backup', { keys: KEYS, valueBytes: value.length, putsInFlight: IN_FLIGHT }, r, {
      title: 'Backup: save from a follower, restore, start and scan',
      subtitle: `${formatNumber(KEYS)} keys of ${value.length}-byte values in three in-process nodes (fsync on); a ${formatNumber(saved.bytes)}-byte backup file in ${formatNumber(saved.chunks)} chunks; node ${process.version}. Shorter is better.`,
      unit: 'milliseconds',
      series: ['ms'],
      groups: (['saveMs', 'restoreMs', 'startAndScanMs'] as const).map((k) => ({ label: { saveMs: 'save', restoreMs: 'restore', startAndScanMs: 'start and scan' }[k], values: [r[k]], barLabels: [`${formatNumber(r[k])} ms`] })),
      scale: 'linear',
    });
  } finally {
    progress.stop();
    for (const c of clients) c.close();
    for (const n of nodes) await n.stop();
    removeDir(dir);
  }
}

await main();
