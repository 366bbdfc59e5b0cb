// KvStateMachine: applying committed entries, per-entry results, restart and crash recovery by
// re-applying the entries after the durable applied index; and the kv command codec. The session
// table's rules are tested in session-table.test.ts.
import { describe, expect, it } from 'vitest';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { decodeKvCommand, encodeKvCommand, stampCommand, type KvCommand } from '../../src/node/kv-command.js';
import { KvStateMachine, decodeStateMeta, encodeStateMeta } from '../../src/node/state-machine.js';
import { RaftLogStore } from '../../src/node/log-store.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { encodeConfChange, type Entry } from '../../src/raft/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { delEntry, putEntry, registerEntry } from '../helpers/kv-entries.js';
import { Rng, testSeeds } from '../helpers/rng.js';

const DIR = '/data/state';
/** Session 1 (registered by entry 1 in these tests), seq = the entry's index. */
const S1 = (seq: number) => ({ id: 1, seq });
const put = (index: number, key: string, value: string): Entry => putEntry(index, S1(index), key, value);
const del = (index: number, key: string): Entry => delEntry(index, S1(index), key);
const noop = (index: number): Entry => ({ index, term: 1, type: 'normal', data: new Uint8Array(0) });

function open(fs: CrashableMemFileSystem, dir = DIR): Promise<KvStateMachine> {
  return KvStateMachine.open(dir, { fs, engine: 'js', workerPool: false });
}

function dump(sm: KvStateMachine): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of sm.scan(Uint8Array.of(0), Uint8Array.of(0xff, 0xff), 10_000)) out[fromUtf8(k)] = fromUtf8(v);
  return out;
}

describe('kv commands', () => {
  it('round-trips every command and rejects malformed bytes with KV_ERR_INVALID_ARGUMENT', () => {
    const p = { proposerId: 3, proposalId: 2 ** 40, timeMs: 1_765_000_000_000 };
    const tag = { sessionId: 12, seq: 7, firstOutstandingSeq: 5 };
    const cmds: KvCommand[] = [
      { type: 'put', key: utf8('k'), value: utf8('v'), ...p, ...tag },
      { type: 'put', key: utf8('empty'), value: new Uint8Array(0), proposerId: 0, proposalId: 0, timeMs: 0, sessionId: 1, seq: 1, firstOutstandingSeq: 1 },
      { type: 'del', key: Uint8Array.of(0, 255), ...p, ...tag },
      { type: 'register', ...p },
      { type: 'keepAlive', sessionId: 99, ...p },
    ];
    for (const c of cmds) {
      const b = encodeKvCommand(c);
      expect(decodeKvCommand(b)).toEqual(c);
      expect(encodeKvCommand(decodeKvCommand(b))).toEqual(b);
      // Every strict prefix and one trailing byte more are rejected.
      for (let n = 0; n < b.length; n++) expect(() => decodeKvCommand(b.subarray(0, n))).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
      const longer = new Uint8Array(b.length + 1);
      longer.set(b);
      expect(() => decodeKvCommand(longer)).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
      // The leader's stamp changes the time only.
      expect(decodeKvCommand(stampCommand(b, 42))).toEqual({ ...c, timeMs: 42 });
    }
    // Layout pin (docs/format/raft-log.md): version 2, op, fixed64 time, proposer, proposal,
    // session, seq, first outstanding seq, key, value.
    expect(Buffer.from(encodeKvCommand({ type: 'put', key: utf8('a'), value: utf8('bc'), proposerId: 1, proposalId: 300, timeMs: 258, sessionId: 5, seq: 2, firstOutstandingSeq: 1 })).toString('hex'))
      .toBe('0201' + '0201000000000000' + '01ac02' + '050201' + '0161' + '026263');
    expect(() => encodeKvCommand({ type: 'put', key: new Uint8Array(0), value: utf8('x'), ...p, ...tag }))
      .toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    expect(() => encodeKvCommand({ type: 'del', key: utf8('x'), ...p, sessionId: 1, seq: 2, firstOutstandingSeq: 3 }))
      .toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    expect(() => encodeKvCommand({ type: 'del', key: utf8('x'), ...p, ...tag, proposerId: -1 }))
      .toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    // A version 1 command (before sessions) is refused, alike on every replica.
    expect(() => decodeKvCommand(Uint8Array.of(1, 1, 1, 0xac, 0x02, 1, 0x61, 2, 0x62, 0x63))).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    expect(decodeStateMeta(encodeStateMeta({ appliedIndex: 123456789, logTimeMs: 1_765_000_000_000 }))).toEqual({ appliedIndex: 123456789, logTimeMs: 1_765_000_000_000 });
    expect(() => decodeStateMeta(Uint8Array.of(1, 1))).toThrow(expect.objectContaining({ code: 'LSM_ERR_CORRUPTION' }));
    expect(() => decodeStateMeta(Uint8Array.of(2, 1))).toThrow(expect.objectContaining({ code: 'LSM_ERR_CORRUPTION' }));
  });
});

