/**
 * The Raft paper's safety rules (Figure 3, §5.2-5.4), one test per rule where a rule maps to one
 * test. The properties of Figure 3 are checked over seeded randomized runs of a small in-memory
 * cluster with message loss, reordering, partitions and restarts; the specific rules (Figure 8,
 * one vote per term, stale-log candidates) over hand-built scenarios.
 */
import { describe, expect, it } from 'vitest';
import type { RaftConfig } from '../../src/raft/config.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import {
  decodeConfChange,
  makeMessage,
  type Entry,
  type Message,
  type NodeId,
} from '../../src/raft/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';

function config(id: NodeId, random: () => number, over: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    random,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsgBytes: 1024,
    maxInflightMsgs: 8,
    maxInflightBytes: 0,
    readOnlyOption: 'safe',
    ...over,
  };
}

/** Bootstraps a storage as etcd does: snapshot at (index 1, term 1) with the voters, hard state term 1. */
function bootstrapStorage(voters: NodeId[]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ meta: { index: 1, term: 1, conf: { voters, learners: [] } }, data: new Uint8Array(0) });
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  return s;
}

interface SimNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  /** Index the state machine was at when `applied` started (a snapshot's index after a restore). */
  appliedBase: number;
  up: boolean;
}

/** A small cluster driven exactly by the Ready contract over a lossy, reordering network. */
class Cluster {
  readonly nodes = new Map<NodeId, SimNode>();
  queue: Message[] = [];
  readonly rand: () => number;
  readonly ids: NodeId[];
  /** Links that drop everything, as "a-b". */
  cuts = new Set<string>();
  /** Leader seen per term (Election Safety). */
  readonly leaderOfTerm = new Map<number, NodeId>();
  /** Every entry any node applied, by index (for Leader Completeness). */
  readonly committed = new Map<number, Entry>();
  readonly violations: string[] = [];
  /** Snapshot messages sent and conf changes applied, so tests can show the paths ran. */
  snapshotsSent = 0;
  confChangesApplied = 0;
  private readonly over: Partial<RaftConfig>;

  constructor(n: number, seed: number, over: Partial<RaftConfig> = {}) {
    this.rand = mulberry32(seed);
    this.over = over;
    this.ids = Array.from({ length: n }, (_, i) => i + 1);
    for (const id of this.ids) {
      const storage = bootstrapStorage(this.ids);
      this.nodes.set(id, { id, storage, node: this.newNode(id, storage, 0), applied: [], appliedBase: 1, up: true });
    }
  }

  private newNode(id: NodeId, storage: MemoryStorage, applied: number): RawNode {
    return new RawNode(config(id, mulberry32(Math.floor(this.rand() * 2 ** 32)), { ...this.over, appliedIndex: applied }), storage);
  }

  /** Crash and restart: unpersisted state is lost (MemoryStorage holds only what was persisted). */
  restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    const lastApplied = n.applied.length > 0 ? n.applied[n.applied.length - 1]!.index : n.appliedBase;
    n.node = this.newNode(id, n.storage, lastApplied);
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  /** One driver turn for every up node. */
  processReadies(): void {
    for (const id of this.ids) {
      const n = this.nodes.get(id)!;
      if (!n.up || !n.node.hasReady()) continue;
      const rd = n.node.ready();
      if (rd.snapshot !== undefined) {
        n.storage.applySnapshot(rd.snapshot);
        n.applied = [];
        n.appliedBase = rd.snapshot.meta.index;
      }
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      for (const m of rd.messages) {
        if (m.type === 'snap') this.snapshotsSent++;
        this.queue.push(m);
      }
      for (const e of rd.committedEntries) {
        if (e.type === 'confChange') {
          n.storage.setConfState(n.node.applyConfChange(decodeConfChange(e.data)));
          this.confChangesApplied++;
        }
        n.applied.push(e);
        const prev = this.committed.get(e.index);
        if (prev === undefined) this.committed.set(e.index, e);
        else if (prev.term !== e.term || fromUtf8(prev.data) !== fromUtf8(e.data)) {
          this.violations.push(`state machine safety: node ${id} applied ${e.term}/${e.index} but ${prev.term}/${prev.index} was applied elsewhere`);
        }
      }
      n.node.advance(rd);
      this.observe(n);
    }
  }

