/**
 * Test helpers for EntryRuns (the packed layout of src/engine/types.ts: entry i's key is
 * data[offsets[2i], offsets[2i+1]), its value data[offsets[2i+1], offsets[2i+2])): packing
 * [internal key, value] pairs, building them from user keys, reading them back for comparison,
 * and hand-made blocks with a correct 5-byte trailer (docs/format/sstable.md "File layout").
 * One copy for the engine, lsm and pool tests and the benchmarks.
 */
import type { EntryRun } from '../../src/engine/types.js';
import { crc32c, maskCrc } from '../../src/format/crc32c.js';
import { compareInternalKeys, makeInternalKey } from '../../src/format/internal-key.js';
import { putFixed32, utf8 } from '../../src/util/bytes.js';
import { hex } from './hex.js';

/** One entry of a run: its internal key and its value. */
export type KeyValue = readonly [ikey: Uint8Array, value: Uint8Array];

/** An entry written by hand: user key, sequence, kind, value; strings are UTF-8. */
export type EntryTuple = readonly [user: string | Uint8Array, seq: number, kind: number, value: string | Uint8Array];

export const bytesOf = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? utf8(s) : s);


/** Packs the pairs in the order given: the caller has them sorted by internal key. */
export function packRun(pairs: readonly KeyValue[]): EntryRun {
  let bytes = 0;
  for (const [k, v] of pairs) bytes += k.length + v.length;
  const data = new Uint8Array(bytes);
  const offsets = new Uint32Array(2 * pairs.length + 1);
  let pos = 0;
  pairs.forEach(([k, v], i) => {
    offsets[2 * i] = pos;
    data.set(k, pos);
    pos += k.length;
    offsets[2 * i + 1] = pos;
    data.set(v, pos);
    pos += v.length;
  });
  offsets[2 * pairs.length] = pos;
  return { data, offsets, count: pairs.length };
}

/** Sorts a copy of the pairs by internal key, then packs them. */
export function sortedRun(pairs: readonly KeyValue[]): EntryRun {
  return packRun([...pairs].sort((a, b) => compareInternalKeys(a[0], b[0])));
}

/** The run of hand-written entries, sorted by internal key. */
export function runOfTuples(entries: readonly EntryTuple[]): EntryRun {
  return sortedRun(entries.map(([k, s, kind, v]) => [makeInternalKey(bytesOf(k), s, kind), bytesOf(v)] as const));
}

/** The run's entries as [key hex, value hex]: compares runs regardless of buffer layout. */
export function hexEntriesOf(run: EntryRun): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < run.count; i++) {
    out.push([
      hex(run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!)),
      hex(run.data.subarray(run.offsets[2 * i + 1]!, run.offsets[2 * i + 2]!)),
    ]);
  }
  return out;
}

/** A block whose contents were written by hand, followed by its type byte and a correct masked CRC. */
export function withBlockTrailer(contents: readonly number[], type = 0): Uint8Array {
  const block = new Uint8Array(contents.length + 5);
  block.set(contents);
  block[contents.length] = type;
  putFixed32(block, contents.length + 1, maskCrc(crc32c(block.subarray(0, contents.length + 1))));
  return block;
}
