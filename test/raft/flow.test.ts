// Flow control pieces: Inflights (count and byte bounds), Progress state transitions, and the
// majority arithmetic of quorum.ts. After etcd-io/raft tracker/*_test.go and quorum tests.
import { describe, expect, it } from 'vitest';
import { Inflights } from '../../src/raft/inflights.js';
import { Progress } from '../../src/raft/progress.js';
import { committedIndex, voteResult } from '../../src/raft/quorum.js';

describe('Inflights', () => {
  it('is full at maxCount messages and frees up to an acknowledged index', () => {
    const inf = new Inflights(3, 0);
    inf.add(5, 10);
    inf.add(7, 10);
    inf.add(9, 10);
    expect(inf.full()).toBe(true);
    inf.freeLE(7);
    expect(inf.countInflight()).toBe(1);
    expect(inf.bytesInflight()).toBe(10);
    inf.add(10, 1);
    inf.add(11, 1);
    expect(inf.full()).toBe(true);
  });

  it('is full at maxBytes of payload', () => {
    const inf = new Inflights(100, 25);
    inf.add(1, 10);
    expect(inf.full()).toBe(false);
    inf.add(2, 15);
    expect(inf.full()).toBe(true);
    inf.freeLE(1);
    expect(inf.full()).toBe(false);
  });

  it('asserts indexes increase', () => {
    const inf = new Inflights(4, 0);
    inf.add(5, 1);
    expect(() => inf.add(5, 1)).toThrow(/not after/);
  });
});

describe('Progress', () => {
  const mk = (match: number, next: number): Progress => new Progress(match, next, false, new Inflights(4, 0));

  it('probe pauses after one send; replicate pauses when the window is full; snapshot always', () => {
    const p = mk(0, 5);
    expect(p.isPaused(0)).toBe(false);
    p.sentAppend(3, 7, 3, 0);
    expect(p.isPaused(0)).toBe(true);
    expect(p.next).toBe(5); // a probe does not move next
    p.maybeUpdate(4);
    expect(p.isPaused(0)).toBe(false);
    p.becomeReplicate();
    expect(p.next).toBe(5);
    for (let i = 5; i < 9; i++) {
      expect(p.isPaused(1)).toBe(false);
      p.sentAppend(1, i, 1, 1);
    }
    expect(p.next).toBe(9);
    expect(p.isPaused(1)).toBe(true);
    p.becomeSnapshot(20);
    expect(p.isPaused(2)).toBe(true);
    p.becomeProbe();
    expect(p.next).toBe(21);
  });

  it('a cleared pause does not let a second append of the same range into the same batch', () => {
    const p = mk(0, 5);
    p.sentAppend(1, 5, 1, 7);
    p.msgAppFlowPaused = false; // a new heartbeat interval
    expect(p.isPaused(7)).toBe(true); // the probe still waits in batch 7
    expect(p.isPaused(8)).toBe(false); // batch 7 was handed out: probe again
    p.maybeDecrTo(4, 2);
    expect(p.next).toBe(3);
    expect(p.isPaused(7)).toBe(false); // a different range
  });

  it('maybeDecrTo ignores stale rejections and backs off to the hint', () => {
    const p = mk(3, 10);
    expect(p.maybeDecrTo(5, 4)).toBe(false); // probe: only a rejection of next-1 (9) counts
    expect(p.maybeDecrTo(9, 5)).toBe(true);
    expect(p.next).toBe(6);
    const r = mk(3, 10);
    r.becomeReplicate();
    expect(r.maybeDecrTo(2, 2)).toBe(false); // already matched there
    expect(r.maybeDecrTo(8, 2)).toBe(true);
    expect(r.next).toBe(4);
  });
});

describe('quorum', () => {
  it('committedIndex is the highest index acknowledged by a majority', () => {
    const acked = new Map([[1, 9], [2, 5], [3, 7], [4, 1], [5, 7]]);
    expect(committedIndex(new Set([1, 2, 3, 4, 5]), (id) => acked.get(id)!)).toBe(7);
    expect(committedIndex(new Set([1, 2, 3, 4]), (id) => acked.get(id)!)).toBe(5);
    expect(committedIndex(new Set([4]), (id) => acked.get(id)!)).toBe(1);
  });

  it('voteResult is won at a majority, lost when a majority can no longer grant', () => {
    const voters = new Set([1, 2, 3, 4]);
    expect(voteResult(voters, new Map([[1, true], [2, true]]))).toBe('pending');
    expect(voteResult(voters, new Map([[1, true], [2, true], [3, true]]))).toBe('won');
    expect(voteResult(voters, new Map([[1, true], [2, false], [3, false]]))).toBe('lost');
    // Votes from non-voters do not count.
    expect(voteResult(new Set([1, 2, 3]), new Map([[1, true], [9, true]]))).toBe('pending');
  });
});
