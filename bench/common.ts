/**
 * What the benchmarks share: deterministic inputs, so two runs (or two stores in one run) measure
 * the same work. The generators and the run packer are the tests' own (test/helpers), one copy each.
 */
import { xorshift32 } from '../test/helpers/rng.js';

export { xorshift32 } from '../test/helpers/rng.js';
export { sortedRun } from '../test/helpers/runs.js';

/** xorshift32 over [0, n): the same index sequence for every run and every store given the seed. */
export function indexStream(seed: number, n: number): () => number {
  const next = xorshift32(seed);
  return () => next() % n;
}

/** A value of `bytes` bytes, "abc…z" repeated: the same bytes in every run. */
export function alphabetValue(bytes: number): Uint8Array {
  return new Uint8Array(bytes).map((_, i) => 97 + (i % 26));
}
