/**
 * Streamed compaction, the TypeScript twin of asm/compact.ts: a k-way merge (binary min-heap, as
 * src/engine/js/merge.ts) over cursors that read each input a window of whole data blocks at a
 * time (src/engine/stream-window.ts), applying the merge rules of docs/format/sstable.md, feeding a
 * TableWriter that cuts tables as buildTables does and hands their bytes out as it goes. The output
 * is the bytes buildTables(mergeRuns(inputs)) would give (test/engine/compact-stream.test.ts).
 *
 * Memory: O(sum over inputs of one window (readAheadBytes or its largest block) and its decoded
 * blocks + outputChunkBytes + blockSizeBytes + one output table's index and filter hashes +
 * (snapshots + 1) pending tombstones), whatever the inputs' sizes.
 *
 * What must hold, besides merge.ts's rules:
 * - tombstones dropped at the bottom are the trailing deletes of each user key; they are held back
 *   (at most one per stripe) until a kept put of the same key shows they hide something;
 * - a table is cut when the merge starts a new user key and the open table has reached the target:
 *   the same cut buildTables makes before the next written entry, since nothing is written between.
 */
import type { BlockSource, EntryRun, SkipListSource, StreamOptions, StreamResult, StreamSource, TableOutput } from '../types.js';
import { CorruptionError } from '../../errors.js';
import { assert } from '../../util/assert.js';
import { compareRange } from '../../util/bytes.js';
import { compareInternalRange, KIND_DELETE, TRAILER_BYTES, trailerKind, trailerSequence } from '../../format/internal-key.js';
import { decodeBlock } from './block.js';
import { siftDownHeap, stripeOf } from './merge.js';
import { TableWriter, validateTableOptions } from './table-builder.js';
import { readWindow, windowEnd } from '../stream-window.js';

/** The current entry of one input, and how to reach the next. */
class InputCursor {
  run: EntryRun = { data: new Uint8Array(0), offsets: new Uint32Array(1), count: 0 };
  /** Entry index in `run`. */
  i = 0;
  entries = 0;
  /** The table being read (block sources and chains). */
  private table: BlockSource | undefined = undefined;
  /** Chains: index of `table` in the chain, and the entries read from it. */
  private tableIndex = 0;
  private tableEntries = 0;
  private nextBlock = 0;
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  private windowEndBlock = 0;

  constructor(private readonly source: Exclude<StreamSource, SkipListSource>, private readonly readAheadBytes: number) {
    if (source.kind === 'run') {
      this.run = source.run;
      this.entries = source.run.count;
      return;
    }
    if (source.kind === 'blocks') this.table = source;
    else if (source.length > 0) this.table = source.open(0);
    this.loadBlock();
  }

  get valid(): boolean {
    return this.i < this.run.count;
  }

  /** Moves to the next entry (of the next block if need be); valid is false after the last. */
  advance(): void {
    this.i++;
    if (this.i < this.run.count || this.source.kind === 'run') return;
    const prev = this.run;
    const lastKeyStart = prev.offsets[2 * prev.count - 2]!;
    const lastKeyEnd = prev.offsets[2 * prev.count - 1]!;
    if (!this.loadBlock()) return;
    const run = this.run;
    if (compareInternalRange(prev.data, lastKeyStart, lastKeyEnd, run.data, run.offsets[0]!, run.offsets[1]!) >= 0) {
      const table = this.table!;
      throw new CorruptionError('data blocks out of order', table.path, table.blockOffsets[this.nextBlock - 1]!);
    }
  }

  /**
   * Decodes the next data block, reading the next window first when this one is used up (and, in
   * a chain, opening the next table when this one is).
   */
  private loadBlock(): boolean {
    // Bounded: each pass moves to the next table of a chain or returns.
    for (;;) {
      const table = this.table;
      if (table === undefined) {
        this.i = this.run.count;
        return false;
      }
      const b = this.nextBlock;
      if (b < table.blockOffsets.length) break;
      const chain = this.source;
      if (chain.kind !== 'chain') {
        this.table = undefined;
        continue;
      }
      chain.close(this.tableIndex, this.tableEntries);
      this.tableIndex++;
      this.tableEntries = 0;
      this.nextBlock = 0;
      this.windowEndBlock = 0;
      this.table = this.tableIndex < chain.length ? chain.open(this.tableIndex) : undefined;
    }
    const source = this.table!;
    const b = this.nextBlock;
    if (b >= this.windowEndBlock) {
      this.windowEndBlock = windowEnd(source, b, this.readAheadBytes);
      this.window = readWindow(source, b, this.windowEndBlock);
      this.windowStart = source.blockOffsets[b]!;
    }
    const offset = source.blockOffsets[b]!;
    const at = offset - this.windowStart;
    this.run = decodeBlock(this.window.subarray(at, at + source.blockSizes[b]! + 5), source.path, offset);
    this.i = 0;
    this.nextBlock = b + 1;
    this.entries += this.run.count;
    this.tableEntries += this.run.count;
    return true;
  }
}

