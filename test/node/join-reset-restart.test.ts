// A crash in the middle of the JOIN reset must leave a node that can restart.
//
// JoinTarget.resetForJoin (src/node/join-target.ts) empties the state tree durably first, then makes
// the Raft log blank (logStore.reset()), so a crash between them leaves a bootstrapped log over an
// empty state tree, which re-applies from the log. A blank log over a state tree that still holds
// applied entries (the other order, or a data directory an older build left) is repaired by
// KvNode.start (src/node/kv-node.ts): a blank log under an existing identity means a join reset it,
// and the state tree, which held no user data, is emptied too. Without that repair the node would
// pass the state tree's applied index (2: the bootstrap leader's no-op, flushed by stop()) to a core
// whose log ends at 0, and the core's assertion ("appliedIndex ... is past the last index") would
// keep it from ever starting again. The test builds that state on disk and restarts the node.
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

describe('crash inside the JOIN reset', () => {
  it('a node whose log was reset but whose state tree was not yet emptied starts again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'join-reset-restart-'));
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
    // A blank log over the state tree applied to 2: what a crash between the two steps of a reset
    // that blanked the log first would leave.
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
