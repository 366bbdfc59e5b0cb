/**
 * Reads of the current state: a key's metadata under 'k' and its value under 'u' (keys.ts), by
 * point lookups and one scan of 'k' for a range, far cheaper than the history (an iterator per
 * key). The apply reads them through its StateView; the read path only while no apply batch is in
 * progress, when the tree holds exactly the published revision (store.ts).
 */
import { assert } from '../util/assert.js';
import { compareBytes } from '../util/bytes.js';
import { currentBounds, currentKey, valueKey } from './keys.js';
import { decodeCurrent } from './records.js';
import type { StateReader } from './state-view.js';
import type { KeyValue } from './types.js';

export function currentKv(reader: StateReader, key: Uint8Array): KeyValue | undefined {
  const raw = reader.get(currentKey(key));
  if (raw === undefined) return undefined;
  const value = reader.get(valueKey(key));
  assert(value !== undefined, 'a current record without its value');
  return { key: key.slice(), ...decodeCurrent(raw), value };
}

/** Calls visit with each key of the etcd range [key, rangeEnd) as it is now, ascending, until it returns false. */
export function scanCurrent(reader: StateReader, key: Uint8Array, rangeEnd: Uint8Array | undefined, visit: (kv: KeyValue) => boolean): void {
  if (rangeEnd === undefined || rangeEnd.length === 0) {
    const kv = currentKv(reader, key);
    if (kv !== undefined) visit(kv);
    return;
  }
  const { gte, lt } = currentBounds(key, rangeEnd);
  if (compareBytes(gte, lt) >= 0) return;
  reader.scan(gte, lt, (k, v) => {
    const userKey = k.slice(1);
    const value = reader.get(valueKey(userKey));
    assert(value !== undefined, 'a current record without its value');
    return visit({ key: userKey, ...decodeCurrent(v), value });
  });
}