  /** Records leaders per term and checks the leader's log only grows (Leader Append-Only). */
  private readonly leaderLogs = new Map<string, Map<number, number>>();

  observe(n: SimNode): void {
    const st = n.node.status();
    if (st.role !== 'leader') return;
    const seen = this.leaderOfTerm.get(st.term);
    if (seen !== undefined && seen !== n.id) this.violations.push(`election safety: term ${st.term} has leaders ${seen} and ${n.id}`);
    this.leaderOfTerm.set(st.term, n.id);
    const key = `${n.id}@${st.term}`;
    const log = this.logOf(n);
    const before = this.leaderLogs.get(key);
    if (before !== undefined) {
      for (const [i, t] of before) {
        if (i >= n.storage.firstIndex() && log.get(i) !== t) this.violations.push(`leader append-only: leader ${key} changed entry ${i} from term ${t} to ${log.get(i)}`);
      }
    } else {
      // Leader Completeness: a new leader's log holds every entry committed so far.
      for (const [i, e] of this.committed) {
        if (i >= n.storage.firstIndex() && log.get(i) !== e.term) {
          this.violations.push(`leader completeness: leader ${key} lacks committed entry ${e.term}/${i}`);
        }
      }
    }
    this.leaderLogs.set(key, log);
  }

  logOf(n: SimNode): Map<number, number> {
    const out = new Map<number, number>();
    const first = n.storage.firstIndex();
    const last = n.storage.lastIndex();
    if (last >= first) for (const e of n.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER)) out.set(e.index, e.term);
    return out;
  }

  /** Delivers up to `max` queued messages in a random order, dropping some. */
  deliver(max: number, dropRate: number): void {
    for (let k = 0; k < max && this.queue.length > 0; k++) {
      const i = Math.floor(this.rand() * this.queue.length);
      const m = this.queue.splice(i, 1)[0]!;
      const to = this.nodes.get(m.to);
      if (to === undefined || !to.up) continue;
      if (this.cuts.has(`${m.from}-${m.to}`) || this.rand() < dropRate) continue;
      to.node.step(m);
      this.observe(to);
    }
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      const st = n.node.status();
      if (st.role === 'leader' && (best === undefined || st.term > best.node.status().term)) best = n;
    }
    return best;
  }

  /** Log Matching: if two logs have an entry with the same index and term, they match up to it. */
  checkLogMatching(): void {
    const logs = this.ids.map((id) => {
      const n = this.nodes.get(id)!;
      const first = n.storage.firstIndex();
      const last = n.storage.lastIndex();
      return last >= first ? n.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [];
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const byIndexB = new Map(logs[b]!.map((e) => [e.index, e]));
        let matchedAt = -1;
        for (const e of logs[a]!) {
          const o = byIndexB.get(e.index);
          if (o !== undefined && o.term === e.term) matchedAt = Math.max(matchedAt, e.index);
        }
        for (const e of logs[a]!) {
          if (e.index > matchedAt) continue;
          const o = byIndexB.get(e.index);
          if (o !== undefined && (o.term !== e.term || fromUtf8(o.data) !== fromUtf8(e.data))) {
            this.violations.push(`log matching: nodes ${a + 1} and ${b + 1} agree at ${matchedAt} but differ at ${e.index}`);
          }
        }
      }
    }
  }

  /** State Machine Safety: applied sequences are prefixes of one another. */
  checkStateMachineSafety(): void {
    for (const id of this.ids) {
      const n = this.nodes.get(id)!;
      let prev = n.appliedBase;
      for (const e of n.applied) {
        if (e.index !== prev + 1) this.violations.push(`state machine safety: node ${id} applied ${e.index} after ${prev}`);
        prev = e.index;
      }
    }
  }

  /** The driver's log compaction: snapshot the node's state at its applied index and compact. */
  compact(id: NodeId): void {
    const n = this.nodes.get(id)!;
    const st = n.node.status();
    if (st.applied < n.storage.firstIndex() + 3) return;
    n.storage.createSnapshot(st.applied, st.conf, utf8(`state@${st.applied}`));
    n.storage.compact(st.applied);
  }
}