describe('KvStateMachine', () => {
  it('applies puts, deletes, no-ops, conf changes and garbage with one result per entry', async () => {
    const fs = new CrashableMemFileSystem();
    const sm = await open(fs);
    expect(sm.appliedIndex).toBe(0);
    expect(sm.hasUserData()).toBe(false);
    const conf: Entry = { index: 5, term: 1, type: 'confChange', data: encodeConfChange({ type: 'addVoter', nodeId: 2 }) };
    const garbage: Entry = { index: 6, term: 1, type: 'normal', data: Uint8Array.of(9, 9, 9, 9, 9) };
    const results = await sm.apply([registerEntry(1), noop(2), put(3, 'a', '1'), put(4, 'b', '2'), conf, garbage, del(7, 'a'), put(8, 'c', '3')]);
    expect(results.map((r) => r.kind)).toEqual(['register', 'noop', 'put', 'put', 'confChange', 'rejected', 'del', 'put']);
    expect(results[0]).toEqual({ index: 1, kind: 'register', proposerId: 9, proposalId: 1, sessionId: 1 });
    expect(results[2]).toMatchObject({ index: 3, kind: 'put', proposerId: 9, proposalId: 3 });
    // Native writes are MVCC writes (one revision each, from 2: an empty store is at revision 1).
    const revisionsOf = (r: (typeof results)[number]) => ('revisions' in r ? r.revisions?.map((b) => [b.revision, b.events.map((e) => `${e.type} ${fromUtf8(e.kv.key)}`)]) : undefined);
    expect(results.map(revisionsOf)).toEqual([undefined, undefined, [[2, ['PUT a']]], [[3, ['PUT b']]], undefined, undefined, [[4, ['DELETE a']]], [[5, ['PUT c']]]]);
    expect(sm.mvcc.range({ key: utf8('a'), rangeEnd: Uint8Array.of(0), revision: 3 }).response.kvs.map((kv) => fromUtf8(kv.key))).toEqual(['a', 'b']);
    const rejected = results[5]!;
    expect(rejected.kind === 'rejected' && rejected.error.code).toBe('KV_ERR_INVALID_ARGUMENT');
    expect(sm.appliedIndex).toBe(8);
    expect(sm.durableAppliedIndex).toBe(0);
    expect(sm.get(utf8('a'))).toBeUndefined();
    expect(fromUtf8(sm.get(utf8('b'))!)).toBe('2');
    expect(dump(sm)).toEqual({ b: '2', c: '3' });
    expect(sm.scan(utf8('b'), utf8('c'), 1).map(([k]) => fromUtf8(k))).toEqual(['b']);
    expect(sm.scan(utf8('a'), utf8('b'), 10).map(([k]) => fromUtf8(k))).toEqual(['b']);
    expect(() => sm.scan(utf8('a'), utf8('b'), 0)).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    expect(sm.hasUserData()).toBe(true);
    // Only no-ops still advance the applied index.
    await sm.apply([noop(9)]);
    expect(sm.appliedIndex).toBe(9);
    await sm.flush();
    expect(sm.durableAppliedIndex).toBe(9);
    expect(sm.describe().appliedIndex).toBe(9);
    await sm.close();
    const again = await open(fs);
    expect(again.appliedIndex).toBe(9);
    expect(dump(again)).toEqual({ b: '2', c: '3' });
    await again.close();
  });

  for (const seed of testSeeds(2000, 3)) {
    it(`after a crash, re-applying the log after the durable applied index gives the same state (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const fs = new CrashableMemFileSystem();
      const log: Entry[] = [registerEntry(1)];
      const model = new Map<string, string>();
      let sm = await open(fs);
      await sm.apply(log);
      try {
        // Each round applies a few batches, sometimes flushes, then crashes and recovers.
        for (let round = 0; round < 6; round++) {
          for (let b = 0; b < 1 + rng.int(4); b++) {
            const batch: Entry[] = [];
            for (let n = 0; n < 1 + rng.int(8); n++) {
              const index = log.length + 1;
              const key = `k${rng.int(20)}`;
              let e: Entry;
              if (rng.chance(0.25)) {
                e = del(index, key);
                model.delete(key);
              } else if (rng.chance(0.1)) {
                e = noop(index);
              } else {
                const value = `v${index}`;
                e = put(index, key, value);
                model.set(key, value);
              }
              log.push(e);
              batch.push(e);
            }
            await sm.apply(batch);
            if (rng.chance(0.3)) await sm.flush();
          }
          const durable = sm.durableAppliedIndex;
          fs.crash();
          sm = await open(fs);
          expect(sm.appliedIndex).toBe(durable);
          if (log.length > durable) await sm.apply(log.slice(durable));
          expect(sm.appliedIndex).toBe(log.length);
          expect(dump(sm)).toEqual(Object.fromEntries([...model.entries()].sort()));
        }
      } catch (err) {
        console.error(`state-machine crash test failed: seed ${seed} (replay with LSMRAFT_SEED=${seed})`);
        throw err;
      } finally {
        await sm.close();
      }
    });
  }
});

describe('RaftLogStore + KvStateMachine under a RawNode (one-member cluster)', () => {
  /** A minimal driver turn: persist, (no peers to send to), apply, advance. */
  async function drive(raw: RawNode, log: RaftLogStore, sm: KvStateMachine): Promise<number> {
    let turns = 0;
    // Bounded: a one-member cluster settles in a few turns.
    for (; turns < 20 && raw.hasReady(); turns++) {
      const rd = raw.ready();
      await log.append(rd.entries, rd.hardState, rd.mustSync);
      await sm.apply(rd.committedEntries);
      raw.advance(rd);
    }
    return turns;
  }

  function startRaw(log: RaftLogStore, sm: KvStateMachine): RawNode {
    const rng = new Rng(5);
    const applied = Math.max(sm.appliedIndex, log.firstIndex() - 1);
    return new RawNode({
      id: 1, electionTicks: 10, heartbeatTicks: 1, random: () => rng.next(), preVote: true, checkQuorum: true,
      maxSizePerMsgBytes: 1 << 20, maxInflightMsgs: 256, maxInflightBytes: 0, readOnlyOption: 'safe', appliedIndex: applied,
    }, log);
  }

  it('bootstraps, elects itself, commits puts, and after a crash restarts from the logs', async () => {
    const fs = new CrashableMemFileSystem();
    const opts = { fs, engine: 'js' as const, workerPool: false as const };
    let log = await RaftLogStore.open('/n/log', opts);
    let sm = await KvStateMachine.open('/n/state', opts);
    await log.bootstrap(1);
    let raw = startRaw(log, sm);
    raw.campaign();
    await drive(raw, log, sm);
    expect(raw.status().role).toBe('leader');
    raw.propose(registerEntry(0).data);
    await drive(raw, log, sm);
    const session = sm.sessionIds()[0]!;
    for (let i = 0; i < 10; i++) {
      raw.propose(putEntry(0, { id: session, seq: i + 1 }, `k${i}`, `v${i}`).data);
      await drive(raw, log, sm);
    }
    expect(fromUtf8(sm.get(utf8('k9'))!)).toBe('v9');
    const lastApplied = sm.appliedIndex;
    expect(lastApplied).toBe(log.lastIndex());

    // Crash: the state tree has no WAL and was never flushed; the log tree's appends were synced.
    fs.crash();
    log = await RaftLogStore.open('/n/log', opts);
    sm = await KvStateMachine.open('/n/state', opts);
    expect(sm.appliedIndex).toBe(0);
    expect(log.lastIndex()).toBe(lastApplied);
    raw = startRaw(log, sm);
    raw.campaign();
    await drive(raw, log, sm);
    expect(sm.appliedIndex).toBeGreaterThanOrEqual(lastApplied);
    expect(dump(sm)).toEqual(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, `v${i}`])));

    // Snapshot bookkeeping and compaction up to the durable applied index.
    await sm.flush();
    const idx = sm.durableAppliedIndex;
    await log.createSnapshot(idx, raw.status().conf, new Uint8Array(0));
    await log.compact(idx);
    expect(log.firstIndex()).toBe(idx + 1);
    raw.propose(delEntry(0, { id: session, seq: 11 }, 'k0').data);
    await drive(raw, log, sm);
    expect(sm.get(utf8('k0'))).toBeUndefined();
    await log.close();
    await sm.close();
  });
});
