/**
 * MvccStore rules the scenario files do not reach: nested txns, a randomized comparison with a
 * plain model (every revision's state kept in memory) for Range at any revision and readEvents,
 * determinism (the same writes give the same tree bytes), and the revision surviving a reopen.
 */
import { describe, expect, it } from 'vitest';
import { MvccError } from '../../src/mvcc/errors.js';
import { MVCC_KEY_BYTES_MAX } from '../../src/mvcc/keys.js';
import type { MvccWrite, RequestOp } from '../../src/mvcc/requests.js';
import type { KeyValue, RevisionEvents } from '../../src/mvcc/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { Rng, testSeeds } from '../helpers/rng.js';
import { openMvcc, showKv, type MvccHarness } from './mvcc-harness.js';

async function ok(h: MvccHarness, w: MvccWrite) {
  const r = await h.write(w);
  if (r instanceof MvccError) throw r;
  return r;
}

const put = (k: string, v: string): RequestOp => ({ put: { key: utf8(k), value: utf8(v) } });

describe('nested txns', () => {
  it('decide every compare on the state before the outer txn and write one revision', async () => {
    const h = await openMvcc();
    await ok(h, { type: 'put', put: { key: utf8('a'), value: utf8('1') } });
    const r = await ok(h, {
      type: 'txn',
      txn: {
        compare: [{ target: 'VALUE', result: 'EQUAL', key: utf8('a'), value: utf8('1') }],
        success: [
          put('a', '2'),
          {
            txn: {
              // Still sees a=1: nested compares are evaluated before the outer txn writes.
              compare: [{ target: 'VALUE', result: 'EQUAL', key: utf8('a'), value: utf8('1') }],
              success: [put('b', 'then'), { range: { key: utf8('a') } }],
              failure: [put('b', 'else')],
            },
          },
        ],
        failure: [],
      },
    });
    expect(r.revision).toBe(3);
    if (r.response.type !== 'txn') throw new Error('not a txn response');
    const nested = r.response.txn.responses[1]!;
    expect('txn' in nested && nested.txn.succeeded).toBe(true);
    // The nested range reads the outer txn's own write.
    expect('txn' in nested && 'range' in nested.txn.responses[1]! && fromUtf8(nested.txn.responses[1].range.kvs[0]!.value)).toBe('2');
    expect(h.store.range({ key: utf8('a'), rangeEnd: utf8('z') }).response.kvs.map(showKv)).toEqual(['a=2 c=2 m=3 v=2', 'b=then c=3 m=3 v=1']);
    expect(h.applied.map((b) => [b.revision, b.events.map((e) => fromUtf8(e.kv.key))])).toEqual([
      [2, ['a']],
      [3, ['a', 'b']],
    ]);
    await h.tree.close();
  });

  it('fail whole when a put on the chosen path names a missing lease', async () => {
    const h = await openMvcc();
    const r = await h.write({ type: 'txn', txn: { compare: [], success: [put('a', '1'), { put: { key: utf8('b'), value: utf8('2'), lease: 5n } }], failure: [] } });
    expect(r instanceof MvccError && r.code).toBe('MVCC_ERR_LEASE_NOT_FOUND');
    expect(h.store.revision).toBe(1);
    expect(h.store.range({ key: utf8('a'), rangeEnd: Uint8Array.of(0) }).response.count).toBe(0);
    await h.tree.close();
  });
});

describe('key length', () => {
  it('refuses keys and range ends the history cannot hold, in reads and in writes, without applying anything', async () => {
    const h = await openMvcc();
    const long = new Uint8Array(MVCC_KEY_BYTES_MAX + 1).fill(0x61);
    const tooLong = expect.objectContaining({ code: 'MVCC_ERR_KEY_TOO_LONG' });
    expect(() => h.store.range({ key: long })).toThrow(tooLong);
    expect(() => h.store.range({ key: utf8('a'), rangeEnd: long, revision: 1 })).toThrow(tooLong);
    for (const w of [
      { type: 'put', put: { key: long, value: utf8('v') } },
      { type: 'deleteRange', deleteRange: { key: utf8('a'), rangeEnd: long } },
      { type: 'txn', txn: { compare: [{ target: 'VERSION', result: 'EQUAL', key: long }], success: [], failure: [] } },
      { type: 'txn', txn: { compare: [], success: [{ range: { key: long } }], failure: [] } },
    ] as MvccWrite[]) {
      expect(await h.write(w)).toEqual(tooLong);
    }
    expect(h.store.revision).toBe(1);
    const ok = await h.write({ type: 'put', put: { key: long.subarray(1), value: utf8('v') } });
    expect(ok).toMatchObject({ revision: 2 });
    await h.tree.close();
  });
});

describe('reads while a batch lands', () => {
  it('see the published revision until publish(), even with the batch in the tree', async () => {
    const h = await openMvcc();
    await ok(h, { type: 'put', put: { key: utf8('a'), value: utf8('old') } });
    await ok(h, { type: 'put', put: { key: utf8('gone'), value: utf8('x') } });
    const batch = h.store.beginBatch();
    batch.apply({ type: 'put', put: { key: utf8('a'), value: utf8('new') } });
    batch.apply({ type: 'deleteRange', deleteRange: { key: utf8('gone') } });
    await h.tree.batch(batch.takeOps());
    const show = () => h.store.range({ key: utf8('a'), rangeEnd: utf8('z') }).response.kvs.map(showKv);
    expect(h.store.revision).toBe(3);
    expect(show()).toEqual(['a=old c=2 m=2 v=1', 'gone=x c=3 m=3 v=1']);
    expect(h.store.range({ key: utf8('gone') }).response.count).toBe(1);
    h.store.publish(batch);
    expect(h.store.revision).toBe(5);
    expect(show()).toEqual(['a=new c=2 m=4 v=2']);
    await h.tree.close();
  });
});