/**
 * A randomized run: ticks, proposals, message loss and reordering, partitions and crash-restarts.
 * Returns the cluster for the caller's checks; every property is also recorded as it happens.
 */
interface ChaosOptions {
  /** Nodes compact their logs now and then, so lagging followers need snapshots. */
  compaction?: boolean;
  /** The leader removes and re-adds voters now and then (keeping at least 3). */
  membership?: boolean;
}

function chaos(seed: number, steps: number, over: Partial<RaftConfig> = {}, opts: ChaosOptions = {}): Cluster {
  const c = new Cluster(5, seed, over);
  let proposals = 0;
  for (let step = 0; step < steps; step++) {
    const r = c.rand();
    if (r < 0.02) {
      // Partition a random node away, or heal.
      c.cuts.clear();
      if (c.rand() < 0.7) {
        const victim = c.ids[Math.floor(c.rand() * c.ids.length)]!;
        for (const o of c.ids) if (o !== victim) { c.cuts.add(`${victim}-${o}`); c.cuts.add(`${o}-${victim}`); }
      }
    } else if (r < 0.03) {
      c.restart(c.ids[Math.floor(c.rand() * c.ids.length)]!);
    } else if (r < 0.05 && opts.compaction === true) {
      c.compact(c.ids[Math.floor(c.rand() * c.ids.length)]!);
    }
    for (const id of c.ids) c.nodes.get(id)!.node.tick();
    const lead = c.leader();
    if (lead !== undefined && c.rand() < 0.5) {
      try {
        if (opts.membership === true && c.rand() < 0.05) {
          const voters = lead.node.status().conf.voters;
          const target = c.ids[Math.floor(c.rand() * c.ids.length)]!;
          if (voters.includes(target) && voters.length > 3 && target !== lead.id) lead.node.proposeConfChange({ type: 'removeVoter', nodeId: target });
          else if (!voters.includes(target)) lead.node.proposeConfChange({ type: 'addVoter', nodeId: target });
        } else {
          lead.node.propose(utf8(`p${proposals++}`));
        }
      } catch (err) {
        expect((err as { code?: string }).code).toBe('RAFT_ERR_PROPOSAL_DROPPED');
      }
    }
    c.processReadies();
    c.deliver(20, 0.1);
    c.processReadies();
  }
  c.checkLogMatching();
  c.checkStateMachineSafety();
  return c;
}

const SEEDS = [1, 2, 3, 4, 5, 6];

function runRule(name: string, over: Partial<RaftConfig> = {}, opts: ChaosOptions = {}): void {
  let snapshots = 0;
  let confChanges = 0;
  for (const seed of SEEDS) {
    const c = chaos(seed, 400, over, opts);
    snapshots += c.snapshotsSent;
    confChanges += c.confChangesApplied;
    const mine = c.violations.filter((v) => v.startsWith(name));
    expect(mine, `seed ${seed}: ${mine.join('; ')}`).toEqual([]);
    // The run must have done something, or the property holds vacuously.
    expect(c.leaderOfTerm.size, `seed ${seed}: no leader was ever elected`).toBeGreaterThan(0);
    expect(c.committed.size, `seed ${seed}: nothing was committed`).toBeGreaterThan(5);
  }
  if (opts.compaction === true) expect(snapshots, 'no snapshot was ever sent').toBeGreaterThan(0);
  if (opts.membership === true) expect(confChanges, 'no conf change was ever applied').toBeGreaterThan(0);
}

