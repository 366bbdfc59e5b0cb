// RaftLogStore: the same Storage semantics as MemoryStorage (the reference), durable across
// reopen and crash (CrashableMemFileSystem keeps only what was synced).
import { describe, expect, it } from 'vitest';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { RaftLogStore, encodeEntryValue, encodeHardState, encodeSnapshotRecord, entryKey } from '../../src/node/log-store.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { encodeConfChange, type ConfChange, type ConfState, type Entry, type HardState, type Snapshot } from '../../src/raft/types.js';
import { Rng, testSeeds } from '../helpers/rng.js';

const DIR = '/data/log';
const ent = (term: number, index: number, bytes = 0, type: Entry['type'] = 'normal'): Entry =>
  ({ term, index, type, data: Uint8Array.from({ length: bytes }, (_, i) => (index * 7 + i) & 0xff) });
const conf = (...voters: number[]): ConfState => ({ voters, learners: [] });
const snapOf = (index: number, term: number, voters: number[] = [1]): Snapshot =>
  ({ meta: { index, term, conf: conf(...voters) }, data: Uint8Array.of(index & 0xff, 9) });

function open(fs: CrashableMemFileSystem): Promise<RaftLogStore> {
  return RaftLogStore.open(DIR, { fs, engine: 'js', workerPool: false });
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code ?? 'non-coded error';
  }
  return undefined;
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? 'non-coded error';
  }
  return undefined;
}

/** Everything a reader of Storage can observe, compared between the store and the reference. */
function expectSame(got: RaftLogStore, want: MemoryStorage, rng: Rng | undefined, where: string): void {
  expect(got.firstIndex(), `${where}: firstIndex`).toBe(want.firstIndex());
  expect(got.lastIndex(), `${where}: lastIndex`).toBe(want.lastIndex());
  expect(got.initialState(), `${where}: initialState`).toEqual(want.initialState());
  expect(got.snapshot().meta, `${where}: snapshot meta`).toEqual(want.snapshot().meta);
  expect([...got.snapshot().data], `${where}: snapshot data`).toEqual([...want.snapshot().data]);
  const first = want.firstIndex();
  const last = want.lastIndex();
  for (let i = Math.max(0, first - 2); i <= last + 1; i++) {
    const w = codeOf(() => want.term(i)) ?? want.term(i);
    const g = codeOf(() => got.term(i)) ?? got.term(i);
    expect(g, `${where}: term(${i})`).toBe(w);
  }
  const probes: Array<[number, number, number]> = [[first, last + 1, Number.MAX_SAFE_INTEGER], [first - 1, last + 1, 1e9], [first, last + 2, 1e9]];
  if (rng !== undefined && last >= first) {
    const lo = first + rng.int(last - first + 1);
    const hi = lo + rng.int(last + 2 - lo);
    probes.push([lo, hi, rng.int(200)]);
  }
  for (const [lo, hi, max] of probes) {
    const w = codeOf(() => want.entries(lo, hi, max));
    const g = codeOf(() => got.entries(lo, hi, max));
    expect(g, `${where}: entries(${lo}, ${hi}) error`).toBe(w);
    if (w === undefined) {
      const simplify = (es: Entry[]) => es.map((e) => ({ ...e, data: [...e.data] }));
      expect(simplify(got.entries(lo, hi, max)), `${where}: entries(${lo}, ${hi}, ${max})`).toEqual(simplify(want.entries(lo, hi, max)));
    }
  }
}

