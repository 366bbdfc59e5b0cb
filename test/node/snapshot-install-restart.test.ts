// A crash inside a follower's snapshot install must leave a node that can restart.
//
// The driver (src/node/driver.ts turn(), step 1) installs rd.snapshot through logStore.applySnapshot
// and only then appends rd.hardState (whose commit is the snapshot's index) in a separate batch;
// KvNode.start repairs a crash between the state tree install and the log's applySnapshot with
// reconcileLogWithState (src/node/snapshot/install.ts), which leaves the hard state alone. Either
// way the log's first index becomes snapshot.index + 1 while the durable hard state may still hold
// the follower's older commit. The Raft core, loading that state, takes everything up to the
// snapshot as committed (src/raft/raft.ts, where it loads its state) instead of refusing a commit
// below the compaction point. Each test crashes the crashable in-memory file system at one of those
// two points and restarts the core on what survived.
import { describe, expect, it } from 'vitest';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { RaftLogStore } from '../../src/node/log-store.js';
import { reconcileLogWithState } from '../../src/node/snapshot/install.js';
import type { RaftConfig } from '../../src/raft/config.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { makeMessage, type Entry, type Snapshot } from '../../src/raft/types.js';

const DIR = '/data/log';
const VOTERS = [1, 2, 3];

function open(fs: CrashableMemFileSystem): Promise<RaftLogStore> {
  return RaftLogStore.open(DIR, { fs, engine: 'js', workerPool: false });
}

function cfg(appliedIndex: number): RaftConfig {
  return {
    id: 2,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes: 1 << 20,
    maxInflightMsgs: 256,
    maxInflightBytes: 0,
    readOnlyOption: 'safe',
    appliedIndex,
  };
}

const ent = (term: number, index: number): Entry => ({ term, index, type: 'normal', data: new Uint8Array(0) });

/** A follower (node 2) with entries 2..5 of term 2, commit 3, durable. */
async function followerLog(fs: CrashableMemFileSystem): Promise<RaftLogStore> {
  const store = await open(fs);
  await store.applySnapshot({ meta: { index: 1, term: 1, conf: { voters: VOTERS, learners: [] } }, data: new Uint8Array(0) });
  await store.append([ent(2, 2), ent(2, 3), ent(2, 4), ent(2, 5)], { term: 2, vote: 1, commit: 3 }, true);
  return store;
}

const SNAP: Snapshot = { meta: { index: 20, term: 2, conf: { voters: VOTERS, learners: [] } }, data: new Uint8Array(0) };

describe('restart after a crash inside a snapshot install', () => {
  it('crash between the log\'s applySnapshot and the Ready\'s hard state append: the node restarts', async () => {
    const fs = new CrashableMemFileSystem();
    const store = await followerLog(fs);
    const raw = new RawNode(cfg(3), store);
    // The leader (node 1, term 2) sends a snapshot at 20: the core accepts it (20 > commit 3).
    raw.step(makeMessage({ type: 'snap', from: 1, to: 2, term: 2, snapshot: SNAP }));
    expect(raw.hasReady()).toBe(true);
    const rd = raw.ready();
    expect(rd.snapshot?.meta.index).toBe(20);
    expect(rd.hardState?.commit).toBe(20);
    // Driver step 1, first half: the snapshot reaches the log (one synced batch) ...
    await store.applySnapshot(rd.snapshot!);
    // ... and the process dies before `logStore.append(rd.entries, rd.hardState)`.
    fs.crash();
    const reopened = await open(fs);
    try {
      expect(reopened.firstIndex()).toBe(21);
      // KvNode.newRawNode: applied = max(state tree's durable applied index, snapshot index) = 20.
      expect(() => new RawNode(cfg(20), reopened)).not.toThrow();
    } finally {
      await reopened.close();
    }
  });

  it('crash after the state tree install, repaired at startup by reconcileLogWithState: the node restarts', async () => {
    const fs = new CrashableMemFileSystem();
    const store = await followerLog(fs);
    await store.close();
    // KvNode.start: STATE names a state tree installed at 20, the log never saw the snapshot.
    const reopened = await open(fs);
    try {
      expect(await reconcileLogWithState(reopened, SNAP.meta)).toBe(true);
      expect(reopened.firstIndex()).toBe(21);
      expect(() => new RawNode(cfg(20), reopened)).not.toThrow();
    } finally {
      await reopened.close();
    }
  });
});
