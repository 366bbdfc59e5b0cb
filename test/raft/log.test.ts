// RaftLog and Unstable (after etcd-io/raft log_test.go): append/conflict rules, findConflictByTerm,
// the committed/applied invariants, and slicing across storage and unstable entries.
import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/raft/log.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Entry } from '../../src/raft/types.js';

const ent = (term: number, index: number): Entry => ({ term, index, type: 'normal', data: new Uint8Array(0) });
const terms = (es: Entry[] | undefined): string => (es ?? []).map((e) => `${e.term}/${e.index}`).join(' ');

function logWith(stored: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryStorage();
  s.applySnapshot({ meta: { index: 1, term: 1, conf: { voters: [1], learners: [] } }, data: new Uint8Array(0) });
  s.append(stored);
  const log = new RaftLog(s, Number.MAX_SAFE_INTEGER);
  log.append(unstable);
  return log;
}

describe('RaftLog', () => {
  it('findConflict returns the first entry that is missing or has another term', () => {
    const log = logWith([ent(1, 2), ent(2, 3), ent(3, 4)]);
    expect(log.findConflict([ent(1, 2), ent(2, 3)])).toBe(0);
    expect(log.findConflict([ent(2, 3), ent(4, 4)])).toBe(4);
    expect(log.findConflict([ent(3, 4), ent(3, 5)])).toBe(5);
  });

  it('findConflictByTerm skips back over every entry with a higher term', () => {
    // Terms by index: 1:1 2:1 3:3 4:3 5:3 6:5
    const log = logWith([ent(1, 2), ent(3, 3), ent(3, 4), ent(3, 5), ent(5, 6)]);
    expect(log.findConflictByTerm(6, 4)).toBe(5);
    expect(log.findConflictByTerm(6, 2)).toBe(2);
    // It never goes below the snapshot index (1): everything up to it is committed everywhere.
    expect(log.findConflictByTerm(6, 0)).toBe(1);
    expect(log.findConflictByTerm(9, 5)).toBe(6);
  });

  it('maybeAppend truncates an uncommitted conflicting suffix and commits up to the last new entry', () => {
    const log = logWith([ent(1, 2), ent(2, 3), ent(2, 4)]);
    expect(log.maybeAppend(2, 1, 9, [ent(3, 3)])).toBe(3);
    expect(terms(log.entries(2, Number.MAX_SAFE_INTEGER))).toBe('1/2 3/3');
    expect(log.committed).toBe(3);
    expect(log.maybeAppend(3, 9, 9, [ent(3, 4)])).toBeUndefined();
  });

  it('refuses (asserts) to overwrite a committed entry', () => {
    const log = logWith([ent(1, 2), ent(2, 3)]);
    log.commitTo(3);
    expect(() => log.maybeAppend(2, 1, 3, [ent(3, 3)])).toThrow(/conflicts with committed/);
  });

  it('keeps applied <= committed <= lastIndex', () => {
    const log = logWith([ent(1, 2)]);
    expect(() => log.commitTo(3)).toThrow(/out of range/);
    log.commitTo(2);
    expect(() => log.appliedTo(3)).toThrow(/out of range/);
    log.appliedTo(2);
    expect(log.applied).toBe(2);
  });

  it('slices across stored and unstable entries, and reports compacted ranges', () => {
    const log = logWith([ent(1, 2), ent(1, 3)], [ent(2, 4), ent(2, 5)]);
    expect(terms(log.slice(3, 6, Number.MAX_SAFE_INTEGER))).toBe('1/3 2/4 2/5');
    expect(log.slice(1, 3, Number.MAX_SAFE_INTEGER)).toBeUndefined();
    expect(log.term(1)).toBe(1);
    expect(log.term(0)).toBeUndefined();
    expect(log.term(6)).toBeUndefined();
  });

  it('nextEnts hands out committed, unapplied entries once', () => {
    const log = logWith([ent(1, 2), ent(1, 3)], [ent(2, 4)]);
    log.commitTo(4);
    expect(terms(log.nextEnts())).toBe('1/2 1/3 2/4');
    log.appliedTo(4);
    expect(log.nextEnts()).toEqual([]);
    expect(log.hasNextEnts()).toBe(false);
  });

  it('isUpToDate compares last term first, then last index (§5.4.1)', () => {
    const log = logWith([ent(2, 2), ent(3, 3)]);
    expect(log.isUpToDate(2, 4)).toBe(true);
    expect(log.isUpToDate(9, 2)).toBe(false);
    expect(log.isUpToDate(3, 3)).toBe(true);
    expect(log.isUpToDate(2, 3)).toBe(false);
  });

  it('stableTo ignores an acknowledgement for entries that were replaced meanwhile', () => {
    const log = logWith([], [ent(2, 2), ent(2, 3)]);
    log.append([ent(3, 3)]);
    log.stableTo(3, 2);
    expect(terms(log.unstableEntries())).toBe('2/2 3/3');
    log.stableTo(3, 3);
    expect(log.unstableEntries()).toEqual([]);
  });
});