describe('RaftLogStore', () => {
  it('starts blank, bootstraps a one-member cluster at index 1 term 1, and survives a reopen', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    expect(s.isInitialized).toBe(false);
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0)).toBe(0);
    await s.bootstrap(7);
    expect(s.isInitialized).toBe(true);
    expect(s.firstIndex()).toBe(2);
    expect(s.lastIndex()).toBe(1);
    expect(s.term(1)).toBe(1);
    expect(s.initialState()).toEqual({ hardState: { term: 1, vote: 0, commit: 1 }, confState: conf(7) });
    expect(s.snapshot().meta).toEqual({ index: 1, term: 1, conf: conf(7) });
    fs.crash(); // bootstrap is synced
    const r = await open(fs);
    expect(r.initialState()).toEqual({ hardState: { term: 1, vote: 0, commit: 1 }, confState: conf(7) });
    expect(r.firstIndex()).toBe(2);
    expect(r.term(1)).toBe(1);
    await r.reset();
    expect(r.isInitialized).toBe(false);
    expect(r.lastIndex()).toBe(0);
    await r.close();
    const again = await open(fs);
    expect(again.isInitialized).toBe(false);
    expect(again.initialState().confState).toEqual(conf());
    await again.close();
  });

  it('truncates a conflicting suffix, compacts and applies snapshots with the errors of MemoryStorage', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    const m = new MemoryStorage();
    const both = async (f: (x: MemoryStorage) => void, g: (x: RaftLogStore) => Promise<unknown>) => {
      const w = codeOf(() => f(m));
      const got = await asyncCodeOf(g(s));
      expect(got).toBe(w);
    };
    await both((x) => x.append([ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4), ent(2, 5)]), (x) => x.append([ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4), ent(2, 5)]));
    expectSame(s, m, undefined, 'after first append');
    // A new leader's entries from index 4 replace 4..5 and leave no stale entry 5.
    await both((x) => x.append([ent(3, 4, 5)]), (x) => x.append([ent(3, 4, 5)]));
    expectSame(s, m, undefined, 'after conflicting append');
    expect(s.lastIndex()).toBe(4);
    await both((x) => x.compact(2), (x) => x.compact(2));
    expectSame(s, m, undefined, 'after compact(2)');
    expect(s.term(2)).toBe(1);
    expect(codeOf(() => s.entries(2, 3, 100))).toBe('RAFT_ERR_COMPACTED');
    expect(codeOf(() => s.term(1))).toBe('RAFT_ERR_COMPACTED');
    expect(codeOf(() => s.term(5))).toBe('RAFT_ERR_UNAVAILABLE');
    expect(codeOf(() => s.entries(3, 6, 100))).toBe('RAFT_ERR_UNAVAILABLE');
    await both((x) => x.compact(2), (x) => x.compact(2)); // already compacted: both throw COMPACTED
    expect(await asyncCodeOf(s.compact(1))).toBe('RAFT_ERR_COMPACTED');
    // Appending entries that start below the compaction point skips the compacted ones.
    await both((x) => x.append([ent(1, 2), ent(2, 3), ent(3, 4, 5), ent(3, 5)]), (x) => x.append([ent(1, 2), ent(2, 3), ent(3, 4, 5), ent(3, 5)]));
    expectSame(s, m, undefined, 'after overlapping append');
    await both((x) => x.createSnapshot(4, conf(1, 2), Uint8Array.of(4)), (x) => x.createSnapshot(4, conf(1, 2), Uint8Array.of(4)));
    expectSame(s, m, undefined, 'after createSnapshot');
    await both((x) => x.createSnapshot(3, conf(1), Uint8Array.of(3)), (x) => x.createSnapshot(3, conf(1), Uint8Array.of(3)));
    await both((x) => x.applySnapshot(snapOf(10, 4, [1, 2, 3])), (x) => x.applySnapshot(snapOf(10, 4, [1, 2, 3])));
    expectSame(s, m, undefined, 'after applySnapshot');
    expect(s.firstIndex()).toBe(11);
    expect(s.lastIndex()).toBe(10);
    expect(await asyncCodeOf(s.applySnapshot(snapOf(9, 4)))).toBe('RAFT_ERR_SNAPSHOT_OUT_OF_DATE');
    await s.close();
    const r = await open(fs);
    expectSame(r, m, undefined, 'after reopen');
    await r.close();
  });

  for (const seed of testSeeds(1000, 6)) {
    it(`matches MemoryStorage on random operation sequences, across reopens (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const fs = new CrashableMemFileSystem();
      let s = await open(fs);
      const m = new MemoryStorage();
      let term = 1;
      try {
        for (let step = 0; step < 60; step++) {
          const op = rng.int(100);
          const first = m.firstIndex();
          const last = m.lastIndex();
          if (op < 55) {
            // A leader's append, possibly overwriting a suffix: starts anywhere in [first-2, last+1].
            const start = Math.max(1, first - 2 + rng.int(last - first + 4));
            if (rng.chance(0.3)) term++;
            const prevTerm = start - 1 >= first - 1 ? m.term(start - 1) : 0;
            const t = Math.max(term, prevTerm);
            term = t;
            const ents = Array.from({ length: 1 + rng.int(6) }, (_, i) => ent(t, start + i, rng.int(40), rng.chance(0.1) ? 'confChange' : 'normal'));
            const hs: HardState | undefined = rng.chance(0.5) ? { term: t, vote: rng.int(4), commit: Math.max(0, first - 1) } : undefined;
            m.append(ents);
            if (hs !== undefined) m.setHardState(hs);
            await s.append(ents, hs, rng.chance(0.8));
          } else if (op < 70 && last >= first) {
            const i = first + rng.int(last - first + 1);
            m.compact(i);
            await s.compact(i);
          } else if (op < 77) {
            const i = m.snapshot().meta.index + 1 + rng.int(20);
            term = Math.max(term, m.term(Math.min(last, Math.max(first - 1, i))) ?? term);
            const snap = snapOf(i, term, [1, 2 + rng.int(3)]);
            m.applySnapshot(snap);
            await s.applySnapshot(snap);
          } else if (op < 85 && last >= Math.max(m.snapshot().meta.index + 1, first - 1)) {
            const lo = Math.max(m.snapshot().meta.index + 1, first - 1);
            const i = lo + rng.int(last - lo + 1);
            const c = conf(1, 2);
            m.createSnapshot(i, c, Uint8Array.of(i & 0xff));
            await s.createSnapshot(i, c, Uint8Array.of(i & 0xff));
          } else if (op < 92) {
            const c = conf(1, 2 + rng.int(5));
            m.setConfState(c);
            await s.setConfState(c);
          } else {
            await s.close();
            s = await open(fs);
          }
          expectSame(s, m, rng, `seed ${seed} step ${step}`);
        }
      } catch (err) {
        console.error(`log-store model test failed: seed ${seed} (replay with LSMRAFT_SEED=${seed})`);
        throw err;
      } finally {
        await s.close();
      }
    });
  }

  it('gives the configuration as of any index, and restores the recorded one to it', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    await s.bootstrap(1);
    const cc = (index: number, c: ConfChange): Entry => ({ term: 2, index, type: 'confChange', data: encodeConfChange(c) });
    await s.append([
      ent(2, 2), cc(3, { type: 'addLearner', nodeId: 2 }), cc(4, { type: 'addVoter', nodeId: 2 }), ent(2, 5, 3),
      cc(6, { type: 'removeVoter', nodeId: 1 }), cc(7, { type: 'addLearner', nodeId: 1 }),
    ], { term: 2, vote: 1, commit: 7 });
    const at = (i: number): string => JSON.stringify(s.confStateAt(i));
    expect([1, 2, 3, 4, 5, 6, 7].map(at)).toEqual([
      '{"voters":[1],"learners":[]}', '{"voters":[1],"learners":[]}', '{"voters":[1],"learners":[2]}', '{"voters":[1,2],"learners":[]}',
      '{"voters":[1,2],"learners":[]}', '{"voters":[2],"learners":[]}', '{"voters":[2],"learners":[1]}',
    ]);
    // The driver recorded the latest configuration; a state tree durable only to 4 resumes there.
    await s.setConfState({ voters: [2], learners: [1] });
    expect(await s.restoreConfStateAt(4)).toBe(true);
    expect(await s.restoreConfStateAt(4)).toBe(false);
    fs.crash();
    const r = await open(fs);
    expect(r.initialState().confState).toEqual({ voters: [1, 2], learners: [] });
    await r.close();
  });

  it('keeps synced appends through a crash and loses only the unsynced tail', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    await s.bootstrap(1);
    await s.append([ent(2, 2, 10), ent(2, 3, 10)], { term: 2, vote: 1, commit: 1 }, true);
    await s.append([ent(2, 4, 10), ent(2, 5, 10)], { term: 2, vote: 1, commit: 3 }, false);
    expect(s.lastIndex()).toBe(5);
    fs.crash();
    const r = await open(fs);
    expect(r.lastIndex()).toBe(3);
    expect(r.initialState().hardState).toEqual({ term: 2, vote: 1, commit: 1 });
    expect(r.entries(2, 4, 1e9).map((e) => [e.index, e.term, e.data.length])).toEqual([[2, 2, 10], [3, 2, 10]]);
    // A later synced append makes the earlier unsynced ones durable too (one WAL, in order).
    await r.append([ent(2, 4, 1)], undefined, false);
    await r.append([ent(3, 5, 1)], { term: 3, vote: 0, commit: 4 }, true);
    fs.crash();
    const r2 = await open(fs);
    expect(r2.lastIndex()).toBe(5);
    expect(r2.term(4)).toBe(2);
    expect(r2.term(5)).toBe(3);
    expect(r2.initialState().hardState.commit).toBe(4);
    await r2.close();
  });

  it('restores a synced snapshot install through a crash', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    await s.append([ent(1, 1), ent(1, 2), ent(1, 3)], { term: 1, vote: 1, commit: 3 }, true);
    await s.applySnapshot(snapOf(50, 3, [1, 2, 3]));
    fs.crash();
    const r = await open(fs);
    expect(r.firstIndex()).toBe(51);
    expect(r.lastIndex()).toBe(50);
    expect(r.term(50)).toBe(3);
    expect(r.initialState().confState).toEqual(conf(1, 2, 3));
    expect(codeOf(() => r.term(3))).toBe('RAFT_ERR_COMPACTED');
    await r.append([ent(4, 51, 3)], undefined, true);
    expect(r.entries(51, 52, 1e9)[0]!.term).toBe(4);
    await r.close();
  });

  it('writes the byte layout of docs/format/raft-log.md', () => {
    expect([...entryKey(258)]).toEqual([1, 0, 0, 0, 0, 0, 0, 1, 2]);
    expect([...entryKey(2 ** 40 + 5)]).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 5]);
    expect([...encodeEntryValue({ index: 258, term: 3, type: 'normal', data: Uint8Array.of(0xaa, 0xbb) })]).toEqual([1, 3, 0xaa, 0xbb]);
    expect([...encodeEntryValue({ index: 1, term: 300, type: 'confChange', data: new Uint8Array(0) })]).toEqual([2, 0xac, 0x02]);
    expect([...encodeHardState({ term: 2, vote: 1, commit: 128 })]).toEqual([1, 2, 1, 0x80, 0x01]);
    expect([...encodeSnapshotRecord({ meta: { index: 5, term: 2, conf: { voters: [1, 2], learners: [3] } }, data: Uint8Array.of(7) })])
      .toEqual([1, 5, 2, 2, 1, 2, 1, 3, 1, 7]);
  });

  it('fails stop after a write fails: later mutations report the same error', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    await s.append([ent(1, 1)], undefined, true);
    fs.injectError('sync');
    expect(await asyncCodeOf(s.append([ent(1, 2)], undefined, true))).toBe('LSM_ERR_IO');
    expect(await asyncCodeOf(s.setHardState({ term: 1, vote: 0, commit: 1 }))).toBe('LSM_ERR_IO');
    expect(s.lastIndex()).toBe(1);
    await s.close();
  });

  it('refuses mutations after close', async () => {
    const fs = new CrashableMemFileSystem();
    const s = await open(fs);
    await s.close();
    expect(await asyncCodeOf(s.append([ent(1, 1)]))).toBe('LSM_ERR_CLOSED');
  });
});