describe('Raft Figure 3 properties over seeded randomized runs', () => {
  it('Election Safety: at most one leader per term', () => runRule('election safety'));
  it('Election Safety with pre-vote and check-quorum', () => runRule('election safety', { preVote: true, checkQuorum: true }));
  it('Leader Append-Only: a leader never overwrites or deletes entries in its log', () => runRule('leader append-only'));
  it('Log Matching: same index and term implies identical logs up to there', () => runRule('log matching'));
  it('Leader Completeness: a committed entry is in the log of every later leader', () => runRule('leader completeness'));
  it('State Machine Safety: no two nodes apply different entries at one index', () => runRule('state machine safety'));
  it('State Machine Safety with pre-vote, check-quorum and small inflight windows', () =>
    runRule('state machine safety', { preVote: true, checkQuorum: true, maxInflightMsgs: 2, maxSizePerMsgBytes: 20 }));
  it('State Machine Safety with log compaction (snapshots) and membership changes', () =>
    runRule('state machine safety', { preVote: true, checkQuorum: true }, { compaction: true, membership: true }));
  it('Election Safety with log compaction and membership changes', () =>
    runRule('election safety', {}, { compaction: true, membership: true }));
});

// ---------------------------------------------------------------------------------------------
// Hand-built scenarios

/** A RawNode over a storage holding `ents` (after a bootstrap snapshot at index 1, term 1). */
function nodeWithLog(id: NodeId, voters: NodeId[], ents: [term: number, index: number][], hsTerm: number, over: Partial<RaftConfig> = {}): { node: RawNode; storage: MemoryStorage } {
  const storage = bootstrapStorage(voters);
  storage.append(ents.map(([term, index]) => ({ term, index, type: 'normal' as const, data: utf8(`${term}/${index}`) })));
  storage.setHardState({ term: hsTerm, vote: 0, commit: 1 });
  return { node: new RawNode(config(id, () => 0, over), storage), storage };
}

/** One driver turn without a network: persists the Ready into `storage`, returns its messages. */
function drainMessages(node: RawNode, storage: MemoryStorage): Message[] {
  if (!node.hasReady()) return [];
  const rd = node.ready();
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
  node.advance(rd);
  return rd.messages;
}

describe('leader only commits entries of its current term by counting (Figure 8)', () => {
  it('does not commit an old-term entry replicated on a majority until an entry of its term is', () => {
    // Node 1's log: 1/1 (bootstrap), 2/2 from its old leadership. It is elected at term 4.
    const { node, storage } = nodeWithLog(1, [1, 2, 3], [[2, 2]], 3);
    node.campaign();
    drainMessages(node, storage);
    node.step(makeMessage({ type: 'voteResp', from: 2, to: 1, term: 4 }));
    expect(node.status().role).toBe('leader');
    // The new leader appended its empty entry 4/3.
    expect(node.raft.raftLog.lastIndex()).toBe(3);
    drainMessages(node, storage);
    // Node 2 acknowledges index 2 only: 2/2 is now on a majority (1 and 2) but of term 2.
    node.step(makeMessage({ type: 'appResp', from: 2, to: 1, term: 4, index: 2 }));
    expect(node.status().commit).toBe(1);
    // Once the term-4 entry is on a majority, it and everything before it commit.
    node.step(makeMessage({ type: 'appResp', from: 2, to: 1, term: 4, index: 3 }));
    expect(node.status().commit).toBe(3);
  });
});

describe('vote is granted at most once per term', () => {
  it('grants the first candidate, rejects a second one, repeats the grant to the first', () => {
    const { node } = nodeWithLog(3, [1, 2, 3], [], 1);
    node.step(makeMessage({ type: 'vote', from: 1, to: 3, term: 2, index: 1, logTerm: 1 }));
    node.step(makeMessage({ type: 'vote', from: 2, to: 3, term: 2, index: 1, logTerm: 1 }));
    node.step(makeMessage({ type: 'vote', from: 1, to: 3, term: 2, index: 1, logTerm: 1 }));
    const rd = node.ready();
    const resps = rd.messages.filter((m) => m.type === 'voteResp').map((m) => `${m.to}:${m.reject ? 'reject' : 'grant'}`);
    expect(resps).toEqual(['1:grant', '2:reject', '1:grant']);
    // The vote is in the same Ready as the grant, and must be synced before it is sent.
    expect(rd.hardState).toEqual({ term: 2, vote: 1, commit: 1 });
    expect(rd.mustSync).toBe(true);
    node.advance(rd);
  });

  it('keeps the vote across a restart from the persisted hard state', () => {
    const { node, storage } = nodeWithLog(3, [1, 2, 3], [], 1);
    node.step(makeMessage({ type: 'vote', from: 1, to: 3, term: 2, index: 1, logTerm: 1 }));
    const rd = node.ready();
    storage.setHardState(rd.hardState!);
    node.advance(rd);
    const restarted = new RawNode(config(3, () => 0), storage);
    restarted.step(makeMessage({ type: 'vote', from: 2, to: 3, term: 2, index: 1, logTerm: 1 }));
    const resp = restarted.ready().messages.find((m) => m.type === 'voteResp')!;
    expect(resp.reject).toBe(true);
    expect(restarted.status().vote).toBe(1);
  });
});

