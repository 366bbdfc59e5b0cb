/**
 * A linearizability checker: Wing & Gong's search with Lowe's memoization ("Testing for
 * linearizability", Gavin Lowe, 2017), in the shape Porcupine (anishathalye/porcupine) made
 * popular. Written here from those descriptions.
 *
 * A history is a set of operations, each with a call time and a return time. It is linearizable if
 * some total order of the operations (a) respects real time: an operation that returned before
 * another was called comes first, and (b) is a legal sequential run of the model. The search walks
 * a doubly linked list of call and return events sorted by time. At a call event it tries to
 * linearize that operation now (the model accepts it from the current state); on success the
 * operation's call and return are "lifted" out of the list and the search restarts from the head.
 * Reaching a return event means its operation should already have been linearized: backtrack by
 * popping the last choice, unlifting it and trying the next call. A cache of (set of linearized
 * operations, model state) pairs already explored prunes the search: reaching the same pair twice
 * cannot lead anywhere new.
 *
 * Unknown outcomes: an operation whose client gave up (timeout, crash) has `returnTime = Infinity`
 * and `output = undefined`. Its return event sits after every known event, so it may be linearized
 * anywhere after its call, including after everything else, which is the same as "never took
 * effect"; the model must accept any output for it.
 *
 * Partitioning (P-compositionality): when the model is a map of independent keys, each key's
 * sub-history is checked alone, which is exponentially cheaper.
 */

import { assert } from '../util/assert.js';

export interface Operation<I, O> {
  clientId: number;
  input: I;
  /** When the client invoked the operation. Times are comparable numbers; distinct times are best. */
  callTime: number;
  /** When the client saw the result; Infinity when the outcome is unknown. */
  returnTime: number;
  /** The result; undefined exactly when the outcome is unknown. */
  output: O | undefined;
}

export interface Model<S, I, O> {
  init(): S;
  /**
   * Applies `input` to `state`. Returns whether `output` is what the sequential specification
   * produces, and the next state. `output === undefined` (unknown outcome) must be accepted.
   * Must not mutate `state`.
   */
  step(state: S, input: I, output: O | undefined): [boolean, S];
  /** Splits a history into independently checkable sub-histories (default: one partition). */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  describeOperation?(op: Operation<I, O>): string;
}

export type CheckResult = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /** Upper bound on search steps over all partitions; 'unknown' when exceeded. Default 5,000,000. */
  maxSteps?: number;
  /** Upper bound on wall time; 'unknown' when exceeded. Default: no time bound. */
  timeoutMs?: number;
}

export interface CheckReport<I, O> {
  result: CheckResult;
  /** Search steps taken (call events tried plus backtracks), over all partitions. */
  steps: number;
  partitions: number;
  /** For 'illegal': the sub-history that has no linearization. */
  illegalPartition?: Operation<I, O>[];
  /** For 'illegal': the most operations of that partition any explored order linearized. */
  longestLinearizedPrefix?: number;
}

const DEFAULT_MAX_STEPS = 5_000_000;
/** How often (in steps) the wall clock is read when a time bound is set. */
const CLOCK_CHECK_INTERVAL_STEPS = 1024;

interface EventNode<I, O> {
  /** Operation index within the partition. */
  opIndex: number;
  /** For a call event: its return event. Undefined for return events (and the head). */
  match: EventNode<I, O> | undefined;
  input: I | undefined;
  output: O | undefined;
  prev: EventNode<I, O> | undefined;
  next: EventNode<I, O> | undefined;
}

/** A fixed-size bitset over operation indexes, hashable, used as the cache key. */
class Bitset {
  readonly words: Uint32Array;
  constructor(bits: number, words?: Uint32Array) {
    this.words = words ?? new Uint32Array(Math.ceil(bits / 32));
  }
  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }
  clone(): Bitset {
    return new Bitset(0, this.words.slice());
  }
  count(): number {
    let n = 0;
    for (let w of this.words) {
      for (; w !== 0; n++) w &= w - 1;
    }
    return n;
  }
  hash(): number {
    let h = 0x811c9dc5;
    for (const w of this.words) h = Math.imul(h ^ w, 0x01000193);
    return h >>> 0;
  }
  equals(other: Bitset): boolean {
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
}

/**
 * Builds the event list of one partition: calls and returns sorted by time, a call before a return
 * at equal times (so equal-time operations count as concurrent, the lenient reading). Returns the
 * head sentinel.
 */
function buildEventList<I, O>(ops: readonly Operation<I, O>[]): EventNode<I, O> {
  let lastKnownTime = -Infinity;
  for (const op of ops) {
    assert(op.callTime <= op.returnTime, () => `operation returns (${op.returnTime}) before its call (${op.callTime})`);
    assert(Number.isFinite(op.callTime), 'operation call time must be finite');
    assert((op.returnTime === Infinity) === (op.output === undefined), 'unknown outcome <=> returnTime Infinity');
    if (op.callTime > lastKnownTime) lastKnownTime = op.callTime;
    if (op.returnTime !== Infinity && op.returnTime > lastKnownTime) lastKnownTime = op.returnTime;
  }
  const endTime = lastKnownTime + 1;
  type Raw = { time: number; isCall: boolean; node: EventNode<I, O> };
  const raws: Raw[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const ret: EventNode<I, O> = { opIndex: i, match: undefined, input: undefined, output: op.output, prev: undefined, next: undefined };
    const call: EventNode<I, O> = { opIndex: i, match: ret, input: op.input, output: undefined, prev: undefined, next: undefined };
    raws.push({ time: op.callTime, isCall: true, node: call });
    raws.push({ time: op.returnTime === Infinity ? endTime : op.returnTime, isCall: false, node: ret });
  }
  raws.sort((a, b) => {
    if (a.time !== b.time) return a.time - b.time;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.node.opIndex - b.node.opIndex;
  });
  const head: EventNode<I, O> = { opIndex: -1, match: undefined, input: undefined, output: undefined, prev: undefined, next: undefined };
  let tail = head;
  for (const r of raws) {
    r.node.prev = tail;
    tail.next = r.node;
    tail = r.node;
  }
  return head;
}

