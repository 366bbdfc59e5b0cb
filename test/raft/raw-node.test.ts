// RawNode's API contract: validation at the edge, the Ready cycle, proposals and their drop
// errors, flow control bounds, conf change rules, and the conf change encoding.
import { describe, expect, it } from 'vitest';
import type { RaftConfig } from '../../src/raft/config.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import {
  decodeConfChange,
  encodeConfChange,
  makeMessage,
  type Message,
  type NodeId,
} from '../../src/raft/types.js';
import { utf8 } from '../../src/util/bytes.js';
import { errorCodeOf } from '../helpers/expect.js';
import { testRaftConfig } from '../helpers/raft-config.js';

const cfg = testRaftConfig;

function boot(voters: NodeId[]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ meta: { index: 1, term: 1, conf: { voters, learners: [] } }, data: new Uint8Array(0) });
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  return s;
}

/** Minimal lossless network of RawNodes following the Ready contract. */
class Net {
  readonly n = new Map<NodeId, { node: RawNode; storage: MemoryStorage }>();
  queue: Message[] = [];
  /** Messages sent, for assertions. */
  sent: Message[] = [];
  blocked = new Set<NodeId>();

  constructor(count: number, over: Partial<RaftConfig> = {}) {
    const ids = Array.from({ length: count }, (_, i) => i + 1);
    for (const id of ids) {
      const storage = boot(ids);
      this.n.set(id, { node: new RawNode(cfg(id, over), storage), storage });
    }
  }

  node(id: NodeId): RawNode {
    return this.n.get(id)!.node;
  }

  turn(id: NodeId): void {
    const { node, storage } = this.n.get(id)!;
    if (!node.hasReady()) return;
    const rd = node.ready();
    if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    this.sent.push(...rd.messages);
    for (const e of rd.committedEntries) {
      if (e.type === 'confChange') storage.setConfState(node.applyConfChange(decodeConfChange(e.data)));
    }
    node.advance(rd);
  }

  stabilize(): void {
    for (let round = 0; round < 200; round++) {
      for (const id of this.n.keys()) this.turn(id);
      if (this.queue.length === 0) return;
      const q = this.queue;
      this.queue = [];
      for (const m of q) if (!this.blocked.has(m.to) && !this.blocked.has(m.from)) this.node(m.to).step(m);
    }
    throw new Error('did not stabilize');
  }
}

describe('RawNode.basicStatus', () => {
  it('is status() without the configuration and the progress, on a leader and a follower', () => {
    const net = new Net(3);
    net.node(1).campaign();
    net.stabilize();
    net.node(1).propose(utf8('x'));
    net.stabilize();
    for (const id of [1, 2]) {
      const { conf, progress, ...rest } = net.node(id).status();
      expect(conf.voters).toEqual([1, 2, 3]);
      expect(progress !== undefined).toBe(id === 1);
      expect(net.node(id).basicStatus()).toEqual(rest);
      expect(rest).toMatchObject({ id, lead: 1, role: id === 1 ? 'leader' : 'follower' });
    }
  });
});

