/**
 * Self-test of the chaos run's verdict: hand-made client histories, as the workload records them
 * (test/chaos/workload.ts), through toOperations and the per-key register checker
 * (src/sim/linearizability.ts, src/sim/kv-model.ts). Non-linearizable ones must be refused,
 * linearizable ones with unknown outcomes accepted.
 */
import { describe, expect, it } from 'vitest';
import { kvModel, pruneUnobservedUnknownPuts } from '../../src/sim/kv-model.js';
import { checkOperations } from '../../src/sim/linearizability.js';
import { staleReadWitnesses } from './witness.js';
import { OpLog, toOperations, type OpRecord } from './workload.js';

type Step =
  | { begin: string; worker: number; kind: OpRecord['kind']; key?: string; value?: string }
  | { end: string; outcome: 'ok' | 'fail' | 'unknown'; read?: string | null };

/** Plays begin/end events in order (their order is the logical clock). */
function play(steps: readonly Step[]): OpLog {
  const log = new OpLog();
  const open = new Map<string, OpRecord>();
  for (const s of steps) {
    if ('begin' in s) open.set(s.begin, log.begin(s.worker, s.kind, s.key ?? 'x', s.value));
    else log.end(open.get(s.end)!, s.outcome, s.read);
  }
  return log;
}

function verdict(steps: readonly Step[]): string {
  const log = play(steps);
  return checkOperations(kvModel, pruneUnobservedUnknownPuts(toOperations(log.records))).result;
}

const put = (name: string, worker: number, value: string): Step => ({ begin: name, worker, kind: 'put', value });
const get = (name: string, worker: number): Step => ({ begin: name, worker, kind: 'get' });
const del = (name: string, worker: number): Step => ({ begin: name, worker, kind: 'delete' });
const ok = (name: string, read?: string | null): Step => (read === undefined ? { end: name, outcome: 'ok' } : { end: name, outcome: 'ok', read });
const unknown = (name: string): Step => ({ end: name, outcome: 'unknown' });
const fail = (name: string): Step => ({ end: name, outcome: 'fail' });

describe('chaos history checker', () => {
  it('refuses a stale read', () => {
    expect(verdict([put('a', 1, 'v1'), ok('a'), put('b', 2, 'v2'), ok('b'), get('r', 3), ok('r', 'v1')])).toBe('illegal');
  });

  it('refuses a lost write', () => {
    expect(verdict([put('a', 1, 'v1'), ok('a'), get('r', 2), ok('r', null)])).toBe('illegal');
    expect(verdict([put('a', 1, 'v1'), ok('a'), del('d', 2), ok('d'), put('b', 1, 'v2'), ok('b'), get('r', 2), ok('r', 'v1')])).toBe('illegal');
  });

  it('refuses a write applied twice: an acknowledged put shows up again after a later acknowledged put', () => {
    // A's put was retried and acknowledged; B's put came after that ack and was read; then A's
    // value came back (its first attempt applied late).
    expect(
      verdict([put('a', 1, 'v1'), ok('a'), put('b', 2, 'v2'), ok('b'), get('r1', 2), ok('r1', 'v2'), get('r2', 2), ok('r2', 'v1')]),
    ).toBe('illegal');
  });

  it('names the read, the acknowledged put and the later write of a reappeared write', () => {
    const twice = play([put('a', 1, 'v1'), ok('a'), put('b', 2, 'v2'), ok('b'), get('r1', 2), ok('r1', 'v2'), get('r2', 2), ok('r2', 'v1')]);
    const w = staleReadWitnesses(twice.records);
    expect(w.map((x) => [x.read.read, x.put.value, x.overwrittenBy.value])).toEqual([['v1', 'v1', 'v2']]);
    // An unknown first put may take effect late: no witness.
    const late = play([put('a', 1, 'v1'), unknown('a'), put('b', 2, 'v2'), ok('b'), get('r', 2), ok('r', 'v1')]);
    expect(staleReadWitnesses(late.records)).toEqual([]);
  });

  it('refuses a read of a value no put wrote', () => {
    expect(verdict([put('a', 1, 'v1'), ok('a'), get('r', 2), ok('r', 'v9')])).toBe('illegal');
  });

  it('accepts a put of unknown outcome that takes effect late, even after a later write', () => {
    // Unknown outcome: it may be linearized anywhere after its call.
    expect(verdict([put('a', 1, 'v1'), unknown('a'), get('r0', 2), ok('r0', null), put('b', 2, 'v2'), ok('b'), get('r1', 2), ok('r1', 'v2'), get('r2', 3), ok('r2', 'v1')])).toBe('ok');
  });

  it('accepts a put of unknown outcome that never takes effect', () => {
    expect(verdict([put('a', 1, 'v1'), ok('a'), put('b', 2, 'v2'), unknown('b'), get('r', 3), ok('r', 'v1'), get('r2', 3), ok('r2', 'v1')])).toBe('ok');
  });

  it('accepts overlapping operations in either order and ignores certain failures and unknown reads', () => {
    expect(verdict([put('a', 1, 'v1'), get('r', 2), ok('r', null), ok('a'), get('r2', 2), ok('r2', 'v1')])).toBe('ok');
    expect(verdict([put('a', 1, 'v1'), get('r', 2), ok('a'), ok('r', 'v1')])).toBe('ok');
    expect(verdict([put('a', 1, 'v1'), fail('a'), get('r', 2), unknown('r'), get('r2', 2), ok('r2', null)])).toBe('ok');
  });

  it('keeps keys independent', () => {
    expect(verdict([{ begin: 'a', worker: 1, kind: 'put', key: 'x', value: 'v1' }, ok('a'), { begin: 'r', worker: 2, kind: 'get', key: 'y' }, ok('r', null)])).toBe('ok');
    expect(verdict([{ begin: 'a', worker: 1, kind: 'put', key: 'x', value: 'v1' }, ok('a'), { begin: 'r', worker: 2, kind: 'get', key: 'x' }, ok('r', null)])).toBe('illegal');
  });
});
