/**
 * The short run of the file fuzzer (test/lsm/file-fuzz.ts; the rule for what may be dropped is in its
 * header): ~50 damaged copies of a small tree (25 for a fixed seed, 25 for one from the clock), each either read exactly, or refused with a typed
 * error; every refused copy is then reported damaged by verifyTree and mended by repairTree
 * without a wrong value. LSMRAFT_SEED replays a seed; LSMRAFT_FUZZ_COPIES sets the count (`npm run fuzz:files` runs
 * 1000 and prints the same tally).
 */
import { describe, expect, it } from 'vitest';
import { seedsWithClock } from '../helpers/rng.js';
import { FAILURES, formatTally, runFileFuzz, TOOLS_FAILURES } from './file-fuzz.js';

// Per seed: a fixed seed and one from the clock, so ~50 copies a run.
const COPIES = Number(process.env.LSMRAFT_FUZZ_COPIES ?? 25);

describe('file fuzzer: a flipped byte or a truncation in any file', () => {
  for (const seed of seedsWithClock([1])) {
    it(`gives the data written or a typed error (seed ${seed})`, async () => {
      const result = await runFileFuzz({ seed, copies: COPIES });
      console.log(formatTally(result));
      const failed = result.cases.filter((c) => FAILURES.has(c.outcome));
      if (failed.length > 0) console.error(`failing seed: ${seed} (rerun with LSMRAFT_SEED=${seed})`);
      expect(failed.map((c) => `${c.damage} ${c.file} at ${c.offset}: ${c.outcome} ${c.detail}`)).toEqual([]);
      // What the tree refused, `lsmraft check` reports and `lsmraft repair` mends without wrong data.
      const toolsFailed = result.cases.filter((c) => c.tools !== undefined && TOOLS_FAILURES.has(c.tools));
      expect(toolsFailed.map((c) => `${c.damage} ${c.file} at ${c.offset}: ${c.detail}`)).toEqual([]);
      // Every kind was damaged at least once (the fuzzer must reach each).
      expect(new Set(result.cases.map((c) => c.kind)).size).toBe(5);
    }, 120_000);
  }
});
