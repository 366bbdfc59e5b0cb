// A node stores everything through the FileSystem of its options (src/node/node-options.ts `fs`):
// on the crashable in-memory file system (src/lsm/mem-fs.ts) it starts, serves, and after a crash
// that keeps only what was synced restarts with every acknowledged write, without touching the disk.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { KvNode } from '../../src/node/kv-node.js';
import { fromUtf8 } from '../../src/util/bytes.js';

const DATA_DIR = '/lsmraft-memfs-test/node-1';
const nodes: KvNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});

async function start(fs: CrashableMemFileSystem): Promise<KvNode> {
  const n = await KvNode.start({ id: 1, address: '127.0.0.1:0', dataDir: DATA_DIR, fs, engine: 'js', workerPool: false, log: () => undefined });
  nodes.push(n);
  return n;
}

describe('a node on the crashable in-memory file system', () => {
  it('starts, stores its data dir in memory, and keeps acknowledged writes across a crash', async () => {
    const fs = new CrashableMemFileSystem();
    const first = await start(fs);
    await first.put('k', 'v1');
    await first.put('k', 'v2');
    expect(fromUtf8((await first.get('k'))!)).toBe('v2');
    for (const name of ['IDENTITY', 'STATE', 'state-000001', 'log']) expect(fs.list(DATA_DIR)).toContain(name);
    expect(existsSync(DATA_DIR)).toBe(false);
    const clusterId = first.status().clusterId;

    // Power loss: only synced bytes and synced directory entries survive. Handles opened before it
    // are dead, so stopping the old node may fail with an IO error; its sockets and timers end.
    fs.crash();
    nodes.splice(nodes.indexOf(first), 1);
    await first.stop().catch((err: unknown) => {
      if (!(err instanceof LsmraftError)) throw err;
    });

    const second = await start(fs);
    expect(second.status().clusterId).toBe(clusterId);
    expect(fromUtf8((await second.get('k'))!)).toBe('v2');
  });
});