describe('RawNode validation', () => {
  it('refuses local message types from the network', () => {
    const node = new RawNode(cfg(1), boot([1]));
    expect(errorCodeOf(() => node.step(makeMessage({ type: 'hup', from: 2, to: 1 })))).toBe('KV_ERR_INVALID_ARGUMENT');
    expect(errorCodeOf(() => node.step(makeMessage({ type: 'beat', from: 2, to: 1 })))).toBe('KV_ERR_INVALID_ARGUMENT');
  });

  it('refuses an empty read context (reads are matched by context)', () => {
    const node = new RawNode(cfg(1), boot([1]));
    expect(errorCodeOf(() => node.readIndex(new Uint8Array(0)))).toBe('KV_ERR_INVALID_ARGUMENT');
  });

  it('a follower forwards its own proposal to the leader but drops one forwarded by a peer', () => {
    const net = new Net(3);
    net.node(1).campaign();
    net.stabilize();
    net.node(2).propose(utf8('mine'));
    const rd = net.node(2).ready();
    expect(rd.messages.map((m) => `${m.type}->${m.to}`)).toEqual(['prop->1']);
    net.node(2).advance(rd);
    net.node(3).step(makeMessage({ type: 'prop', from: 2, to: 3, entries: [{ term: 0, index: 0, type: 'normal', data: utf8('bounced') }] }));
    expect(net.node(3).hasReady()).toBe(false);
  });

  it('proposeAll appends the entries in order with one append per follower; a follower forwards them in one message', () => {
    const net = new Net(3);
    net.node(1).campaign();
    net.stabilize();
    net.sent = [];
    net.node(1).proposeAll([utf8('a'), utf8('b'), utf8('c')]);
    net.turn(1);
    const apps = net.sent.filter((m) => m.type === 'app');
    expect(apps.map((m) => `${m.to}:${m.entries.map((e) => new TextDecoder().decode(e.data)).join('')}`).sort()).toEqual(['2:abc', '3:abc']);
    net.stabilize();
    net.node(2).proposeAll([utf8('d'), utf8('e')]);
    const rd = net.node(2).ready();
    expect(rd.messages.map((m) => `${m.type}->${m.to}:${m.entries.length}`)).toEqual(['prop->1:2']);
    net.node(2).advance(rd);
    expect(errorCodeOf(() => new RawNode(cfg(1), boot([1, 2, 3])).proposeAll([utf8('x')]))).toBe('RAFT_ERR_PROPOSAL_DROPPED');
  });

  it('refuses impossible configurations', () => {
    expect(errorCodeOf(() => new RawNode(cfg(0), boot([1])))).toBe('KV_ERR_INVALID_ARGUMENT');
    expect(errorCodeOf(() => new RawNode(cfg(1, { electionTicks: 1, heartbeatTicks: 1 }), boot([1])))).toBe('KV_ERR_INVALID_ARGUMENT');
    expect(errorCodeOf(() => new RawNode(cfg(1, { readOnlyOption: 'lease', checkQuorum: false }), boot([1])))).toBe('KV_ERR_INVALID_ARGUMENT');
    expect(errorCodeOf(() => new RawNode(cfg(1, { maxInflightMsgs: 0 }), boot([1])))).toBe('KV_ERR_INVALID_ARGUMENT');
  });

  it('drops proposals and reads when no leader is known', () => {
    const node = new RawNode(cfg(1), boot([1, 2, 3]));
    expect(errorCodeOf(() => node.propose(utf8('x')))).toBe('RAFT_ERR_PROPOSAL_DROPPED');
    expect(errorCodeOf(() => node.readIndex(utf8('r')))).toBe('RAFT_ERR_PROPOSAL_DROPPED');
  });

  it('draws election timeouts in [electionTicks, 2*electionTicks)', () => {
    for (const [r, expectedTicks] of [[0, 10], [0.5, 15], [0.999, 19]] as const) {
      const node = new RawNode(cfg(1, { random: () => r }), boot([1, 2, 3]));
      let ticks = 0;
      while (node.status().role === 'follower' && ticks < 100) {
        node.tick();
        ticks++;
      }
      expect(ticks).toBe(expectedTicks);
    }
  });
});

describe('RawNode Ready cycle', () => {
  it('a single-voter cluster elects itself and commits a proposal in one turn', () => {
    const storage = boot([1]);
    const node = new RawNode(cfg(1), storage);
    node.campaign();
    const rd = node.ready();
    expect(rd.softState).toEqual({ leader: 1, role: 'leader' });
    expect(rd.hardState).toEqual({ term: 2, vote: 1, commit: 2 });
    expect(rd.mustSync).toBe(true);
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2]);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    node.advance(rd);
    expect(node.hasReady()).toBe(false);
    node.propose(utf8('v'));
    const rd2 = node.ready();
    expect(rd2.committedEntries.map((e) => new TextDecoder().decode(e.data))).toEqual(['v']);
    expect(rd2.mustSync).toBe(true);
    storage.append(rd2.entries);
    node.advance(rd2);
    expect(node.status()).toMatchObject({ commit: 3, applied: 3 });
  });

  it('asserts ready() is not called twice without advance()', () => {
    const node = new RawNode(cfg(1), boot([1]));
    node.campaign();
    node.ready();
    expect(() => node.ready()).toThrow(/before advance/);
  });

  it('resumes from storage with appliedIndex and does not re-deliver applied entries', () => {
    const net = new Net(1);
    net.node(1).campaign();
    net.stabilize();
    net.node(1).propose(utf8('a'));
    net.stabilize();
    const { storage } = net.n.get(1)!;
    const restarted = new RawNode(cfg(1, { appliedIndex: 3 }), storage);
    expect(restarted.status()).toMatchObject({ term: 2, commit: 3, applied: 3 });
    expect(restarted.hasReady()).toBe(false);
    const fresh = new RawNode(cfg(1, { appliedIndex: 2 }), storage);
    expect(fresh.ready().committedEntries.map((e) => e.index)).toEqual([3]);
  });
});

