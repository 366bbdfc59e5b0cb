// MemoryStorage: the Storage contract the core relies on (after etcd-io/raft storage_test.go).
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Entry } from '../../src/raft/types.js';
import { errorCodeOf } from '../helpers/expect.js';

const ent = (term: number, index: number, bytes = 0): Entry => ({ term, index, type: 'normal', data: new Uint8Array(bytes) });

function storageWith(snapIndex: number, snapTerm: number, ents: Entry[]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ meta: { index: snapIndex, term: snapTerm, conf: { voters: [1], learners: [] } }, data: new Uint8Array(0) });
  s.append(ents);
  return s;
}

describe('MemoryStorage', () => {
  it('answers term() from the snapshot index to the last index, with typed errors outside', () => {
    const s = storageWith(3, 3, [ent(4, 4), ent(5, 5)]);
    expect(s.firstIndex()).toBe(4);
    expect(s.lastIndex()).toBe(5);
    expect(s.term(3)).toBe(3);
    expect(s.term(5)).toBe(5);
    expect(errorCodeOf(() => s.term(2))).toBe('RAFT_ERR_COMPACTED');
    expect(errorCodeOf(() => s.term(6))).toBe('RAFT_ERR_UNAVAILABLE');
  });

  it('returns entries [lo,hi) limited by bytes but always at least one', () => {
    const s = storageWith(3, 3, [ent(4, 4, 10), ent(5, 5, 10), ent(5, 6, 10)]);
    expect(s.entries(4, 7, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([4, 5, 6]);
    // Each entry counts 16 bytes of header plus its payload: two fit in 52 bytes, one in 30.
    expect(s.entries(4, 7, 52).map((e) => e.index)).toEqual([4, 5]);
    expect(s.entries(4, 7, 1).map((e) => e.index)).toEqual([4]);
    expect(errorCodeOf(() => s.entries(3, 5, 100))).toBe('RAFT_ERR_COMPACTED');
    expect(errorCodeOf(() => s.entries(4, 8, 100))).toBe('RAFT_ERR_UNAVAILABLE');
  });

  it('append truncates a conflicting suffix and skips compacted entries', () => {
    const s = storageWith(3, 3, [ent(4, 4), ent(4, 5), ent(4, 6)]);
    s.append([ent(5, 5)]);
    expect(s.lastIndex()).toBe(5);
    expect(s.term(5)).toBe(5);
    s.append([ent(3, 2), ent(3, 3), ent(4, 4), ent(5, 5), ent(5, 6)]);
    expect(s.firstIndex()).toBe(4);
    expect(s.lastIndex()).toBe(6);
    expect(s.term(6)).toBe(5);
  });

  it('compact keeps the term of the compaction point and refuses to go backwards', () => {
    const s = storageWith(3, 3, [ent(4, 4), ent(5, 5), ent(5, 6)]);
    s.compact(5);
    expect(s.firstIndex()).toBe(6);
    expect(s.term(5)).toBe(5);
    expect(errorCodeOf(() => s.compact(4))).toBe('RAFT_ERR_COMPACTED');
  });

  it('createSnapshot takes the term of its index; an older snapshot is refused', () => {
    const s = storageWith(3, 3, [ent(4, 4), ent(5, 5)]);
    const snap = s.createSnapshot(5, { voters: [1, 2], learners: [3] }, new Uint8Array([7]));
    expect(snap.meta).toEqual({ index: 5, term: 5, conf: { voters: [1, 2], learners: [3] } });
    expect(errorCodeOf(() => s.createSnapshot(4, { voters: [1], learners: [] }, new Uint8Array(0)))).toBe('RAFT_ERR_SNAPSHOT_OUT_OF_DATE');
    expect(errorCodeOf(() => s.applySnapshot({ meta: { index: 2, term: 2, conf: { voters: [1], learners: [] } }, data: new Uint8Array(0) }))).toBe('RAFT_ERR_SNAPSHOT_OUT_OF_DATE');
  });

  it('initialState returns the hard state and the latest recorded configuration', () => {
    const s = storageWith(3, 3, []);
    s.setHardState({ term: 4, vote: 2, commit: 3 });
    expect(s.initialState()).toEqual({ hardState: { term: 4, vote: 2, commit: 3 }, confState: { voters: [1], learners: [] } });
    s.setConfState({ voters: [1, 2], learners: [] });
    expect(s.initialState().confState).toEqual({ voters: [1, 2], learners: [] });
  });
});
