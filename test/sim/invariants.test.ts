import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Entry, HardState } from '../../src/raft/types.js';
import { SafetyChecker, SafetyViolation, type InvariantName, type PersistEvent } from '../../src/sim/invariants.js';
import { utf8 } from '../../src/util/bytes.js';

function entry(index: number, term: number, data = `e${index}.${term}`, type: Entry['type'] = 'normal'): Entry {
  return { index, term, type, data: utf8(data) };
}

/** A node's disk and a helper that persists a batch the way the simulator's driver does. */
function disk(checker: SafetyChecker, nodeId: number) {
  const storage = new MemoryStorage();
  let commit = 0;
  return {
    storage,
    persist(entries: Entry[], opts: { hardState?: HardState; leaderTermBefore?: number; leaderTermAfter?: number; appliedIndex?: number } = {}) {
      const lastIndexBefore = storage.lastIndex();
      storage.append(entries);
      if (opts.hardState !== undefined) storage.setHardState(opts.hardState);
      const ev: PersistEvent = {
        nodeId,
        leaderTermBefore: opts.leaderTermBefore ?? 0,
        leaderTermAfter: opts.leaderTermAfter ?? 0,
        lastIndexBefore,
        appliedIndex: opts.appliedIndex ?? 0,
        entries,
        snapshot: undefined,
        hardState: opts.hardState,
        storage,
        commitBefore: commit,
      };
      checker.onPersist(ev);
      if (opts.hardState !== undefined) commit = opts.hardState.commit;
    },
  };
}

function violation(f: () => void): InvariantName | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof SafetyViolation) return e.invariant;
    throw e;
  }
  return undefined;
}

describe('SafetyChecker', () => {
  it('accepts a healthy history', () => {
    const c = new SafetyChecker();
    const a = disk(c, 1);
    const b = disk(c, 2);
    a.persist([entry(1, 1), entry(2, 1)], { hardState: { term: 1, vote: 1, commit: 0 }, leaderTermAfter: 1 });
    c.onLeader(1, 1, a.storage);
    b.persist([entry(1, 1), entry(2, 1)], { hardState: { term: 1, vote: 1, commit: 0 } });
    a.persist([entry(3, 1)], { hardState: { term: 1, vote: 1, commit: 2 }, leaderTermBefore: 1, leaderTermAfter: 1 });
    c.onApply(1, entry(1, 1));
    c.onApply(2, entry(1, 1));
    expect(c.committedCount).toBe(2);
    expect(c.leaderTerms).toBe(1);
  });

  it('catches two leaders in one term', () => {
    const c = new SafetyChecker();
    const a = disk(c, 1);
    c.onLeader(1, 3, a.storage);
    c.onLeader(1, 3, a.storage);
    expect(violation(() => c.onLeader(2, 3, a.storage))).toBe('election-safety');
  });

  it('catches a leader overwriting its own log', () => {
    const c = new SafetyChecker();
    const a = disk(c, 1);
    a.persist([entry(1, 2), entry(2, 2), entry(3, 2)], { leaderTermBefore: 2, leaderTermAfter: 2 });
    expect(violation(() => a.persist([entry(3, 2, 'other')], { leaderTermBefore: 2, leaderTermAfter: 2 }))).toBe('leader-append-only');
  });

  it('catches two logs disagreeing on an entry of the same index and term', () => {
    const c = new SafetyChecker();
    disk(c, 1).persist([entry(1, 1), entry(2, 2, 'x')]);
    expect(violation(() => disk(c, 2).persist([entry(1, 1), entry(2, 2, 'y')]))).toBe('log-matching');
  });

  it('catches equal entries preceded by different terms', () => {
    const c = new SafetyChecker();
    disk(c, 1).persist([entry(1, 1), entry(2, 3)]);
    expect(violation(() => disk(c, 2).persist([entry(1, 2), entry(2, 3)]))).toBe('log-matching');
  });

  it('catches a leader missing a committed entry', () => {
    const c = new SafetyChecker();
    const a = disk(c, 1);
    a.persist([entry(1, 1), entry(2, 2)], { hardState: { term: 2, vote: 1, commit: 2 } });
    const b = disk(c, 2);
    b.persist([entry(1, 1), entry(2, 3)], { hardState: { term: 4, vote: 2, commit: 1 } });
    expect(violation(() => c.onLeader(2, 4, b.storage))).toBe('leader-completeness');
    // A leader of the committing term itself (or older) is not held to it.
    const c2 = new SafetyChecker();
    disk(c2, 1).persist([entry(1, 1), entry(2, 2)], { hardState: { term: 2, vote: 1, commit: 2 } });
    const b2 = disk(c2, 2);
    b2.persist([entry(1, 1)]);
    c2.onLeader(2, 2, b2.storage);
  });

  it('catches a leader whose log is shorter than the committed prefix', () => {
    const c = new SafetyChecker();
    disk(c, 1).persist([entry(1, 1), entry(2, 1), entry(3, 1)], { hardState: { term: 1, vote: 1, commit: 3 } });
    const b = disk(c, 2);
    b.persist([entry(1, 1)]);
    expect(violation(() => c.onLeader(2, 2, b.storage))).toBe('leader-completeness');
  });

  it('catches two nodes applying different entries at one index', () => {
    const c = new SafetyChecker();
    c.onApply(1, entry(5, 2, 'a'));
    expect(violation(() => c.onApply(2, entry(5, 2, 'b')))).toBe('state-machine-safety');
    expect(violation(() => c.onApply(3, entry(5, 3, 'a')))).toBe('state-machine-safety');
  });

  it('catches a second conf change appended while one is pending', () => {
    const c = new SafetyChecker();
    const a = disk(c, 1);
    a.persist([entry(1, 1), entry(2, 2, 'cc1', 'confChange')], { leaderTermBefore: 2, leaderTermAfter: 2, appliedIndex: 1 });
    expect(violation(() => a.persist([entry(3, 2, 'cc2', 'confChange')], { leaderTermBefore: 2, leaderTermAfter: 2, appliedIndex: 1 }))).toBe('conf-change-one-at-a-time');
    // Once the first is applied, the next one is fine.
    const c2 = new SafetyChecker();
    const b = disk(c2, 1);
    b.persist([entry(1, 1), entry(2, 2, 'cc1', 'confChange')], { leaderTermBefore: 2, leaderTermAfter: 2, appliedIndex: 1 });
    b.persist([entry(3, 2, 'cc2', 'confChange')], { leaderTermBefore: 2, leaderTermAfter: 2, appliedIndex: 2 });
  });

  it("catches a leader committing an older term's entry by counting", () => {
    const c = new SafetyChecker();
    const a = disk(c, 1);
    a.persist([entry(1, 1), entry(2, 1)], { hardState: { term: 1, vote: 1, commit: 1 } });
    a.persist([entry(3, 3)], { hardState: { term: 3, vote: 1, commit: 1 }, leaderTermAfter: 3 });
    expect(violation(() => a.persist([], { hardState: { term: 3, vote: 1, commit: 2 }, leaderTermBefore: 3, leaderTermAfter: 3 }))).toBe('leader-commit-rule');
    a.persist([], { hardState: { term: 3, vote: 1, commit: 3 }, leaderTermBefore: 3, leaderTermAfter: 3 });
  });
});