type Model = Map<string, KeyValue>;

/** Random writes over a few keys, each checked against a model of every revision's state. */
async function randomRun(seed: number, steps: number): Promise<{ h: MvccHarness; states: Model[] }> {
  const rng = new Rng(seed);
  const h = await openMvcc();
  // states[r]: the state at revision r; an empty store is at revision 1, as etcd's.
  const states: Model[] = [new Map(), new Map()];
  const keys = ['a', 'a\0', 'ab', 'b', 'b\xff', 'c'];
  for (let i = 0; i < steps; i++) {
    const k = keys[rng.int(keys.length)]!;
    const cur = states[states.length - 1]!;
    const next = new Map(cur);
    const rev = states.length;
    let w: MvccWrite;
    if (rng.chance(0.6)) {
      const v = `v${i}`;
      w = { type: 'put', put: { key: utf8(k), value: utf8(v) } };
      const prev = cur.get(k);
      next.set(k, { key: utf8(k), value: utf8(v), createRevision: prev?.createRevision ?? rev, modRevision: rev, version: (prev?.version ?? 0) + 1, lease: 0n });
    } else {
      const end = rng.chance(0.5) ? undefined : keys[rng.int(keys.length)]!;
      w = { type: 'deleteRange', deleteRange: { key: utf8(k), ...(end !== undefined ? { rangeEnd: utf8(end) } : {}) } };
      for (const key of cur.keys()) if (end === undefined ? key === k : key >= k && key < end) next.delete(key);
    }
    const r = await ok(h, w);
    const changed = w.type === 'put' || next.size !== cur.size;
    expect(r.revision, `seed ${seed} step ${i}`).toBe(changed ? rev : rev - 1);
    if (changed) states.push(next);
  }
  return { h, states };
}

describe('randomized against a model', () => {
  it.each(testSeeds(100, 3))('range at every revision and readEvents agree with the model (seed %i)', async (seed) => {
    const { h, states } = await randomRun(seed, 120);
    const show = (m: Model, from: string, to: string) =>
      [...m.values()]
        .filter((kv) => fromUtf8(kv.key) >= from && fromUtf8(kv.key) < to)
        .sort((x, y) => (fromUtf8(x.key) < fromUtf8(y.key) ? -1 : 1))
        .map(showKv);
    for (let rev = 1; rev < states.length; rev++) {
      const got = h.store.range({ key: utf8('a'), rangeEnd: utf8('b\xff'), revision: rev }).response.kvs.map(showKv);
      expect(got, `seed ${seed} revision ${rev}`).toEqual(show(states[rev]!, 'a', 'b\xff'));
    }
    const events: RevisionEvents[] = h.store.readEvents(1, h.store.revision, Uint8Array.of(0), Uint8Array.of(0), 100_000);
    expect(events).toEqual(h.applied);
    // Compact half-way: the state at the compact revision and after stays readable.
    const c = Math.floor(states.length / 2);
    await ok(h, { type: 'compact', revision: c });
    for (let rev = c; rev < states.length; rev++) {
      expect(h.store.range({ key: utf8('a'), rangeEnd: utf8('b\xff'), revision: rev }).response.kvs.map(showKv)).toEqual(show(states[rev]!, 'a', 'b\xff'));
    }
    expect(() => h.store.range({ key: utf8('a'), revision: c - 1 })).toThrow(expect.objectContaining({ code: 'MVCC_ERR_COMPACTED' }));
    await h.tree.close();
  });

  it('the same writes give the same tree on two stores, and the revisions survive a reopen', async () => {
    const one = await randomRun(7, 60);
    const two = await randomRun(7, 60);
    const dump = async (h: MvccHarness) => {
      const out: string[] = [];
      for await (const [k, v] of h.tree.scan()) out.push(`${Buffer.from(k).toString('hex')}:${Buffer.from(v).toString('hex')}`);
      return out;
    };
    expect(await dump(one.h)).toEqual(await dump(two.h));
    const rev = one.h.store.revision;
    await ok(one.h, { type: 'compact', revision: 3 });
    await one.h.tree.close();
    await two.h.tree.close();
    const again = await openMvcc(one.h.fs);
    expect([again.store.revision, again.store.compactRevision]).toEqual([rev, 3]);
    await again.tree.close();
  });
});

describe('readTxn (a txn that writes nothing, served without Raft)', () => {
  it('answers as the apply would, at the published revision, and declines while a batch is in progress', async () => {
    const h = await openMvcc();
    await ok(h, { type: 'put', put: { key: utf8('a'), value: utf8('1') } });
    const txn = {
      compare: [{ target: 'VALUE' as const, result: 'EQUAL' as const, key: utf8('a'), value: utf8('1') }],
      success: [{ range: { key: utf8('a') } }],
      failure: [{ range: { key: utf8('b') } }],
    };
    const read = h.store.readTxn(txn)!;
    const applied = await ok(h, { type: 'txn', txn });
    expect(read).toEqual(applied);
    expect(read.revision).toBe(2);
    expect(h.store.revision).toBe(2);
    // Mid-apply the tree's current records may be ahead of the published revision: it declines.
    const batch = h.store.beginBatch();
    batch.apply({ type: 'put', put: { key: utf8('a'), value: utf8('2') } });
    expect(h.store.readTxn(txn)).toBeUndefined();
    h.store.abandon();
    expect(() => h.store.readTxn({ compare: [], success: [{ range: { key: utf8('a'), revision: 9 } }], failure: [] })).toThrow(MvccError);
    expect(() => h.store.readTxn({ compare: [], success: [put('a', '3')], failure: [] })).toThrow(/writes/);
  });
});
