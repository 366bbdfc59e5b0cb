// Client sessions in the state machine (src/node/session-table.ts through KvStateMachine): a
// duplicate write replays its response instead of being applied again, a discarded sequence number
// is refused, sessions expire by log time alike on every replica, and the table survives restarts,
// crashes and checkpoints because it lives in the state tree, apart from the user keys.
import { describe, expect, it } from 'vitest';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { SESSION_REQUESTS_OUTSTANDING_MAX, SESSION_TIMEOUT_MS } from '../../src/node/session-table.js';
import { KvStateMachine, type ApplyResult } from '../../src/node/state-machine.js';
import type { Entry } from '../../src/raft/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { delEntry, keepAliveEntry, putEntry, registerEntry } from '../helpers/kv-entries.js';
import { rawTree } from '../helpers/state-tree.js';

function open(fs: CrashableMemFileSystem, dir = '/state'): Promise<KvStateMachine> {
  return KvStateMachine.open(dir, { fs, engine: 'js', workerPool: false });
}

/** Every key and value of the state tree, both namespaces, as hex: what a snapshot carries. */
function codes(results: readonly ApplyResult[]): Array<string | undefined> {
  return results.map((r) => ('error' in r && r.error !== undefined ? r.error.code : undefined));
}

const value = (sm: KvStateMachine, key: string): string | undefined => {
  const v = sm.get(utf8(key));
  return v === undefined ? undefined : fromUtf8(v);
};

