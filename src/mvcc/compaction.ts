/**
 * Physical compaction of the MVCC history, in bounded steps. A Compact at revision C takes effect
 * for reads at once (the compact revision: reads below it fail); removing what it made unreachable
 * is done a step at a time, one step after each applied MVCC write (and one with the Compact
 * itself), each reading at most COMPACT_RECORDS_PER_STEP records, so no apply batch grows with the
 * size of the history. Where it stands (the target revision and a cursor key) is in the store's
 * meta record, written in the same batch, so replicas and a replica re-applying after a crash take
 * the same steps at the same log positions.
 *
 * The rule (etcd's mvcc/kvstore_compaction.go with key_index.go's compact): per key, every history
 * record below the key's last record at or below C goes, and that record too when it is a
 * tombstone; then every event index record below C. Records left behind while steps remain are
 * invisible: reads at or above C take each key's last record at or below their revision, which the
 * rule keeps, and event reads start at C.
 *
 * What must hold: a step only deletes; a key's kept record at or below C survives every step (the
 * step resuming inside a key's records finds it by looking one record back).
 */
import { compareBytes } from '../util/bytes.js';
import { EVENT_START, HISTORY_END, decodeHistoryKey, eventKey, historyKey, historyPrefix } from './keys.js';
import { decodeHistoryRecord, type PhysicalCompaction } from './records.js';
import type { StateView } from './state-view.js';

/** Records one step reads at most (and so deletes at most). */
export const COMPACT_RECORDS_PER_STEP = 10_000;


/** One step; returns the work left, or undefined when done. */
export function compactStep(view: StateView, work: PhysicalCompaction, recordsMax = COMPACT_RECORDS_PER_STEP): PhysicalCompaction | undefined {
  const budget = { left: recordsMax };
  let cursor = work.cursor;
  if (cursor[0] !== EVENT_START[0]) {
    const next = historyStep(view, work.revision, cursor, budget);
    if (next !== undefined) return { revision: work.revision, cursor: next };
    cursor = EVENT_START;
  }
  const next = eventStep(view, work.revision, cursor, budget);
  return next === undefined ? undefined : { revision: work.revision, cursor: next };
}

/** Compacts history records from `cursor` on; returns where to go on, or undefined at the end. */
function historyStep(view: StateView, c: number, cursor: Uint8Array, budget: { left: number }): Uint8Array | undefined {
  const doomed: Uint8Array[] = [];
  let current: Uint8Array | undefined;
  let keep: { treeKey: Uint8Array; live: boolean } | undefined;
  let next: Uint8Array | undefined;
  /** The key's records are all seen: its kept record goes too if it is a tombstone. */
  const closeKey = (): void => {
    if (keep !== undefined && !keep.live) doomed.push(keep.treeKey);
    keep = undefined;
  };
  view.scan(cursor, HISTORY_END, (k, v) => {
    const h = decodeHistoryKey(k);
    const newKey = current === undefined || compareBytes(h.key, current) !== 0;
    if (budget.left <= 0) {
      // Out of budget: a key whose records all were seen is decided now; one cut in the middle of
      // its records is decided by the next step (previousRecord finds its candidate).
      if (newKey) closeKey();
      next = k.slice();
      return false;
    }
    budget.left--;
    if (newKey) {
      closeKey();
      current = h.key;
      if (compareBytes(k, cursor) === 0) keep = previousRecord(view, h.key, k, c);
    }
    if (h.revision > c) return true;
    if (keep !== undefined) doomed.push(keep.treeKey);
    keep = { treeKey: k.slice(), live: decodeHistoryRecord(v).live };
    return true;
  });
  if (next === undefined) closeKey();
  for (const k of doomed) view.del(k);
  return next;
}

/** Deletes event index records below revision c from `cursor` on; returns where to go on, or undefined when done. */
function eventStep(view: StateView, c: number, cursor: Uint8Array, budget: { left: number }): Uint8Array | undefined {
  const doomed: Uint8Array[] = [];
  let next: Uint8Array | undefined;
  view.scan(cursor, eventKey(c, 0), (k) => {
    if (budget.left <= 0) {
      next = k.slice();
      return false;
    }
    budget.left--;
    doomed.push(k.slice());
    return true;
  });
  for (const k of doomed) view.del(k);
  return next;
}

/** The last record of `key` before tree key `at` and at or below `revision`. */
function previousRecord(view: StateView, key: Uint8Array, at: Uint8Array, revision: number): { treeKey: Uint8Array; live: boolean } | undefined {
  const atRevision = historyKey(key, revision + 1);
  let found: { treeKey: Uint8Array; live: boolean } | undefined;
  view.scan(
    historyPrefix(key),
    compareBytes(at, atRevision) < 0 ? at : atRevision,
    (k, v) => {
      found = { treeKey: k.slice(), live: decodeHistoryRecord(v).live };
      return false;
    },
    true,
  );
  return found;
}
