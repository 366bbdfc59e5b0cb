// RaftDriver (src/node/driver.ts): which messages of a turn leave before its log sync. A leader's
// appends and heartbeats, and a forwarded proposal or read index, claim nothing about this node's
// disk and leave at once, so the followers' fsyncs overlap the leader's; everything else (an append
// ack, a vote) waits until the turn's entries and hard state are durable.
import { describe, expect, it } from 'vitest';
import { RaftDriver, type DriverCore, type DriverLogStore } from '../../src/node/driver.js';
import { makeMessage, type ConfState, type Entry, type Message, type MessageType, type Ready, type Role } from '../../src/raft/types.js';

/** A core with one Ready to hand out, a log store whose append resolves when the test says. */
function harness(role: Role, types: MessageType[]) {
  const entry: Entry = { term: 1, index: 1, type: 'normal', data: Uint8Array.of(1) };
  let pending: Ready | undefined = {
    softState: { leader: role === 'leader' ? 1 : 2, role },
    hardState: { term: 1, vote: 1, commit: 0 },
    readStates: [], entries: [entry], committedEntries: [], mustSync: true,
    messages: types.map((type) => makeMessage({ type, from: 1, to: 2 })),
  };
  const core: DriverCore = {
    hasReady: () => pending !== undefined,
    ready: () => { const r = pending!; pending = undefined; return r; },
    advance: () => {},
    applyConfChange: (): ConfState => ({ voters: [1, 2, 3], learners: [] }),
  };
  let synced!: () => void;
  let last = 0;
  const log: DriverLogStore = {
    lastIndex: () => last,
    append: () => new Promise<void>((resolve) => { synced = () => { last = 1; resolve(); }; }),
    setConfState: async () => {},
  };
  const sent: Array<{ type: MessageType; afterSync: boolean }> = [];
  let isSynced = false;
  const driver = new RaftDriver(core, log, () => ({ appliedIndex: 0, apply: async () => [] }), {
    send: (m: Message) => sent.push({ type: m.type, afterSync: isSynced }),
    softState: () => {}, applied: () => {}, confChangeApplied: async () => {}, readStates: () => {},
    appliedTo: () => {}, term: () => {}, installSnapshot: async () => {}, maintenance: async () => false,
    fatal: (e) => { throw e; },
  });
  return { driver, sent, sync: () => { isSynced = true; synced(); } };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('RaftDriver early send', () => {
  it("sends a leader's appends and heartbeats before its sync, the rest after", async () => {
    const h = harness('leader', ['app', 'heartbeat', 'readIndexResp', 'timeoutNow']);
    h.driver.kick();
    await tick();
    expect(h.sent).toEqual([{ type: 'app', afterSync: false }, { type: 'heartbeat', afterSync: false }, { type: 'readIndexResp', afterSync: false }]);
    h.sync();
    await h.driver.whenIdle();
    expect(h.sent.map((s) => `${s.type} ${s.afterSync}`)).toEqual(['app false', 'heartbeat false', 'readIndexResp false', 'timeoutNow true']);
  });

  it("holds a follower's acks and votes until its sync, but not its forwarded requests", async () => {
    const h = harness('follower', ['appResp', 'voteResp', 'prop', 'readIndex', 'app']);
    h.driver.kick();
    await tick();
    expect(h.sent).toEqual([{ type: 'prop', afterSync: false }, { type: 'readIndex', afterSync: false }]);
    h.sync();
    await h.driver.whenIdle();
    expect(h.sent.map((s) => `${s.type} ${s.afterSync}`)).toEqual(['prop false', 'readIndex false', 'appResp true', 'voteResp true', 'app true']);
  });
});
