/**
 * Subcompactions: a large compaction split by user-key range into pieces of about the same input
 * bytes, each a job of its own (src/lsm/jobs.ts, CompactionJob.lowerUserKey/upperUserKey) run in
 * parallel on the pool's workers, their outputs installed together in one manifest edit (after
 * RocksDB's CompactionJob::GenSubcompactionBoundaries, db/compaction/compaction_job.cc: boundaries
 * sampled from the inputs' index blocks, weighted by the bytes between them).
 *
 * What must hold:
 * - the pieces' ranges are [undefined, c1), [c1, c2), ..., [cn, undefined) with c1 < ... < cn user
 *   keys: they cover every user key once, and a user key's versions all fall in one piece, so the
 *   pieces write together exactly the entries one job over the whole range writes (the merge rules
 *   decide per user key);
 * - a piece is never planned below minPieceBytes of input: a small job stays one job;
 * - the planning reads index keys of the table cache's readers (opening a table not in it, one per
 *   turn of the event loop), at most ANCHORS_PER_TABLE_MAX per table, so the main thread spends
 *   O(tables x ANCHORS_PER_TABLE_MAX x log) on it beyond those opens.
 *
 * Memory: each piece is a job with the per-job bound of jobs.ts, so a split job holds at most
 * pieces x that bound (pieces <= subcompactionsMax, run at most maxThreads at a time).
 */
import { userKeyOf } from '../format/internal-key.js';
import { compareBytes } from '../util/bytes.js';
import type { TableReader } from './table-reader.js';

/** Index keys sampled per input table, at most: enough for even pieces, few enough to sort at once. */
const ANCHORS_PER_TABLE_MAX = 64;

/** A piece's user keys: >= lower (absent: from the first) and < upper (absent: to the last). */
export interface KeyRange {
  lower?: Uint8Array;
  upper?: Uint8Array;
}

/** An input table of the compaction: its number and file size. */
export interface RangeInput {
  number: number;
  size: number;
}

/** A sampled index key and the input bytes up to it since the table's previous sample. */
interface Anchor {
  userKey: Uint8Array;
  bytes: number;
}

/**
 * Samples of each table's index: every step-th block's index key, weighted by the blocks it closes.
 * One table per turn of the event loop: a table not in the table cache is opened (its index read
 * and checked) on the calling thread.
 */
async function anchorsOf(tables: readonly RangeInput[], readerOf: (number: number) => TableReader): Promise<Anchor[]> {
  const anchors: Anchor[] = [];
  for (const t of tables) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const reader = readerOf(t.number);
    const blocks = reader.dataBlockCount;
    const step = Math.ceil(blocks / ANCHORS_PER_TABLE_MAX);
    let last = -1;
    for (let b = step - 1; last < blocks - 1; b = Math.min(b + step, blocks - 1)) {
      anchors.push({ userKey: userKeyOf(reader.indexKey(b)), bytes: (t.size * (b - last)) / blocks });
      last = b;
    }
  }
  return anchors.sort((a, b) => compareBytes(a.userKey, b.userKey));
}

/**
 * The key ranges a compaction over `tables` runs as: one (unbounded) when it is smaller than two
 * pieces of minPieceBytes or piecesMax is 1; else up to piecesMax ranges of about equal input bytes,
 * cut at sampled index keys.
 */
export async function subcompactionRanges(
  tables: readonly RangeInput[], readerOf: (number: number) => TableReader, piecesMax: number, minPieceBytes: number,
): Promise<KeyRange[]> {
  let total = 0;
  for (const t of tables) total += t.size;
  const pieces = Math.min(piecesMax, Math.floor(total / minPieceBytes));
  if (pieces <= 1) return [{}];
  const cuts: Uint8Array[] = [];
  let bytes = 0;
  for (const a of await anchorsOf(tables, readerOf)) {
    if (cuts.length === pieces - 1) break;
    // The cut goes before the anchor's key once the bytes up to it pass the next piece's share.
    if (bytes >= (total * (cuts.length + 1)) / pieces) {
      const prev = cuts[cuts.length - 1];
      if (prev === undefined || compareBytes(prev, a.userKey) < 0) cuts.push(a.userKey.slice());
    }
    bytes += a.bytes;
  }
  if (cuts.length === 0) return [{}];
  const ranges: KeyRange[] = [{ upper: cuts[0]! }];
  for (let i = 1; i < cuts.length; i++) ranges.push({ lower: cuts[i - 1]!, upper: cuts[i]! });
  ranges.push({ lower: cuts[cuts.length - 1]! });
  return ranges;
}