describe('flow control', () => {
  it('pipelines at most maxInflightMsgs appends to a follower that does not answer', () => {
    const net = new Net(3, { maxInflightMsgs: 3 });
    net.node(1).campaign();
    net.stabilize();
    net.blocked.add(3);
    net.sent = [];
    for (let i = 0; i < 10; i++) {
      net.node(1).propose(utf8(`p${i}`));
      net.stabilize();
    }
    const appsTo3 = net.sent.filter((m) => m.type === 'app' && m.to === 3 && m.entries.length > 0);
    const appsTo2 = net.sent.filter((m) => m.type === 'app' && m.to === 2 && m.entries.length > 0);
    expect(appsTo3.length).toBe(3);
    expect(appsTo2.length).toBe(10);
  });

  it('bounds in-flight payload bytes with maxInflightBytes', () => {
    const net = new Net(3, { maxInflightBytes: 100 });
    net.node(1).campaign();
    net.stabilize();
    net.blocked.add(3);
    net.sent = [];
    for (let i = 0; i < 10; i++) {
      net.node(1).propose(new Uint8Array(40));
      net.stabilize();
    }
    // 40 + 40 + 40 >= 100 after three messages: the window is full.
    expect(net.sent.filter((m) => m.type === 'app' && m.to === 3 && m.entries.length > 0).length).toBe(3);
  });

  it('batches catch-up appends by maxSizePerMsgBytes', () => {
    const net = new Net(3, { maxSizePerMsgBytes: 100 });
    net.node(1).campaign();
    net.stabilize();
    net.blocked.add(3);
    for (let i = 0; i < 12; i++) net.node(1).propose(new Uint8Array(24));
    net.stabilize();
    net.blocked.clear();
    net.sent = [];
    net.node(1).tick(); // heartbeat: 3 answers, the leader sends what it lacks
    net.stabilize();
    const catchUp = net.sent.filter((m) => m.type === 'app' && m.to === 3 && m.entries.length > 0);
    expect(catchUp.length).toBeGreaterThan(1);
    for (const m of catchUp) {
      // 40 bytes per 24-byte entry (16 of header): at most 2 fit in 100 bytes.
      expect(m.entries.length).toBeLessThanOrEqual(2);
    }
    expect(net.node(3).status().commit).toBe(net.node(1).status().commit);
  });

  it('drops proposals over maxUncommittedEntriesBytes', () => {
    const net = new Net(3, { maxUncommittedEntriesBytes: 50 });
    net.node(1).campaign();
    net.stabilize();
    net.blocked.add(2);
    net.blocked.add(3);
    net.node(1).propose(new Uint8Array(30));
    expect(errorCodeOf(() => net.node(1).propose(new Uint8Array(30)))).toBe('RAFT_ERR_PROPOSAL_DROPPED');
  });
});

