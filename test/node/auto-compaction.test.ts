// src/node/auto-compaction.ts on its own: etcd's flag values parsed, and the compactor's decisions
// against a fake host (a shared applied state two compactors, an old and a new leader, propose to).
import { describe, expect, it } from 'vitest';
import { AutoCompactor, parseAutoCompaction, REVISION_CHECK_MS_DEFAULT, type AutoCompactorHost } from '../../src/node/auto-compaction.js';
import { MvccError } from '../../src/mvcc/errors.js';
import { NodeStoppedError, NotLeaderError } from '../../src/node/errors.js';

describe('parseAutoCompaction', () => {
  it("reads etcd's retention: a duration (bare number: hours) for periodic, a count for revision", () => {
    expect(parseAutoCompaction('periodic', '1h')).toEqual({ mode: 'periodic', retentionMs: 3_600_000, checkMs: 360_000 });
    expect(parseAutoCompaction('periodic', '2')).toEqual({ mode: 'periodic', retentionMs: 7_200_000, checkMs: 360_000 });
    expect(parseAutoCompaction('periodic', '72h')).toMatchObject({ retentionMs: 72 * 3_600_000, checkMs: 360_000 });
    expect(parseAutoCompaction('periodic', '30m')).toMatchObject({ retentionMs: 1_800_000, checkMs: 180_000 });
    expect(parseAutoCompaction('periodic', '500ms', 20)).toEqual({ mode: 'periodic', retentionMs: 500, checkMs: 20 });
    expect(parseAutoCompaction('revision', '10')).toEqual({ mode: 'revision', retentionRevisions: 10, checkMs: REVISION_CHECK_MS_DEFAULT });
    expect(parseAutoCompaction('revision', '0')).toEqual({ mode: 'off' });
    expect(parseAutoCompaction('periodic', '0')).toEqual({ mode: 'off' });
    for (const [mode, retention] of [['revision', '1h'], ['periodic', '1d'], ['periodic', ''], ['weekly', '1'], ['revision', '-3']]) {
      expect(() => parseAutoCompaction(mode!, retention!)).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    }
  });
});

/** The applied state both compactors see, and the Compacts applied to it in order, as the apply refuses them. */
class FakeCluster {
  revision = 0;
  compactRevision = 0;
  leader = 1;
  applied: number[] = [];
  fatal: unknown[] = [];

  host(id: number, apply: (rev: number) => Promise<void> = async (rev) => this.apply(rev)): AutoCompactorHost {
    return {
      isLeader: () => this.leader === id,
      currentRevision: () => this.revision,
      compactRevision: () => this.compactRevision,
      compact: apply,
      log: () => {},
      fatal: (err) => this.fatal.push(err),
    };
  }

  apply(rev: number): void {
    if (rev <= this.compactRevision) throw new MvccError('MVCC_ERR_COMPACTED', 'required revision has been compacted');
    this.compactRevision = rev;
    this.applied.push(rev);
  }
}

describe('AutoCompactor', () => {
  it('revision mode: the leader alone keeps the last N revisions, and never proposes an old target', async () => {
    const c = new FakeCluster();
    const a = new AutoCompactor({ mode: 'revision', retentionRevisions: 10, checkMs: 1000 }, c.host(1));
    const b = new AutoCompactor({ mode: 'revision', retentionRevisions: 10, checkMs: 1000 }, c.host(2));
    c.revision = 8;
    await a.check();
    expect(c.applied).toEqual([]);
    c.revision = 25;
    await a.check();
    await b.check(); // not the leader
    expect(c.applied).toEqual([15]);
    await a.check(); // nothing new to compact
    expect(c.applied).toEqual([15]);
    c.leader = 2;
    await a.check(); // deposed
    c.revision = 40;
    await b.check();
    expect(c.applied).toEqual([15, 30]);
    expect(c.fatal).toEqual([]);
  });

  it("a Compact that loses the race with a deposed leader's is ignored, and a failed proposal is retried", async () => {
    const c = new FakeCluster();
    c.revision = 50;
    // The old leader's Compact to 45 is applied while the new leader's, to 40, is in flight.
    let failNext = true;
    const b = new AutoCompactor({ mode: 'revision', retentionRevisions: 10, checkMs: 1000 }, c.host(2, async (rev) => {
      if (failNext) {
        failNext = false;
        throw new NotLeaderError('no leader', undefined);
      }
      c.apply(45);
      c.apply(rev);
    }));
    c.leader = 2;
    await b.check(); // NotLeaderError: nothing applied, no fatal
    expect(c.applied).toEqual([]);
    await b.check();
    expect(c.applied).toEqual([45]);
    expect(c.compactRevision).toBe(45);
    expect(c.fatal).toEqual([]);
  });

  it('a state being replaced by a snapshot (its revisions unreadable) skips the check without a rejection', async () => {
    const c = new FakeCluster();
    const host = c.host(1);
    host.currentRevision = () => {
      throw new NodeStoppedError('node 1: the state machine is being replaced by a snapshot; retry');
    };
    const a = new AutoCompactor({ mode: 'revision', retentionRevisions: 10, checkMs: 1000 }, host);
    await expect(a.check()).resolves.toBeUndefined();
    expect(c.applied).toEqual([]);
    expect(c.fatal).toEqual([]);
  });

  it('periodic mode: compacts to the revision sampled at least the retention ago', async () => {
    const c = new FakeCluster();
    let now = 0;
    const a = new AutoCompactor({ mode: 'periodic', retentionMs: 1000, checkMs: 100 }, c.host(1), () => now);
    for (let t = 0; t <= 2000; t += 100) {
      now = t;
      c.revision = t / 10; // 10 revisions each check
      await a.check();
      const expected = t >= 1000 ? (t - 1000) / 10 : 0;
      expect(c.compactRevision, `at ${t} ms`).toBe(expected);
    }
    expect(c.fatal).toEqual([]);
  });
});
