// A follower that lags far behind must not make the leader build appends without bound. The case
// that once ran a leader out of memory: a follower stopped (SIGSTOP) right after a restart answers
// its backlog of heartbeats in one burst when it resumes, and the leader built one full append
// (maxSizePerMsgBytes of entries, read afresh each time) per heartbeat response, faster than its
// Ready loop sent them. Here the burst (heartbeat responses, rejections, heartbeat ticks) is stepped
// into a leader between two Ready calls, and the appends pending in the next Ready are counted.
import { describe, expect, it } from 'vitest';
import type { RaftConfig } from '../../src/raft/config.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { entrySizeBytes, makeMessage, type Entry, type Message, type NodeId, type Ready } from '../../src/raft/types.js';
import { testRaftConfig } from '../helpers/raft-config.js';

const ENTRY_PAYLOAD_BYTES = 64;
/** Entries in the leader's log past the lagging follower: ~160 KiB of them. */
const LOG_ENTRIES = 2_000;
const MSG_BYTES_MAX = 16 * 1024;
const BURST_COUNT = 100;

function cfg(id: NodeId, over: Partial<RaftConfig> = {}): RaftConfig {
  return testRaftConfig(id, { maxSizePerMsgBytes: MSG_BYTES_MAX, maxInflightMsgs: 4, maxInflightBytes: 4 * MSG_BYTES_MAX, ...over });
}

/** Storage of a voter of {1,2,3} whose log holds `count` entries of term 1 after the snapshot at 1. */
function storageWithLog(count: number): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ meta: { index: 1, term: 1, conf: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array(0) });
  const ents: Entry[] = [];
  for (let i = 0; i < count; i++) ents.push({ term: 1, index: 2 + i, type: 'normal', data: new Uint8Array(ENTRY_PAYLOAD_BYTES).fill(i & 0xff) });
  s.append(ents);
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  return s;
}

/** One driver turn on `node`: persist to `storage`, return the messages, advance. */
function turn(node: RawNode, storage: MemoryStorage): Ready {
  const rd = node.ready();
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
  node.advance(rd);
  return rd;
}

function appendsTo(msgs: readonly Message[], to: NodeId): { count: number; bytes: number; nonEmpty: number } {
  let count = 0;
  let bytes = 0;
  let nonEmpty = 0;
  for (const m of msgs) {
    if (m.type !== 'app' || m.to !== to) continue;
    count++;
    if (m.entries.length > 0) nonEmpty++;
    for (const e of m.entries) bytes += entrySizeBytes(e);
  }
  return { count, bytes, nonEmpty };
}

/**
 * Node 1 leads term 2 over a log of LOG_ENTRIES entries; node 2 is caught up; node 3 has only the
 * snapshot (index 1) and has been probed once (the probe rejected, the catch-up append sent and
 * taken out in a Ready). Returns the leader with no Ready pending.
 */
function leaderWithLaggingFollower(over: Partial<RaftConfig> = {}): { leader: RawNode; storage: MemoryStorage; last: number } {
  const storage = storageWithLog(LOG_ENTRIES);
  const leader = new RawNode(cfg(1, over), storage);
  leader.campaign();
  turn(leader, storage);
  leader.step(makeMessage({ type: 'voteResp', from: 2, to: 1, term: 2 }));
  expect(leader.status().role).toBe('leader');
  const last = LOG_ENTRIES + 2; // the snapshot's 1, the log, and the leader's empty entry
  turn(leader, storage);
  leader.step(makeMessage({ type: 'appResp', from: 2, to: 1, term: 2, index: last }));
  // Node 3 rejects the first probe (at last-1): its log ends at 1, of term 1.
  leader.step(makeMessage({ type: 'appResp', from: 3, to: 1, term: 2, index: last - 1, reject: true, rejectHint: 1, logTerm: 1 }));
  const rd = turn(leader, storage);
  const sent = appendsTo(rd.messages, 3);
  expect(sent.nonEmpty).toBe(1);
  expect(leader.status().progress?.get(3)?.state).toBe('probe');
  return { leader, storage, last };
}

const heartbeatResp = (): Message => makeMessage({ type: 'heartbeatResp', from: 3, to: 1, term: 2 });

