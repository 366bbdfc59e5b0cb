/**
 * Teeth of the simulator: bugs injected into a copy of the Raft core or of the node's driver must
 * be caught within a bounded number of seeds. Each mutant copies src/ to .tmp/mutants/<name>/src
 * (gitignored), rewrites lines of the copy (each patch failing loudly if its line is not found
 * exactly once), imports that copy's RawNode, MemoryStorage and RaftDriver, and runs the unchanged
 * simulator with them. The production sources carry no test-only branch: the mutation points are
 * ordinary lines (listed in raft.ts's header for the core).
 */

import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeFailure, runSimulation, type SimResult } from '../../src/sim/cluster.js';
import type { InvariantName } from '../../src/sim/invariants.js';
import type { RaftCore } from '../../src/sim/node.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MUTANTS_DIR = join(ROOT, '.tmp', 'mutants');

interface Mutant {
  name: string;
  why: string;
  file: string;
  /** Each target matches exactly one whole line of code (comments excluded by the anchoring). */
  patches: Array<{ target: RegExp; replacement: string }>;
  /** Seeds tried at most (alternating 3- and 5-node clusters). */
  seedsMax: number;
  /** The invariants allowed to report this bug. */
  caughtBy: InvariantName[];
  /** Whether the simulator checks the protocol rules directly (default) or only the properties. */
  ruleChecks?: boolean;
}

const MUTANTS: Mutant[] = [
  {
    name: 'vote-not-recorded',
    why: 'granting a vote without recording it lets a node vote twice in a term',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)this\.vote = m\.from;\s*$/m, replacement: '$1// vote not recorded' }],
    seedsMax: 2000,
    caughtBy: ['election-safety', 'leader-completeness', 'state-machine-safety', 'log-matching', 'leader-append-only', 'linearizability', 'core-error'],
  },
  {
    name: 'vote-not-persisted',
    why: 'a vote left out of the hard state is forgotten by a crash, and granted again',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)return \{ term: this\.term, vote: this\.vote, commit: this\.raftLog\.committed \};\s*$/m, replacement: '$1return { term: this.term, vote: NONE, commit: this.raftLog.committed };' }],
    seedsMax: 2000,
    caughtBy: ['election-safety', 'leader-completeness', 'state-machine-safety', 'log-matching', 'leader-append-only', 'linearizability', 'core-error'],
  },
  {
    name: 'must-sync-ignores-vote',
    why: 'a Ready that changes the vote but does not ask for a sync loses the vote in a crash',
    file: 'raft/raw-node.ts',
    patches: [{ target: /^(\s*)rd\.mustSync = rd\.entries\.length > 0 \|\| hs\.vote !== this\.prevHardState\.vote \|\| hs\.term !== this\.prevHardState\.term;\s*$/m, replacement: '$1rd.mustSync = rd.entries.length > 0;' }],
    seedsMax: 2000,
    caughtBy: ['election-safety', 'leader-completeness', 'state-machine-safety', 'log-matching', 'leader-append-only', 'linearizability', 'core-error'],
  },
  {
    name: 'commit-old-term-by-counting',
    why: "counting replicas of an old term's entry commits entries a later leader may overwrite (Figure 8)",
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)const ofCurrentTerm = term === this\.term;\s*$/m, replacement: '$1const ofCurrentTerm = term > 0;' }],
    seedsMax: 2000,
    caughtBy: ['leader-commit-rule', 'leader-completeness', 'state-machine-safety', 'log-matching', 'linearizability', 'core-error'],
  },
  {
    // The same bug, but only the five safety properties are checked: the simulator must build a
    // Figure 3.7 history in which a later leader lacks the wrongly committed entry.
    name: 'commit-old-term-by-counting-consequence',
    why: 'the same bug, caught by its consequence (a later leader lacks a committed entry)',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)const ofCurrentTerm = term === this\.term;\s*$/m, replacement: '$1const ofCurrentTerm = term > 0;' }],
    seedsMax: 3000,
    caughtBy: ['leader-completeness', 'state-machine-safety', 'log-matching', 'linearizability'],
    ruleChecks: false,
  },
  {
    name: 'no-pending-conf-change-check',
    why: 'two membership changes in flight can produce disjoint majorities',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)const alreadyPending = this\.pendingConfIndex > this\.raftLog\.applied \|\| !this\.committedEntryInCurrentTerm\(\);\s*$/m, replacement: '$1const alreadyPending = false;' }],
    seedsMax: 2000,
    caughtBy: ['conf-change-one-at-a-time', 'election-safety', 'leader-completeness', 'state-machine-safety', 'log-matching', 'linearizability'],
  },
  {
    name: 'no-pending-conf-change-check-consequence',
    why: 'the same bug, caught by its consequence (two leaders, or a leader lacking committed entries)',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)const alreadyPending = this\.pendingConfIndex > this\.raftLog\.applied \|\| !this\.committedEntryInCurrentTerm\(\);\s*$/m, replacement: '$1const alreadyPending = false;' }],
    seedsMax: 3000,
    caughtBy: ['election-safety', 'leader-completeness', 'state-machine-safety', 'log-matching', 'leader-append-only', 'linearizability'],
    ruleChecks: false,
  },
  {
    name: 'vote-ignores-log',
    why: 'voting for a candidate whose log is behind elects leaders that lack committed entries',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)if \(canVote && this\.raftLog\.isUpToDate\(m\.index, m\.logTerm\)\) \{\s*$/m, replacement: '$1if (canVote) {' }],
    seedsMax: 2000,
    caughtBy: ['leader-completeness', 'state-machine-safety', 'log-matching', 'linearizability', 'core-error'],
  },
  {
    name: 'append-without-log-match',
    why: 'a follower that appends without checking the previous entry breaks log matching',
    file: 'raft/log.ts',
    patches: [{ target: /^(\s*)if \(!this\.matchTerm\(index, logTerm\)\) return undefined;\s*$/m, replacement: '$1// previous entry not checked' }],
    seedsMax: 2000,
    caughtBy: ['log-matching', 'leader-completeness', 'state-machine-safety', 'apply-order', 'linearizability', 'core-error'],
  },
  {
    name: 'read-index-without-quorum',
    why: 'a leader that answers reads without confirming it is still leader serves stale reads',
    file: 'raft/raft.ts',
    patches: [{ target: /^(\s*)if \(this\.trk\.isSingleton\(\)\) \{\s*$/m, replacement: '$1if (this.trk.voters.size > 0) {' }],
    seedsMax: 2000,
    caughtBy: ['linearizability'],
  },
  {
    name: 'driver-sends-before-persist',
    why: "a driver that sends a turn's messages before its write is durable acknowledges votes and entries a crash then loses",
    file: 'node/driver.ts',
    // Every message becomes one that may leave before the persist (earlySend), acks and votes too.
    patches: [{ target: /^(\s*)if \(m\.type === 'prop' \|\| m\.type === 'readIndex'\) return true;\s*$/m, replacement: '$1return true;' }],
    seedsMax: 3000,
    caughtBy: ['election-safety', 'leader-completeness', 'state-machine-safety', 'log-matching', 'leader-append-only', 'linearizability', 'core-error'],
  },
];

