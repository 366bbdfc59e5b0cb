import { describe, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/storage.js';
import { RaftDriver } from '../../src/node/driver.js';
import { RawNode } from '../../src/raft/raw-node.js';
import type { RaftCore } from '../../src/sim/node.js';
import { expectSweepPasses } from './sweep.js';

const core: RaftCore = { RawNode, MemoryStorage, RaftDriver };

describe('raft simulator (5 nodes)', () => {
  for (let chunk = 0; chunk < 5; chunk++) {
    const first = 100_001 + chunk * 1000;
    it(`holds every safety property and linearizability for seeds ${first}..${first + 999}`, async () => {
      await expectSweepPasses(core, 5, first, 1000);
    }, 180_000);
  }
});