describe('membership rules', () => {
  it('turns a conf change into an empty entry before the leader commits an entry of its term', () => {
    const net = new Net(3);
    net.node(1).campaign();
    // Deliver votes only: 1 is leader with its empty entry uncommitted.
    net.turn(1);
    for (const m of net.queue.splice(0)) net.node(m.to).step(m);
    net.turn(2);
    net.turn(3);
    for (const m of net.queue.splice(0)) net.node(m.to).step(m);
    expect(net.node(1).status().role).toBe('leader');
    net.node(1).proposeConfChange({ type: 'addVoter', nodeId: 4 });
    const last = net.node(1).raft.raftLog.lastIndex();
    const e = net.node(1).raft.raftLog.slice(last, last + 1, Number.MAX_SAFE_INTEGER)![0]!;
    expect(e.type).toBe('normal');
    expect(e.data.length).toBe(0);
    // After the commit of its term's entry, the same change is accepted.
    net.stabilize();
    net.node(1).proposeConfChange({ type: 'addVoter', nodeId: 4 });
    const last2 = net.node(1).raft.raftLog.lastIndex();
    expect(net.node(1).raft.raftLog.slice(last2, last2 + 1, Number.MAX_SAFE_INTEGER)![0]!.type).toBe('confChange');
    expect(net.node(1).raft.pendingConfIndex).toBe(last2);
  });

  it('adding a learner does not change the quorum; promoting it does', () => {
    const net = new Net(3);
    net.node(1).campaign();
    net.stabilize();
    expect(net.node(1).applyConfChange({ type: 'addLearner', nodeId: 4 })).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(net.node(1).raft.trk.voters.size).toBe(3);
    expect(net.node(1).applyConfChange({ type: 'addVoter', nodeId: 4 })).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    expect(net.node(1).applyConfChange({ type: 'removeVoter', nodeId: 2 })).toEqual({ voters: [1, 3, 4], learners: [] });
  });
});

describe('conf change encoding', () => {
  it('round-trips, with and without context', () => {
    for (const cc of [
      { type: 'addVoter' as const, nodeId: 4 },
      { type: 'removeVoter' as const, nodeId: 300 },
      { type: 'addLearner' as const, nodeId: 2 ** 40, context: utf8('127.0.0.1:10004') },
    ]) {
      expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    }
  });

  it('rejects malformed bytes with a typed error', () => {
    const good = encodeConfChange({ type: 'addVoter', nodeId: 4, context: utf8('x') });
    expect(errorCodeOf(() => decodeConfChange(good.subarray(0, good.length - 1)))).toBe('KV_ERR_INVALID_ARGUMENT');
    const badVersion = good.slice();
    badVersion[0] = 9;
    expect(errorCodeOf(() => decodeConfChange(badVersion))).toBe('KV_ERR_INVALID_ARGUMENT');
    const badType = good.slice();
    badType[1] = 7;
    expect(errorCodeOf(() => decodeConfChange(badType))).toBe('KV_ERR_INVALID_ARGUMENT');
    expect(errorCodeOf(() => encodeConfChange({ type: 'addVoter', nodeId: 0 }))).toBe('KV_ERR_INVALID_ARGUMENT');
  });
});

describe('snapshot and unreachable reports', () => {
  /** Leader 1 with follower 3 needing a snapshot (its entries were compacted while it was away). */
  function lagging(): Net {
    const net = new Net(3);
    net.node(1).campaign();
    net.stabilize();
    net.blocked.add(3);
    for (let i = 0; i < 5; i++) net.node(1).propose(utf8(`e${i}`));
    net.stabilize();
    const { storage, node } = net.n.get(1)!;
    const applied = node.status().applied;
    storage.createSnapshot(applied, node.status().conf, utf8('snap'));
    storage.compact(applied);
    net.blocked.clear();
    return net;
  }

  it('a failed snapshot send moves the follower back to probing and the leader retries', () => {
    const net = lagging();
    // Run the cluster but lose every snapshot message on the way.
    net.node(1).tick();
    for (let round = 0; round < 20; round++) {
      for (const id of [1, 2, 3]) net.turn(id);
      for (const m of net.queue.splice(0)) if (m.type !== 'snap') net.node(m.to).step(m);
    }
    expect(net.node(1).status().progress!.get(3)!.state).toBe('snapshot');
    net.node(1).reportSnapshot(3, false);
    expect(net.node(1).status().progress!.get(3)!.state).toBe('probe');
    // The next heartbeat response un-pauses the probe; the leader sends the snapshot again.
    net.node(1).tick();
    net.stabilize();
    expect(net.node(3).status().commit).toBe(net.node(1).status().commit);
    expect(net.n.get(3)!.storage.snapshot().meta.index).toBe(net.n.get(1)!.storage.snapshot().meta.index);
  });

  it('reportUnreachable moves a replicating follower back to probing', () => {
    const net = new Net(3);
    net.node(1).campaign();
    net.stabilize();
    expect(net.node(1).status().progress!.get(2)!.state).toBe('replicate');
    net.node(1).reportUnreachable(2);
    expect(net.node(1).status().progress!.get(2)!.state).toBe('probe');
  });
});
