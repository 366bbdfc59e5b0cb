/**
 * Reads of the revision history (keys.ts: 'r' ++ esc(key) ++ terminator ++ BE64(rev)): a key as of
 * a revision, and etcd's Range over [key, range_end) as of a revision, with every option of etcd
 * v3.4's RangeRequest (server/etcdserver/apply.go Range: count before the revision filters, the
 * filters, then sort, then the limit that sets `more`). Used by the read path (store.ts) over the
 * tree and by the apply path (apply.ts) over the tree plus its pending writes.
 *
 * What must hold: a key's records sort by revision and each revision writes a key at most once, so
 * "the key as of R" is the last record at or below R, and it is absent when that record is a
 * tombstone or there is none.
 */
import { compareBytes } from '../util/bytes.js';
import { compactedError, futureRevisionError } from './errors.js';
import { HISTORY_END, decodeHistoryKey, historyBound, historyKey, historyPrefix, isFromKey } from './keys.js';
import { decodeHistoryRecord, type HistoryRecord } from './records.js';
import type { RangeRequest, RangeResponse, SortTarget } from './requests.js';
import type { StateReader } from './state-view.js';
import type { KeyValue } from './types.js';

/** The last record of `key` at or below `revision`, with the revision it was written at. */
export function recordAt(reader: StateReader, key: Uint8Array, revision: number): { revision: number; record: HistoryRecord } | undefined {
  let found: { revision: number; record: HistoryRecord } | undefined;
  reader.scan(
    historyPrefix(key),
    historyKey(key, revision + 1),
    (k, v) => {
      found = { revision: decodeHistoryKey(k).revision, record: decodeHistoryRecord(v) };
      return false;
    },
    true,
  );
  return found;
}

export function toKeyValue(key: Uint8Array, revision: number, r: HistoryRecord): KeyValue {
  return { key, createRevision: r.createRevision, modRevision: revision, version: r.version, value: r.value, lease: r.lease };
}

/** The key as of `revision`, or undefined if it did not exist then. */
export function kvAt(reader: StateReader, key: Uint8Array, revision: number): KeyValue | undefined {
  const f = recordAt(reader, key, revision);
  return f !== undefined && f.record.live ? toKeyValue(key.slice(), f.revision, f.record) : undefined;
}

/**
 * Calls visit(kv) for each key live at `revision` in the etcd range [key, rangeEnd), ascending by
 * key, until visit returns false. One forward pass over the range's history records.
 */
export function scanAt(reader: StateReader, key: Uint8Array, rangeEnd: Uint8Array | undefined, revision: number, visit: (kv: KeyValue) => boolean): void {
  if (rangeEnd === undefined || rangeEnd.length === 0) {
    const kv = kvAt(reader, key, revision);
    if (kv !== undefined) visit(kv);
    return;
  }
  if (!isFromKey(rangeEnd) && compareBytes(key, rangeEnd) >= 0) return;
  const lt = isFromKey(rangeEnd) ? HISTORY_END : historyBound(rangeEnd);
  let current: Uint8Array | undefined;
  let best: KeyValue | undefined;
  let stopped = false;
  reader.scan(historyBound(key), lt, (k, v) => {
    const h = decodeHistoryKey(k);
    if (current === undefined || compareBytes(h.key, current) !== 0) {
      if (best !== undefined && !visit(best)) {
        stopped = true;
        return false;
      }
      current = h.key;
      best = undefined;
    }
    if (h.revision <= revision) {
      const r = decodeHistoryRecord(v);
      best = r.live ? toKeyValue(h.key, h.revision, r) : undefined;
    }
    return true;
  });
  if (!stopped && best !== undefined) visit(best);
}

/** The revision a read of `requested` (<= 0: current) reads at; throws etcd's errors outside the history. */
export function readRevision(requested: number | undefined, current: number, compactRevision: number): number {
  const rev = requested !== undefined && requested > 0 ? requested : current;
  if (rev > current) throw futureRevisionError(rev, current);
  if (rev < compactRevision) throw compactedError(rev, compactRevision);
  return rev;
}

function sortKey(kv: KeyValue, target: SortTarget): number | Uint8Array {
  switch (target) {
    case 'KEY':
      return kv.key;
    case 'VERSION':
      return kv.version;
    case 'CREATE':
      return kv.createRevision;
    case 'MOD':
      return kv.modRevision;
    case 'VALUE':
      return kv.value;
  }
}

function compareBy(a: KeyValue, b: KeyValue, target: SortTarget): number {
  const x = sortKey(a, target);
  const y = sortKey(b, target);
  if (typeof x === 'number') return x - (y as number);
  return compareBytes(x, y as Uint8Array);
}

/** etcd's Range at revision `rev` (already checked by readRevision), from the history. */
export function rangeAt(reader: StateReader, req: RangeRequest, rev: number): RangeResponse {
  return rangeOf(req, (visit) => scanAt(reader, req.key, req.rangeEnd, rev, visit));
}

/** etcd's Range over the keys `scan` visits (ascending by key, each live at the read revision). */
export function rangeOf(req: RangeRequest, scan: (visit: (kv: KeyValue) => boolean) => void): RangeResponse {
  const limit = req.limit !== undefined && req.limit > 0 ? req.limit : 0;
  const target = req.sortTarget ?? 'KEY';
  let order = req.sortOrder ?? 'NONE';
  // Keys come out ascending by key; another target without an order sorts ascending (as etcd does).
  if (order === 'NONE' && target !== 'KEY') order = 'ASCEND';
  const filtered =
    (req.minModRevision ?? 0) > 0 || (req.maxModRevision ?? 0) > 0 || (req.minCreateRevision ?? 0) > 0 || (req.maxCreateRevision ?? 0) > 0;
  const sorted = order !== 'NONE' && !(order === 'ASCEND' && target === 'KEY');
  // Without filters or a sort, the first limit + 1 keys decide the answer and `more`.
  const keep = limit > 0 && !filtered && !sorted ? limit + 1 : Infinity;
  const countOnly = req.countOnly === true;
  let kvs: KeyValue[] = [];
  let count = 0;
  scan((kv) => {
    count++;
    if (!countOnly && kvs.length < keep) kvs.push(kv);
    return true;
  });
  if (countOnly) return { kvs: [], more: false, count };
  if (filtered) {
    const minMod = req.minModRevision ?? 0;
    const maxMod = req.maxModRevision ?? 0;
    const minCreate = req.minCreateRevision ?? 0;
    const maxCreate = req.maxCreateRevision ?? 0;
    kvs = kvs.filter(
      (kv) =>
        (minMod <= 0 || kv.modRevision >= minMod) &&
        (maxMod <= 0 || kv.modRevision <= maxMod) &&
        (minCreate <= 0 || kv.createRevision >= minCreate) &&
        (maxCreate <= 0 || kv.createRevision <= maxCreate),
    );
  }
  if (sorted) {
    const dir = order === 'DESCEND' ? -1 : 1;
    // Array.prototype.sort is stable: equal targets stay in key order.
    kvs.sort((a, b) => dir * compareBy(a, b, target));
  }
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  if (req.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
  return { kvs, more, count };
}