/** Removes a call event and its return event from the list. */
function lift<I, O>(call: EventNode<I, O>): void {
  const ret = call.match!;
  call.prev!.next = call.next;
  call.next!.prev = call.prev; // a call always has a later return, so next exists
  ret.prev!.next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

/** Undoes lift(call); must be applied in the reverse order of lifts. */
function unlift<I, O>(call: EventNode<I, O>): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  call.prev!.next = call;
  call.next!.prev = call;
}

interface Budget {
  stepsLeft: number;
  stepsTaken: number;
  deadlineMs: number;
  exhausted: boolean;
}

function spend(budget: Budget): boolean {
  budget.stepsTaken++;
  budget.stepsLeft--;
  if (budget.stepsLeft < 0) {
    budget.exhausted = true;
    return false;
  }
  if (budget.deadlineMs !== Infinity && budget.stepsTaken % CLOCK_CHECK_INTERVAL_STEPS === 0 && performance.now() > budget.deadlineMs) {
    budget.exhausted = true;
    return false;
  }
  return true;
}

type PartitionResult = { result: CheckResult; longest: number };

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], budget: Budget): PartitionResult {
  const head = buildEventList(ops);
  const linearized = new Bitset(ops.length);
  const cache = new Map<number, Array<{ bits: Bitset; state: S }>>();
  const stack: Array<{ call: EventNode<I, O>; state: S }> = [];
  let state = model.init();
  let entry = head.next;
  let longest = 0;
  // Each iteration either lifts an operation, advances along the list, or pops the stack; the
  // budget bounds the total, and the cache bounds it in the abstract (finitely many pairs).
  while (head.next !== undefined) {
    if (!spend(budget)) return { result: 'unknown', longest };
    assert(entry !== undefined, 'search ran off the end of the event list');
    if (entry.match !== undefined) {
      const [ok, nextState] = model.step(state, entry.input as I, entry.match.output);
      let advanced = false;
      if (ok) {
        const bits = linearized.clone();
        bits.set(entry.opIndex);
        const key = (bits.hash() ^ Math.imul(model.hash(nextState), 0x9e3779b1)) >>> 0;
        let bucket = cache.get(key);
        const seen = bucket !== undefined && bucket.some((c) => c.bits.equals(bits) && model.equal(c.state, nextState));
        if (!seen) {
          if (bucket === undefined) {
            bucket = [];
            cache.set(key, bucket);
          }
          bucket.push({ bits, state: nextState });
          stack.push({ call: entry, state });
          state = nextState;
          linearized.set(entry.opIndex);
          if (stack.length > longest) longest = stack.length;
          lift(entry);
          entry = head.next;
          advanced = true;
        }
      }
      if (!advanced) entry = entry.next;
    } else {
      // A return event whose operation is not linearized yet: this branch is dead.
      const top = stack.pop();
      if (top === undefined) return { result: 'illegal', longest };
      state = top.state;
      linearized.clear(top.call.opIndex);
      unlift(top.call);
      entry = top.call.next;
    }
  }
  assert(linearized.count() === ops.length, 'search ended without linearizing every operation');
  return { result: 'ok', longest };
}

/**
 * Checks that `history` is linearizable with respect to `model`. Partitions are checked one after
 * another; the first illegal one decides the answer; 'unknown' means the budget ran out before any
 * partition proved illegal.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckReport<I, O> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  assert(maxSteps > 0, 'maxSteps must be positive');
  const budget: Budget = {
    stepsLeft: maxSteps,
    stepsTaken: 0,
    deadlineMs: options.timeoutMs === undefined ? Infinity : performance.now() + options.timeoutMs,
    exhausted: false,
  };
  const partitions = model.partition !== undefined ? model.partition(history) : [history.slice()];
  let sawUnknown = false;
  for (const part of partitions) {
    if (part.length === 0) continue;
    const r = checkPartition(model, part, budget);
    if (r.result === 'illegal') {
      return { result: 'illegal', steps: budget.stepsTaken, partitions: partitions.length, illegalPartition: part, longestLinearizedPrefix: r.longest };
    }
    if (r.result === 'unknown') {
      sawUnknown = true;
      break;
    }
  }
  return { result: sawUnknown ? 'unknown' : 'ok', steps: budget.stepsTaken, partitions: partitions.length };
}

/** Human-readable lines of a history, one operation a line, in call order (for failure reports). */
export function describeHistory<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]): string[] {
  const sorted = ops.slice().sort((a, b) => a.callTime - b.callTime);
  return sorted.map((op) => {
    const what = model.describeOperation !== undefined ? model.describeOperation(op) : `${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`;
    const ret = op.returnTime === Infinity ? '?' : String(op.returnTime);
    return `client ${op.clientId} [${op.callTime}, ${ret}] ${what}`;
  });
}
