// Review: a crash in the middle of the JOIN reset must leave a node that can restart.
//
// KvNode.resetForJoin (src/node/kv-node.ts) first makes the Raft log blank (logStore.reset(), one
// synced batch), THEN deletes the state tree's files. A node that has ever been stopped once has a
// state tree whose durable applied index is past 0 (its one-member bootstrap: the leader's no-op at
// index 2, flushed by close()). If the process dies between those two steps, the next start finds a
// blank log under a state tree applied to 2: newRawNode() passes appliedIndex 2 to a core whose log
// ends at 0, and the core's assertion (raft.ts, "appliedIndex ... is past the last index") fails, so
// the node can never start again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvNode } from '../../src/node/kv-node.js';
import { RaftLogStore } from '../../src/node/log-store.js';

const dirs: string[] = [];
const nodes: KvNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir: string): Promise<KvNode> {
  const n = await KvNode.start({ id: 2, address: '127.0.0.1:0', dataDir, engine: 'js', workerPool: false, log: () => undefined });
  nodes.push(n);
  return n;
}

describe('review: crash inside the JOIN reset', () => {
  it('a node whose log was reset but whose state tree was not yet emptied starts again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'review-join-crash-'));
    dirs.push(dir);
    const dataDir = join(dir, 'node-2');
    // `./kv_server 2 ...` started once and stopped (no user data): a fresh one-member cluster.
    const first = await start(dataDir);
    const deadline = Date.now() + 5000;
    // Bounded by the deadline: waits for the leader's no-op to be applied.
    while (first.status().applied < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(first.status().applied).toBe(2);
    await first.stop();
    nodes.splice(nodes.indexOf(first), 1);
    // A leader's JOIN reached it: resetForJoin's first step (the log reset, synced) completed, then
    // the process died before removeTreeFiles(stateDir).
    const log = await RaftLogStore.open(join(dataDir, 'log'), { engine: 'js', workerPool: false });
    await log.reset();
    await log.close();
    // Restart: the node must come up (as a blank member waiting for its leader, or its old self).
    let err: unknown;
    try {
      await start(dataDir);
    } catch (e) {
      err = e;
    }
    expect(err === undefined ? undefined : String(err)).toBeUndefined();
  });
});
