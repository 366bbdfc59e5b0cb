import { describe, expect, it } from 'vitest';
import { makeMessage, type Message } from '../../src/raft/types.js';
import { History } from '../../src/sim/history.js';
import { SimNetwork } from '../../src/sim/network.js';
import { Random } from '../../src/sim/random.js';

function msg(from: number, to: number, index: number): Message {
  return makeMessage({ type: 'app', from, to, index });
}

/** Delivers everything up to `untilStep`; returns [step, index] pairs. */
function drain(net: SimNetwork, untilStep: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s <= untilStep; s++) for (const m of net.deliverable(s)) out.push([s, m.index]);
  return out;
}

describe('SimNetwork', () => {
  it('delivers every message exactly once within the delay bound when there are no faults', () => {
    const net = new SimNetwork(new Random(1), { lossRate: 0, duplicateRate: 0, maxDelaySteps: 3, maxInFlightMessages: 1000 });
    for (let i = 0; i < 100; i++) expect(net.send(msg(1, 2, i), 0)).toBeUndefined();
    const got = drain(net, 10);
    expect(got.map(([, i]) => i).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const [step] of got) expect(step >= 1 && step <= 3).toBe(true);
    // Random delays reorder.
    expect(got.map(([, i]) => i)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(net.inFlightCount).toBe(0);
  });

  it('loses and duplicates at roughly the configured rates, deterministically per seed', () => {
    const run = (seed: number) => {
      const net = new SimNetwork(new Random(seed), { lossRate: 0.2, duplicateRate: 0.1, maxDelaySteps: 2, maxInFlightMessages: 100_000 });
      for (let i = 0; i < 10_000; i++) net.send(msg(1, 2, i), 0);
      return drain(net, 5);
    };
    const a = run(5);
    expect(run(5)).toEqual(a);
    const counts = new Map<number, number>();
    for (const [, i] of a) counts.set(i, (counts.get(i) ?? 0) + 1);
    expect(Math.abs(10_000 - counts.size - 2000)).toBeLessThan(250);
    const dups = [...counts.values()].filter((n) => n === 2).length;
    expect(Math.abs(dups - 800)).toBeLessThan(150);
  });

  it('drops across a partition, also for messages already in flight, and heals', () => {
    const net = new SimNetwork(new Random(2), { lossRate: 0, duplicateRate: 0, maxDelaySteps: 1, maxInFlightMessages: 100 });
    expect(net.send(msg(1, 2, 1), 0)).toBeUndefined();
    net.partition([[1]]);
    expect(net.describePartition()).toBe('{1}');
    expect(net.connected(2, 3)).toBe(true);
    expect(net.connected(1, 2)).toBe(false);
    expect(net.send(msg(1, 3, 2), 0)).toBe('partition');
    expect(net.deliverable(1)).toEqual([]);
    net.heal();
    expect(net.send(msg(1, 3, 3), 1)).toBeUndefined();
    expect(net.deliverable(2).map((m) => m.index)).toEqual([3]);
  });

  it('bounds the messages in flight', () => {
    const net = new SimNetwork(new Random(3), { lossRate: 0, duplicateRate: 0, maxDelaySteps: 1, maxInFlightMessages: 2 });
    expect(net.send(msg(1, 2, 1), 0)).toBeUndefined();
    expect(net.send(msg(1, 2, 2), 0)).toBeUndefined();
    expect(net.send(msg(1, 2, 3), 0)).toBe('overflow');
  });
});

describe('History', () => {
  it('stamps events with strictly increasing times and keeps unknown writes, not unknown reads', () => {
    const h = new History();
    const w = h.invoke(1, { kind: 'put', key: 'a', value: 'x' });
    const r = h.invoke(2, { kind: 'get', key: 'a' });
    h.complete(w, {});
    const w2 = h.invoke(1, { kind: 'delete', key: 'a' });
    h.timeout(r);
    const w3 = h.invoke(3, { kind: 'put', key: 'a', value: 'y' });
    h.cancel(w3);
    expect(h.isOpen(w2)).toBe(true);
    const ops = h.operations();
    expect(ops).toEqual([
      { clientId: 1, input: { kind: 'put', key: 'a', value: 'x' }, callTime: 1, returnTime: 3, output: {} },
      { clientId: 1, input: { kind: 'delete', key: 'a' }, callTime: 4, returnTime: Infinity, output: undefined },
    ]);
    expect(h.completedCount).toBe(1);
  });
});
