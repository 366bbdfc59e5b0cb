import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/storage.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { describeFailure } from '../../src/sim/cluster.js';
import type { RaftCore } from '../../src/sim/node.js';
import { sweep } from './sweep.js';

const core: RaftCore = { RawNode, MemoryStorage };

describe('raft simulator (5 nodes)', () => {
  for (let chunk = 0; chunk < 5; chunk++) {
    const first = 100_001 + chunk * 1000;
    it(`holds every safety property and linearizability for seeds ${first}..${first + 999}`, () => {
      const s = sweep(core, 5, first, 1000);
      expect(s.failure, s.failure === undefined ? '' : describeFailure(s.failure)).toBeUndefined();
      console.log(`5 nodes, seeds ${first}..${first + 999}: ${s.summary}`);
      // The runs must actually exercise the cluster, or passing means nothing.
      expect(s.opsCompleted).toBeGreaterThan(1000 * 30);
      expect(s.leaderTerms).toBeGreaterThan(1000 * 2);
      expect(s.crashes).toBeGreaterThan(100);
      expect(s.snapshots).toBeGreaterThan(100);
      expect(s.snapshotsInstalled).toBeGreaterThan(100);
      expect(s.confChanges).toBeGreaterThan(100);
      expect(s.unknownHistories).toBeLessThan(10);
    }, 180_000);
  }
});
