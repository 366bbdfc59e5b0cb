/**
 * A readable cause for a non-linearizable history: the checker (src/sim/linearizability.ts) says
 * only that a key's history has no linearization. The most common shape in a replicated register
 * is a read that returns an acknowledged write after a later write was acknowledged (a stale read,
 * or a write applied again after a retry): read r returns put P's value, P returned ok, and some
 * write W of the same key was invoked after P returned and returned before r was invoked. With
 * unique put values, each such triple alone proves the history is not linearizable.
 */
import type { OpRecord } from './workload.js';

export interface Witness {
  read: OpRecord;
  put: OpRecord;
  overwrittenBy: OpRecord;
}

/** Every read that sees an acknowledged put after a later acknowledged write (at most `max`). */
export function staleReadWitnesses(records: readonly OpRecord[], max = 20): Witness[] {
  const puts = new Map<string, OpRecord>();
  const writes = new Map<string, OpRecord[]>();
  for (const r of records) {
    if (r.kind === 'put') puts.set(`${r.key}\u0000${r.value}`, r);
    if (r.kind !== 'get' && r.outcome === 'ok') {
      const list = writes.get(r.key) ?? [];
      list.push(r);
      writes.set(r.key, list);
    }
  }
  const out: Witness[] = [];
  for (const read of records) {
    if (out.length >= max) break;
    if (read.kind !== 'get' || read.outcome !== 'ok' || typeof read.read !== 'string') continue;
    const put = puts.get(`${read.key}\u0000${read.read}`);
    if (put === undefined || put.outcome !== 'ok') continue;
    const w = (writes.get(read.key) ?? []).find((x) => x !== put && x.callSeq > put.returnSeq! && x.returnSeq! < read.callSeq);
    if (w !== undefined) out.push({ read, put, overwrittenBy: w });
  }
  return out;
}

export function describeRecord(r: OpRecord): string {
  const what = r.kind === 'put' ? `put(${r.key}, ${r.value})` : `${r.kind}(${r.key})`;
  const res = r.kind === 'get' && r.outcome === 'ok' ? ` -> ${JSON.stringify(r.read)}` : ` ${r.outcome}`;
  return `client ${r.worker} ${what}${res} [${(r.startMs / 1000).toFixed(3)}s, ${r.endMs === undefined ? '?' : `${(r.endMs / 1000).toFixed(3)}s`}]`;
}