describe('candidate with stale log is denied (§5.4.1)', () => {
  it('rejects a candidate whose last term is lower, even with a longer log', () => {
    const { node } = nodeWithLog(3, [1, 2, 3], [[3, 2]], 3);
    node.step(makeMessage({ type: 'vote', from: 1, to: 3, term: 4, index: 9, logTerm: 2 }));
    const resp = node.ready().messages.find((m) => m.type === 'voteResp')!;
    expect(resp.reject).toBe(true);
  });

  it('rejects a candidate with the same last term and a shorter log', () => {
    const { node } = nodeWithLog(3, [1, 2, 3], [[3, 2], [3, 3]], 3);
    node.step(makeMessage({ type: 'vote', from: 1, to: 3, term: 4, index: 2, logTerm: 3 }));
    const resp = node.ready().messages.find((m) => m.type === 'voteResp')!;
    expect(resp.reject).toBe(true);
    expect(node.status().vote).toBe(0);
  });

  it('grants a candidate whose log is at least as up to date', () => {
    const { node } = nodeWithLog(3, [1, 2, 3], [[3, 2], [3, 3]], 3);
    node.step(makeMessage({ type: 'vote', from: 1, to: 3, term: 4, index: 3, logTerm: 3 }));
    const resp = node.ready().messages.find((m) => m.type === 'voteResp')!;
    expect(resp.reject).toBe(false);
    expect(node.status().vote).toBe(1);
  });
});

describe('follower with a divergent uncommitted suffix is truncated (§5.3)', () => {
  it('replaces the conflicting entries with the leader\'s', () => {
    const { node, storage } = nodeWithLog(2, [1, 2, 3], [[2, 2], [2, 3], [2, 4]], 2);
    node.step(makeMessage({
      type: 'app', from: 1, to: 2, term: 3, index: 2, logTerm: 2, commit: 1,
      entries: [{ term: 3, index: 3, type: 'normal', data: utf8('new') }],
    }));
    const rd = node.ready();
    storage.append(rd.entries);
    node.advance(rd);
    expect(storage.lastIndex()).toBe(3);
    expect(storage.term(3)).toBe(3);
    expect(rd.messages.find((m) => m.type === 'appResp')).toMatchObject({ reject: false, index: 3 });
  });
});

describe('pre-vote does not disrupt (thesis §9.6)', () => {
  it('a pre-candidate does not bump its term when it loses', () => {
    const { node, storage } = nodeWithLog(1, [1, 2, 3], [], 5, { preVote: true });
    node.campaign();
    expect(node.status()).toMatchObject({ role: 'preCandidate', term: 5 });
    drainMessages(node, storage);
    node.step(makeMessage({ type: 'preVoteResp', from: 2, to: 1, term: 5, reject: true }));
    node.step(makeMessage({ type: 'preVoteResp', from: 3, to: 1, term: 5, reject: true }));
    expect(node.status()).toMatchObject({ role: 'follower', term: 5 });
  });

  it('a follower with a live leader ignores a vote request within the lease (check-quorum)', () => {
    const { node, storage } = nodeWithLog(2, [1, 2, 3], [], 2, { checkQuorum: true });
    node.step(makeMessage({ type: 'heartbeat', from: 1, to: 2, term: 2, commit: 1 }));
    drainMessages(node, storage);
    node.step(makeMessage({ type: 'vote', from: 3, to: 2, term: 3, index: 5, logTerm: 2 }));
    expect(node.status().term).toBe(2);
    expect(drainMessages(node, storage)).toEqual([]);
  });
});
