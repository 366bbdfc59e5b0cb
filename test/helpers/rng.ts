/** A small seeded PRNG for tests (splitmix32): the same seed replays the same run. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 0x1_0000_0000;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Seeds for a randomized test: LSMRAFT_SEED replays one; otherwise `count` seeds from `base`. */
export function testSeeds(base: number, count: number): number[] {
  const fixed = process.env.LSMRAFT_SEED;
  if (fixed !== undefined) return [Number(fixed)];
  return Array.from({ length: count }, (_, i) => base + i);
}

/**
 * mulberry32 (Tommy Ettinger's public-domain generator) as a function of no arguments, uniform in
 * [0, 1). Kept beside `Rng` because golden files and scenario tests pinned to seeds were generated
 * with it: changing the algorithm would change their data.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** xorshift32 (Marsaglia 2003): the next 32-bit word each call; seed 0 is taken as 1 (0 is a fixed point). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** xorshift32 reduced to [0, n): the generator the memtable/iterator model tests were written with. */
export function xorshiftBelow(seed: number): (n: number) => number {
  const next = xorshift32(seed);
  return (n: number) => next() % n;
}

/** Fixed seeds plus one from the clock (new ground each run); LSMRAFT_SEED replays one. */
export function seedsWithClock(fixed: readonly number[]): number[] {
  const replay = process.env.LSMRAFT_SEED;
  if (replay !== undefined) return [Number(replay)];
  return [...fixed, (Date.now() % 0x7fffffff) + 1];
}

/** Runs `body`; if it throws, prints the seed and how to replay it, then rethrows. */
export function withSeed<T>(seed: number, body: (seed: number) => T): T {
  try {
    return body(seed);
  } catch (err) {
    console.error(`failing seed: ${seed} (rerun with LSMRAFT_SEED=${seed})`);
    throw err;
  }
}