export function validateStreamOptions(options: StreamOptions): void {
  validateTableOptions(options);
  assert(Number.isInteger(options.readAheadBytes) && options.readAheadBytes >= 1, 'readAheadBytes >= 1');
  assert(Number.isInteger(options.outputChunkBytes) && options.outputChunkBytes >= 1, 'outputChunkBytes >= 1');
  const { snapshots } = options;
  for (let i = 1; i < snapshots.length; i++) assert(snapshots[i - 1]! < snapshots[i]!, 'snapshots are strictly ascending');
}

export function compactStreams(inputs: readonly StreamSource[], options: StreamOptions, output: TableOutput): StreamResult {
  validateStreamOptions(options);
  const { snapshots, dropTombstones, targetFileSizeBytes } = options;
  // A memtable image is packed into a run first: this twin reads runs, not skiplist nodes.
  const cursors = inputs.map((source) =>
    new InputCursor(source.kind === 'skiplist' ? { kind: 'run', run: source.pack() } : source, options.readAheadBytes));
  const writer = new TableWriter(options, options.outputChunkBytes, (bytes) => output.write(bytes),
    options.outputChunkBytes + 2 * options.blockSizeBytes + 1024);

  const k = cursors.length;
  const heap = new Int32Array(k);
  let heapSize = 0;
  const less = (a: number, b: number): boolean => {
    const ca = cursors[a]!;
    const cb = cursors[b]!;
    const c = compareInternalRange(
      ca.run.data, ca.run.offsets[2 * ca.i]!, ca.run.offsets[2 * ca.i + 1]!,
      cb.run.data, cb.run.offsets[2 * cb.i]!, cb.run.offsets[2 * cb.i + 1]!);
    return c < 0 || (c === 0 && a < b);
  };
  const siftDown = (at: number): void => siftDownHeap(heap, heapSize, at, less);
  for (let r = 0; r < k; r++) if (cursors[r]!.valid) heap[heapSize++] = r;
  for (let i = (heapSize >> 1) - 1; i >= 0; i--) siftDown(i);

  // The current user key, read in place from the block that held its first entry.
  let curData: Uint8Array = new Uint8Array(0);
  let curStart = 0;
  let curEnd = -1;
  let lastStripe = -1;
  // Kept deletes of the current user key not yet followed by a kept put (dropTombstones only).
  const pending: EntryRun[] = [];
  const pendingAt: number[] = [];
  let outputEntries = 0;

  const { lowerUserKey: lower, upperUserKey: upper } = options;
  // Each step consumes one input entry; each input ends (its cursor turns invalid) after its last.
  while (heapSize > 0) {
    const c = cursors[heap[0]!]!;
    const { data, offsets } = c.run;
    const keyStart = offsets[2 * c.i]!;
    const keyEnd = offsets[2 * c.i + 1]!;
    const valueEnd = offsets[2 * c.i + 2]!;
    const userEnd = keyEnd - TRAILER_BYTES;
    // The smallest entry left is past the range: so is every other.
    if (upper !== undefined && compareRange(data, keyStart, userEnd, upper, 0, upper.length) >= 0) break;
    // Below the range: skipped.
    const inRange = lower === undefined || compareRange(data, keyStart, userEnd, lower, 0, lower.length) >= 0;
    if (inRange && (curEnd < 0 || compareRange(curData, curStart, curEnd, data, keyStart, userEnd) !== 0)) {
      pending.length = 0;
      pendingAt.length = 0;
      if (writer.entryCount > 0 && writer.sizeBytes() >= targetFileSizeBytes) output.end(writer.finish());
      curData = data;
      curStart = keyStart;
      curEnd = userEnd;
      lastStripe = -1;
    }
    // Entries of one user key arrive newest first: the first seen in a stripe is its reader's.
    const stripe = !inRange ? lastStripe : snapshots.length === 0 ? 0 : stripeOf(snapshots, trailerSequence(data, keyEnd));
    if (stripe !== lastStripe) {
      lastStripe = stripe;
      if (dropTombstones && trailerKind(data, keyEnd) === KIND_DELETE) {
        pending.push(c.run);
        pendingAt.push(c.i);
      } else {
        for (let p = 0; p < pending.length; p++) {
          const run = pending[p]!;
          const i = pendingAt[p]!;
          writer.add(run.data, run.offsets[2 * i]!, run.offsets[2 * i + 1]!, run.data, run.offsets[2 * i + 1]!, run.offsets[2 * i + 2]!);
        }
        outputEntries += pending.length + 1;
        pending.length = 0;
        pendingAt.length = 0;
        writer.add(data, keyStart, keyEnd, data, keyEnd, valueEnd);
      }
    }
    c.advance();
    if (!c.valid) heap[0] = heap[--heapSize]!;
    if (heapSize > 0) siftDown(0);
  }
  if (writer.entryCount > 0) output.end(writer.finish());
  return { inputEntries: cursors.map((c) => c.entries), outputEntries };
}
