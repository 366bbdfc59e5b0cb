/**
 * The sequential specification of the replicated key-value store, as a model for the
 * linearizability checker (src/sim/linearizability.ts): put / get / delete on string keys. Keys
 * are independent, so the history is partitioned per key and each key's state is just its value
 * (or null when absent). Porcupine's kv model is the usual reference for this shape.
 */

import type { Model, Operation } from './linearizability.js';

export type KvInput =
  | { kind: 'put'; key: string; value: string }
  | { kind: 'get'; key: string }
  | { kind: 'delete'; key: string };

/** A get's output carries the value read (null: absent); a put or delete's output is just `{}`. */
export interface KvOutput {
  value?: string | null;
}

export type KvOperation = Operation<KvInput, KvOutput>;

/** The value of one key, null when the key is absent. */
export type KvState = string | null;

function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'put':
        return [true, input.value];
      case 'delete':
        return [true, null];
      case 'get':
        if (output === undefined) return [true, state];
        return [output.value === state, state];
    }
  },
  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of history) {
      let list = byKey.get(op.input.key);
      if (list === undefined) {
        list = [];
        byKey.set(op.input.key, list);
      }
      list.push(op);
    }
    return [...byKey.values()];
  },
  hash: (state) => (state === null ? 0x5bd1e995 : stringHash(state)),
  equal: (a, b) => a === b,
  describeOperation(op) {
    const i = op.input;
    const out = op.output === undefined ? '(unknown outcome)' : i.kind === 'get' ? `-> ${JSON.stringify(op.output.value)}` : 'ok';
    switch (i.kind) {
      case 'put':
        return `put(${i.key}, ${JSON.stringify(i.value)}) ${out}`;
      case 'get':
        return `get(${i.key}) ${out}`;
      case 'delete':
        return `delete(${i.key}) ${out}`;
    }
  },
};

/**
 * Drops the puts with an unknown outcome whose value no completed read returned. Sound when every
 * put writes a value no other put writes (the simulator's clients do): if such a put took effect,
 * no read saw it before the next write of its key, so leaving it out changes no read's answer;
 * and leaving it out is itself allowed (an unknown outcome may never take effect). Each one dropped
 * halves the search space of its key in the worst case.
 */
export function pruneUnobservedUnknownPuts(history: readonly KvOperation[]): KvOperation[] {
  const seen = new Set<string>();
  for (const op of history) {
    if (op.input.kind === 'get' && op.output !== undefined && typeof op.output.value === 'string') seen.add(`${op.input.key}\u0000${op.output.value}`);
  }
  return history.filter((op) => !(op.input.kind === 'put' && op.output === undefined && !seen.has(`${op.input.key}\u0000${op.input.value}`)));
}