describe('client sessions in the state machine', () => {
  it('a duplicate write is not applied again: its stored response is replayed', async () => {
    const fs = new CrashableMemFileSystem();
    const sm = await open(fs);
    const s = (seq: number) => ({ id: 1, seq });
    const results = await sm.apply([
      registerEntry(1),
      putEntry(2, s(1), 'k', 'v1', { firstOutstandingSeq: 1 }),
      putEntry(3, s(2), 'k', 'v2', { firstOutstandingSeq: 1 }), // seq 1 still unanswered for the client
      putEntry(4, s(1), 'k', 'v1', { firstOutstandingSeq: 1 }), // the late first attempt of seq 1
      delEntry(5, s(3), 'k', { firstOutstandingSeq: 1 }),
      putEntry(6, s(4), 'k', 'v4', { firstOutstandingSeq: 1 }),
      delEntry(7, s(3), 'k', { firstOutstandingSeq: 1 }), // a retried delete after a later put
    ]);
    expect(results.map((r) => r.kind)).toEqual(['register', 'put', 'put', 'put', 'del', 'put', 'del']);
    expect(codes(results)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(value(sm, 'k')).toBe('v4');
    await sm.close();
  });

  it('a seq below the first outstanding one is refused (KV_ERR_SESSION_SEQ_DISCARDED), and so is one too far above', async () => {
    const fs = new CrashableMemFileSystem();
    const sm = await open(fs);
    const max = SESSION_REQUESTS_OUTSTANDING_MAX;
    const results = await sm.apply([
      registerEntry(1),
      putEntry(2, { id: 1, seq: 1 }, 'k', 'v1'),
      putEntry(3, { id: 1, seq: 2 }, 'k', 'v2', { firstOutstandingSeq: 2 }), // answers for seq < 2 may go
      putEntry(4, { id: 1, seq: 1 }, 'k', 'v1', { firstOutstandingSeq: 1 }), // seq 1 again: discarded
      putEntry(5, { id: 1, seq: 2 + max }, 'far', 'x', { firstOutstandingSeq: 2 }),
      putEntry(6, { id: 1, seq: 1 + max }, 'near', 'y', { firstOutstandingSeq: 2 }),
      putEntry(7, { id: 77, seq: 1 }, 'k', 'never'), // no such session
    ]);
    expect(codes(results)).toEqual([undefined, undefined, undefined, 'KV_ERR_SESSION_SEQ_DISCARDED', 'KV_ERR_INVALID_ARGUMENT', undefined, 'KV_ERR_SESSION_EXPIRED']);
    expect(value(sm, 'k')).toBe('v2');
    expect(value(sm, 'far')).toBeUndefined();
    expect(value(sm, 'near')).toBe('y');
    await sm.close();
  });

  it('sessions expire by log time, alike on a replica applying in one batch and one that crashed midway', async () => {
    const T = SESSION_TIMEOUT_MS;
    const t0 = 1_000;
    const entries: Entry[] = [
      registerEntry(1, { timeMs: t0 }),
      registerEntry(2, { timeMs: t0 + T / 2 }),
      putEntry(3, { id: 1, seq: 1 }, 'a', '1', { timeMs: t0 + T }), // idle exactly T: still alive
      keepAliveEntry(4, 2, { timeMs: t0 + T / 2 + T + 1 }), // session 2 idle T + 1: expired
      putEntry(5, { id: 1, seq: 2 }, 'b', '2', { timeMs: 5 }), // a leader with a slow clock: time stays
      keepAliveEntry(6, 1, { timeMs: t0 + 2 * T }),
      putEntry(7, { id: 1, seq: 3 }, 'c', '3', { timeMs: t0 + 3 * T + 1 }), // idle T + 1: expired, not applied
      registerEntry(8, { timeMs: t0 + 3 * T + 2 }),
      putEntry(9, { id: 8, seq: 1 }, 'c', '4', { timeMs: t0 + 3 * T + 3 }),
    ];
    const expectedCodes = [undefined, undefined, undefined, 'KV_ERR_SESSION_EXPIRED', undefined, undefined, 'KV_ERR_SESSION_EXPIRED', undefined, undefined];

    const fsA = new CrashableMemFileSystem();
    const a = await open(fsA);
    expect(codes(await a.apply(entries))).toEqual(expectedCodes);

    // Replica B: one entry at a time, a flush after entry 4, a crash after entry 6 (entries 5, 6
    // lost with the memtable), re-applied after its durable applied index.
    const fsB = new CrashableMemFileSystem();
    let b = await open(fsB);
    const got: Array<string | undefined> = [];
    for (const e of entries.slice(0, 6)) {
      got.push(...codes(await b.apply([e])));
      if (e.index === 4) await b.flush();
    }
    fsB.crash();
    b = await open(fsB);
    expect(b.appliedIndex).toBe(4);
    expect(b.logTimeMs).toBe(t0 + T / 2 + T + 1);
    expect(b.sessionIds()).toEqual([1]);
    for (const e of entries.slice(4)) {
      const c = codes(await b.apply([e]));
      if (e.index > 6) got.push(...c);
    }
    expect(got).toEqual(expectedCodes);

    expect(a.sessionIds()).toEqual([8]);
    expect(b.sessionIds()).toEqual([8]);
    expect(a.logTimeMs).toBe(t0 + 3 * T + 3);
    expect(b.logTimeMs).toBe(a.logTimeMs);
    expect(value(a, 'c')).toBe('4');
    expect(rawTree(b)).toEqual(rawTree(a));
    await a.flush();
    await b.flush();
    expect(a.lsm.userMeta).toEqual(b.lsm.userMeta);
    await a.close();
    await b.close();
  });

  it('restarts and checkpoints keep the table: a duplicate after them is still not applied', async () => {
    const fs = new CrashableMemFileSystem();
    let sm = await open(fs);
    await sm.apply([registerEntry(1), putEntry(2, { id: 1, seq: 1 }, 'k', 'old', { firstOutstandingSeq: 1 })]);
    await sm.apply([putEntry(3, { id: 1, seq: 2 }, 'k', 'new', { firstOutstandingSeq: 1 })]);
    await sm.flush();
    fs.crash();
    sm = await open(fs);
    expect(sm.sessionIds()).toEqual([1]);
    const [dup] = await sm.apply([putEntry(4, { id: 1, seq: 1 }, 'k', 'old', { firstOutstandingSeq: 1 })]);
    expect(codes([dup!])).toEqual([undefined]);
    expect(value(sm, 'k')).toBe('new');

    const cp = await sm.checkpoint('/checkpoint');
    expect(cp.appliedIndex).toBe(4);
    const copy = await open(fs, '/checkpoint');
    expect(copy.sessionIds()).toEqual([1]);
    expect(rawTree(copy)).toEqual(rawTree(sm));
    await copy.apply([putEntry(5, { id: 1, seq: 1 }, 'k', 'old', { firstOutstandingSeq: 1 })]);
    expect(value(copy, 'k')).toBe('new');
    await copy.close();
    await sm.close();
  });

  it('user reads, hasUserData and `lsm s` see user keys only', async () => {
    const fs = new CrashableMemFileSystem();
    const sm = await open(fs);
    await sm.apply([registerEntry(1)]);
    expect(sm.hasUserData()).toBe(false); // a session record is not user data (a node may still join)
    expect(sm.scan(Uint8Array.of(0), new Uint8Array(100).fill(0xff), 100)).toEqual([]);
    await sm.apply([putEntry(2, { id: 1, seq: 1 }, 'zz', 'v'), putEntry(3, { id: 1, seq: 2 }, 'a', 'w')]);
    expect(sm.hasUserData()).toBe(true);
    expect(sm.scan(Uint8Array.of(0), new Uint8Array(100).fill(0xff), 100).map(([k, v]) => `${fromUtf8(k)}=${fromUtf8(v)}`)).toEqual(['a=w', 'zz=v']);
    // The bytes of a session record's tree key, asked as a user key, are not found.
    expect(sm.get(Uint8Array.of(0x73, 0, 0, 0, 0, 0, 0, 0, 1))).toBeUndefined();
    await sm.flush();
    const text = sm.describe().tree.toString();
    // The tree also holds the MVCC store's records (src/mvcc/keys.ts), printed by what they are.
    expect(text).toContain('[<event 2.0> .. zz]');
    await sm.close();
  });
});