describe('a lagging follower bounds what the leader builds for it', () => {
  it('a burst of heartbeat responses from a probing follower builds at most one append', () => {
    const { leader } = leaderWithLaggingFollower();
    for (let i = 0; i < BURST_COUNT; i++) leader.step(heartbeatResp());
    const pending = appendsTo(leader.ready().messages, 3);
    expect(pending.count).toBeLessThanOrEqual(1);
    expect(pending.bytes).toBeLessThanOrEqual(MSG_BYTES_MAX);
  });

  it('heartbeat intervals passing between two Ready calls do not add a second append for the same range', () => {
    const { leader } = leaderWithLaggingFollower();
    // The Ready loop is stalled (a slow fsync): many heartbeat intervals pass, each answered.
    for (let i = 0; i < BURST_COUNT; i++) {
      leader.tick();
      leader.step(heartbeatResp());
    }
    const pending = appendsTo(leader.ready().messages, 3);
    expect(pending.count).toBeLessThanOrEqual(1);
    expect(pending.bytes).toBeLessThanOrEqual(MSG_BYTES_MAX);
  });

  it('a probing follower gets one append per heartbeat interval, however many responses arrive', () => {
    const { leader, storage } = leaderWithLaggingFollower();
    let appends = 0;
    for (let interval = 0; interval < 5; interval++) {
      leader.tick(); // heartbeatTicks = 1: one heartbeat interval
      for (let i = 0; i < 20; i++) leader.step(heartbeatResp());
      appends += appendsTo(turn(leader, storage).messages, 3).nonEmpty;
    }
    expect(appends).toBe(5);
  });

  it('a burst of rejections builds at most one append per accepted rejection', () => {
    const { leader, last } = leaderWithLaggingFollower();
    // Stale copies of the first rejection, then rejections of appends never sent.
    for (let i = 0; i < BURST_COUNT; i++) {
      leader.step(makeMessage({ type: 'appResp', from: 3, to: 1, term: 2, index: last - 1 - (i % 7), reject: true, rejectHint: 1, logTerm: 1 }));
      leader.step(heartbeatResp());
    }
    const pending = appendsTo(leader.ready().messages, 3);
    expect(pending.count).toBeLessThanOrEqual(1);
    expect(pending.bytes).toBeLessThanOrEqual(MSG_BYTES_MAX);
  });

  it('heartbeat responses from a replicating follower with a full window do not build appends past it', () => {
    const maxInflightMsgs = 4;
    const { leader, storage } = leaderWithLaggingFollower({ maxInflightMsgs, maxInflightBytes: 0 });
    // Node 3 acknowledges the catch-up append: it replicates, and the leader fills the window.
    const st = leader.status().progress!.get(3)!;
    leader.step(makeMessage({ type: 'appResp', from: 3, to: 1, term: 2, index: st.next - 1 + 1 }));
    const window = appendsTo(turn(leader, storage).messages, 3);
    expect(leader.status().progress?.get(3)?.state).toBe('replicate');
    expect(window.nonEmpty).toBe(maxInflightMsgs);
    // The window's messages are lost; the follower keeps answering heartbeats, in a burst.
    for (let i = 0; i < BURST_COUNT; i++) {
      leader.tick();
      leader.step(heartbeatResp());
    }
    const pending = appendsTo(leader.ready().messages, 3);
    // What may go out: one empty append that finds out whether the window was lost.
    expect(pending.nonEmpty).toBe(0);
    expect(pending.count).toBeLessThanOrEqual(1);
  });

  it('the committed entries of one Ready are bounded by maxCommittedSizePerReadyBytes', () => {
    const committedBytesMax = 8 * 1024;
    const storage = storageWithLog(LOG_ENTRIES);
    const last = LOG_ENTRIES + 1;
    storage.setHardState({ term: 1, vote: 0, commit: last });
    const node = new RawNode(cfg(1, { maxCommittedSizePerReadyBytes: committedBytesMax }), storage);
    let applied = 1;
    for (let turns = 0; turns < 1_000 && node.hasReady(); turns++) {
      const rd = turn(node, storage);
      let bytes = 0;
      for (const e of rd.committedEntries) {
        expect(e.index).toBe(applied + 1);
        applied = e.index;
        bytes += entrySizeBytes(e);
      }
      expect(rd.committedEntries.length).toBeGreaterThan(0);
      expect(bytes).toBeLessThanOrEqual(committedBytesMax);
    }
    expect(applied).toBe(last);
  });
});