/** Copies src/ and applies the mutant's patch; returns the mutant's src directory. */
function prepareMutant(m: Mutant): string {
  const dir = join(MUTANTS_DIR, m.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'src');
  cpSync(join(ROOT, 'src'), src, { recursive: true });
  const file = join(src, m.file);
  let text = readFileSync(file, 'utf8');
  for (const { target, replacement } of m.patches) {
    const global = new RegExp(target.source, 'gm');
    const hits = text.match(global)?.length ?? 0;
    if (hits !== 1) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mutant ${m.name}: patch target ${target} found ${hits} times in src/${m.file} (expected exactly 1); the code changed, update the mutant`);
    }
    const patched = text.replace(target, replacement);
    if (patched === text) throw new Error(`mutant ${m.name}: patch did not change src/${m.file}`);
    text = patched;
  }
  writeFileSync(file, text);
  return src;
}

async function loadCore(src: string): Promise<RaftCore> {
  const rawNode = (await import(pathToFileURL(join(src, 'raft', 'raw-node.ts')).href)) as { RawNode: RaftCore['RawNode'] };
  const storage = (await import(pathToFileURL(join(src, 'raft', 'storage.ts')).href)) as { MemoryStorage: RaftCore['MemoryStorage'] };
  const driver = (await import(pathToFileURL(join(src, 'node', 'driver.ts')).href)) as { RaftDriver: RaftCore['RaftDriver'] };
  return { RawNode: rawNode.RawNode, MemoryStorage: storage.MemoryStorage, RaftDriver: driver.RaftDriver };
}

/** First failing run among seeds 1..seedsMax, or undefined. */
async function hunt(core: RaftCore, seedsMax: number, ruleChecks: boolean): Promise<{ result: SimResult | undefined; seedsRun: number }> {
  const MUTANT_SEED_BASE = 1_000_000;
  for (let i = 0; i < seedsMax; i++) {
    const seed = MUTANT_SEED_BASE + i;
    const result = await runSimulation({ seed, nodes: i % 2 === 0 ? 3 : 5, core, ruleChecks });
    if (!result.ok) return { result, seedsRun: i + 1 };
  }
  return { result: undefined, seedsRun: seedsMax };
}

describe('simulator catches injected core bugs', () => {
  for (const m of MUTANTS) {
    it(`catches ${m.name}: ${m.why}`, { timeout: 120_000 }, async () => {
      const core = await loadCore(prepareMutant(m));
      const { result, seedsRun } = await hunt(core, m.seedsMax, m.ruleChecks ?? true);
      expect(result, `mutant ${m.name} survived ${seedsRun} seeds`).toBeDefined();
      console.log(`mutant ${m.name}: caught after ${seedsRun} seeds by ${result!.failure!.invariant}: ${describeFailure(result!).split('\n')[0]!.slice(0, 300)}`);
      expect(m.caughtBy).toContain(result!.failure!.invariant);
    });
  }

  it('fails loudly when a patch target is missing', () => {
    const bogus: Mutant = { ...MUTANTS[0]!, name: 'bogus', patches: [{ target: /^\s*this is not in the core;\s*$/m, replacement: '' }] };
    expect(() => prepareMutant(bogus)).toThrow(/found 0 times/);
  });
});
