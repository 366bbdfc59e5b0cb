import { describe, expect, it } from 'vitest';
import { checkOperations, describeHistory, type Model } from '../../src/sim/linearizability.js';
import { kvModel, pruneUnobservedUnknownPuts, type KvInput, type KvOperation, type KvOutput } from '../../src/sim/kv-model.js';
import { Random } from '../../src/sim/random.js';

function put(clientId: number, key: string, value: string, callTime: number, returnTime: number): KvOperation {
  const known = returnTime !== Infinity;
  return { clientId, input: { kind: 'put', key, value }, callTime, returnTime, output: known ? {} : undefined };
}
function del(clientId: number, key: string, callTime: number, returnTime: number): KvOperation {
  const known = returnTime !== Infinity;
  return { clientId, input: { kind: 'delete', key }, callTime, returnTime, output: known ? {} : undefined };
}
function get(clientId: number, key: string, value: string | null | undefined, callTime: number, returnTime: number): KvOperation {
  return { clientId, input: { kind: 'get', key }, callTime, returnTime, output: value === undefined ? undefined : { value } };
}

describe('linearizability checker: small histories', () => {
  it('accepts a sequential history', () => {
    const h = [put(1, 'x', 'a', 0, 1), get(1, 'x', 'a', 2, 3), del(1, 'x', 4, 5), get(1, 'x', null, 6, 7)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('rejects a stale read after a completed write', () => {
    const h = [put(1, 'x', 'a', 0, 1), put(2, 'x', 'b', 2, 3), get(3, 'x', 'a', 4, 5)];
    const r = checkOperations(kvModel, h);
    expect(r.result).toBe('illegal');
    expect(r.illegalPartition).toHaveLength(3);
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(checkOperations(kvModel, [put(1, 'x', 'a', 0, 1), get(2, 'x', 'zz', 0, 5)]).result).toBe('illegal');
  });

  it('accepts either order of reads concurrent with a write', () => {
    const w = put(1, 'x', 'a', 0, 10);
    expect(checkOperations(kvModel, [w, get(2, 'x', null, 1, 2), get(2, 'x', 'a', 3, 4)]).result).toBe('ok');
    expect(checkOperations(kvModel, [w, get(2, 'x', 'a', 1, 2), get(3, 'x', null, 1, 4)]).result).toBe('ok');
  });

  it('rejects a read that goes back in time during a concurrent write', () => {
    // Once some read saw 'a', a later read (called after that one returned) cannot see null.
    const h = [put(1, 'x', 'a', 0, 10), get(2, 'x', 'a', 1, 2), get(3, 'x', null, 3, 4)];
    expect(checkOperations(kvModel, h).result).toBe('illegal');
  });

  it('rejects a read from the future', () => {
    const h = [get(1, 'x', 'a', 0, 1), put(2, 'x', 'a', 2, 3)];
    expect(checkOperations(kvModel, h).result).toBe('illegal');
  });

  it('treats an unknown-outcome write as possibly applied, at any later moment, or never', () => {
    const w = put(1, 'x', 'a', 0, Infinity);
    expect(checkOperations(kvModel, [w, get(2, 'x', null, 5, 6)]).result).toBe('ok');
    expect(checkOperations(kvModel, [w, get(2, 'x', 'a', 5, 6)]).result).toBe('ok');
    expect(checkOperations(kvModel, [w, get(2, 'x', null, 1, 2), get(2, 'x', 'a', 3, 4), get(2, 'x', 'a', 30, 40)]).result).toBe('ok');
    // But once seen, it stays applied.
    expect(checkOperations(kvModel, [w, get(2, 'x', 'a', 1, 2), get(2, 'x', null, 3, 4)]).result).toBe('illegal');
    // An unknown write cannot take effect before it was called.
    expect(checkOperations(kvModel, [get(2, 'x', 'a', 1, 2), put(1, 'x', 'a', 3, Infinity)]).result).toBe('illegal');
  });

  it('accepts any output of an unknown-outcome read', () => {
    const h = [put(1, 'x', 'a', 0, 1), get(2, 'x', undefined, 2, Infinity), put(1, 'x', 'b', 3, 4)];
    expect(checkOperations(kvModel, h).result).toBe('ok');
  });

  it('checks keys independently', () => {
    const h = [put(1, 'x', 'a', 0, 1), put(1, 'y', 'b', 2, 3), get(2, 'x', 'a', 4, 5), get(2, 'y', 'b', 4, 5), get(2, 'z', null, 6, 7)];
    const r = checkOperations(kvModel, h);
    expect(r.result).toBe('ok');
    expect(r.partitions).toBe(3);
    const bad = [...h, get(3, 'y', null, 8, 9)];
    const rb = checkOperations(kvModel, bad);
    expect(rb.result).toBe('illegal');
    expect(rb.illegalPartition!.every((op) => op.input.key === 'y')).toBe(true);
  });

  it('accepts a classic concurrent register history and rejects its broken twin', () => {
    // Porcupine's register example in spirit: a write concurrent with two reads that disagree.
    const ok = [put(0, 'r', '100', 0, 100), get(1, 'r', null, 25, 75), get(2, 'r', '100', 30, 60)];
    expect(checkOperations(kvModel, ok).result).toBe('ok');
    const bad = [put(0, 'r', '200', 0, 100), get(1, 'r', '200', 10, 30), get(2, 'r', null, 40, 90)];
    expect(checkOperations(kvModel, bad).result).toBe('illegal');
  });

  it("returns 'unknown' when the step budget runs out", () => {
    // Many fully concurrent writes and one impossible read: proving illegality needs a wide search.
    const h: KvOperation[] = [];
    for (let i = 0; i < 10; i++) h.push(put(i, 'x', `v${i}`, 0, 1000));
    h.push(get(99, 'x', 'never', 0, 1000));
    const r = checkOperations(kvModel, h, { maxSteps: 50 });
    expect(r.result).toBe('unknown');
    expect(r.steps).toBeLessThanOrEqual(51);
    expect(checkOperations(kvModel, h).result).toBe('illegal');
  });

  it('describes a history one operation a line', () => {
    const lines = describeHistory(kvModel, [get(2, 'x', 'a', 4, 5), put(1, 'x', 'a', 0, Infinity)]);
    expect(lines).toEqual(['client 1 [0, ?] put(x, "a") (unknown outcome)', 'client 2 [4, 5] get(x) -> "a"']);
  });

  it('works with a model without partitions (a counter)', () => {
    const counter: Model<number, 'inc' | 'read', number> = {
      init: () => 0,
      step: (s, input, out) => (input === 'inc' ? [true, s + 1] : [out === undefined || out === s, s]),
      hash: (s) => s,
      equal: (a, b) => a === b,
    };
    const op = (c: number, input: 'inc' | 'read', out: number | undefined, t0: number, t1: number) => ({ clientId: c, input, output: out, callTime: t0, returnTime: t1 });
    expect(checkOperations(counter, [op(1, 'inc', 0, 0, 5), op(2, 'inc', 0, 1, 6), op(3, 'read', 1, 2, 3)]).result).toBe('ok');
    expect(checkOperations(counter, [op(1, 'inc', 0, 0, 1), op(2, 'inc', 0, 2, 3), op(3, 'read', 1, 4, 5)]).result).toBe('illegal');
  });
});

interface Generated {
  history: KvOperation[];
  /** Linearization point of each operation (index-aligned with history), or -1 if never applied. */
  points: number[];
}

/**
 * A history produced by an actually-linearizable execution: every operation gets a distinct
 * linearization point, outputs come from running the ops in point order, and each operation's
 * interval is stretched randomly around its point. Some writes and reads have unknown outcomes;
 * an unknown write takes effect at its point or never.
 */
function generate(rng: Random, opCount: number, keyCount: number): Generated {
  const keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
  const pointsOrder = Array.from({ length: opCount }, (_, i) => i * 10 + 5);
  const state = new Map<string, string | null>();
  const history: KvOperation[] = [];
  const points: number[] = [];
  for (let i = 0; i < opCount; i++) {
    const key = rng.pick(keys);
    const point = pointsOrder[i]!;
    const callTime = point - rng.int(40) - 1;
    const unknown = rng.chance(0.1);
    const returnTime = unknown ? Infinity : point + rng.int(40) + 1;
    const r = rng.next();
    const clientId = i;
    let input: KvInput;
    let output: KvOutput | undefined;
    const applies = !unknown || rng.chance(0.5);
    if (r < 0.4) {
      input = { kind: 'put', key, value: `v${i}` };
      if (applies) state.set(key, `v${i}`);
      output = unknown ? undefined : {};
    } else if (r < 0.5) {
      input = { kind: 'delete', key };
      if (applies) state.set(key, null);
      output = unknown ? undefined : {};
    } else {
      input = { kind: 'get', key };
      output = unknown ? undefined : { value: state.get(key) ?? null };
    }
    history.push({ clientId, input, callTime, returnTime, output });
    points.push(applies ? point : -1);
  }
  return { history, points };
}

describe('linearizability checker: randomized', () => {
  it('accepts every history of a linearizable execution and rejects detectable stale reads', () => {
    const baseSeed = 0x5eed_0001;
    let mutatedChecked = 0;
    for (let iter = 0; iter < 300; iter++) {
      const seed = baseSeed + iter;
      const rng = new Random(seed);
      const { history } = generate(rng, rng.range(5, 40), rng.range(1, 3));
      const report = checkOperations(kvModel, history, { maxSteps: 2_000_000 });
      expect(report.result, `seed ${seed}`).toBe('ok');

      // Mutation: a known read returns a value that was certainly overwritten before the read was
      // called: its (unique) writer P returned before some known write Q on the same key was
      // called, and Q returned before the read was called.
      const reads = history.filter((op) => op.input.kind === 'get' && op.output !== undefined);
      if (reads.length === 0) continue;
      const g = rng.pick(reads);
      const sameKey = history.filter((op) => op.input.key === g.input.key && op.input.kind !== 'get');
      const stale = sameKey.find((p) => p.input.kind === 'put' && sameKey.some((q) => q !== p && q.output !== undefined && p.returnTime < q.callTime && q.returnTime < g.callTime));
      if (stale === undefined || stale.input.kind !== 'put') continue;
      if (g.output!.value === stale.input.value) continue;
      const mutated = history.map((op) => (op === g ? { ...op, output: { value: stale.input.kind === 'put' ? stale.input.value : null } } : op));
      const r2 = checkOperations(kvModel, mutated, { maxSteps: 2_000_000 });
      expect(r2.result, `seed ${seed} (mutated)\n${describeHistory(kvModel, r2.illegalPartition ?? []).join('\n')}`).toBe('illegal');
      mutatedChecked++;
    }
    // The generator must actually produce detectable mutations, or this test proves nothing.
    expect(mutatedChecked).toBeGreaterThan(30);
  });

  it('rejects a read of a never-written value in any generated history', () => {
    for (let iter = 0; iter < 100; iter++) {
      const seed = 0x5eed_1000 + iter;
      const rng = new Random(seed);
      const { history } = generate(rng, rng.range(3, 30), 2);
      const reads = history.filter((op) => op.input.kind === 'get' && op.output !== undefined);
      if (reads.length === 0) continue;
      const g = rng.pick(reads);
      const mutated = history.map((op) => (op === g ? { ...op, output: { value: 'never-written' } } : op));
      expect(checkOperations(kvModel, mutated).result, `seed ${seed}`).toBe('illegal');
    }
  });
});

describe('pruneUnobservedUnknownPuts', () => {
  it('drops exactly the unknown puts no read saw', () => {
    const h = [put(1, 'x', 'a', 0, Infinity), put(2, 'x', 'b', 0, Infinity), put(3, 'y', 'a', 0, Infinity), put(4, 'x', 'c', 0, 1), get(5, 'x', 'a', 2, 3)];
    expect(pruneUnobservedUnknownPuts(h)).toEqual([h[0], h[3], h[4]]);
  });

  it('never changes the verdict on generated histories, legal or mutated', () => {
    let illegal = 0;
    for (let iter = 0; iter < 200; iter++) {
      const seed = 0x5eed_2000 + iter;
      const rng = new Random(seed);
      const { history } = generate(rng, rng.range(5, 30), rng.range(1, 2));
      const reads = history.filter((op) => op.input.kind === 'get' && op.output !== undefined);
      const variants = [history];
      if (reads.length > 0) {
        // A read that returns some other put's value: sometimes legal, sometimes not.
        const g = rng.pick(reads);
        const puts = history.filter((op) => op.input.kind === 'put' && op.input.key === g.input.key);
        if (puts.length > 0) {
          const p = rng.pick(puts);
          if (p.input.kind === 'put') {
            const value = p.input.value;
            variants.push(history.map((op) => (op === g ? { ...op, output: { value } } : op)));
          }
        }
      }
      for (const v of variants) {
        const full = checkOperations(kvModel, v).result;
        const pruned = checkOperations(kvModel, pruneUnobservedUnknownPuts(v)).result;
        expect(pruned, `seed ${seed}`).toBe(full);
        if (full === 'illegal') illegal++;
      }
    }
    expect(illegal).toBeGreaterThan(10);
  });
});

describe('Random', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    const sb = Array.from({ length: 8 }, () => b.nextU32());
    const sc = Array.from({ length: 8 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('is roughly uniform', () => {
    const r = new Random(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});
