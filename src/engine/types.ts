/**
 * The hot-path interface: the byte-crunching work of the LSM tree, behind one interface with two
 * twins that must produce identical bytes for identical input (src/engine/js, src/engine/wasm).
 * The formats are docs/format/sstable.md; the WASM exports are asm/README.md.
 *
 * Work crosses this interface as whole blocks, whole runs or windows of blocks (a streamed
 * compaction's inputs and output chunks), never key by key (except the single key of a point
 * lookup's filter probe).
 */

export type EngineName = 'js' | 'wasm';

/**
 * A sorted run of entries packed in one buffer. Entry i has
 *   key   = data[offsets[2i]   .. offsets[2i+1])   an internal key (user key ++ 8-byte trailer)
 *   value = data[offsets[2i+1] .. offsets[2i+2])
 * so `offsets.length >= 2 * count + 1` and offsets are non-decreasing. Keys are strictly
 * increasing in internal-key order (src/format/internal-key.ts). A delete's value is empty.
 */
export interface EntryRun {
  data: Uint8Array;
  offsets: Uint32Array;
  count: number;
}

/** Options that decide the bytes of a table; both twins must honour them identically. */
export interface TableOptions {
  /** A data block is finished once its encoded contents reach this many bytes. Default 4096. */
  blockSizeBytes: number;
  /** Entries between restart points in a data block. Default 16. */
  restartInterval: number;
  /** Bloom filter bits per distinct user key. Default 10. 0 writes no filter block. */
  bloomBitsPerKey: number;
  /**
   * 'lz4' (the default) stores data blocks LZ4-compressed where that saves at least 1/8, in
   * version-2 tables; 'none' writes version-1 tables, every block uncompressed.
   */
  blockCompression?: BlockCompression;
}

/** How data blocks are stored (docs/format/sstable.md "Compressed blocks"). */
export type BlockCompression = 'none' | 'lz4';

export interface TableCutOptions extends TableOptions {
  /** A new table is started at a user-key boundary once the current one reaches this size. */
  targetFileSizeBytes: number;
}

/** A finished SSTable in memory: its file bytes and what the manifest records about it. */
export interface BuiltTable {
  bytes: Uint8Array;
  smallestKey: Uint8Array; // internal key
  largestKey: Uint8Array; // internal key
  entryCount: number;
  deletionCount: number;
  smallestSequence: number;
  largestSequence: number;
}

export interface MergeOptions {
  /**
   * Sequence numbers of live snapshots, ascending. Each snapshot (and "now") sees the newest entry
   * of a key at or below its sequence; the merge keeps exactly the entries some reader can see.
   */
  snapshots: readonly number[];
  /** True when the output goes to the bottom-most level holding the keys: tombstones that hide
   * nothing any reader needs are dropped. */
  dropTombstones: boolean;
}

/**
 * A compaction input read in place from its table file: the data blocks, back to back from offset 0
 * (docs/format/sstable.md), named by the handles of the table's index. A streamed compaction reads
 * them a window of whole blocks at a time (StreamOptions.readAheadBytes), never the whole file.
 */
export interface BlockSource {
  readonly kind: 'blocks';
  /** Reported in CorruptionError. */
  readonly path: string;
  /** File offset of each data block, ascending and contiguous. */
  readonly blockOffsets: Float64Array;
  /** Contents size of each data block (without its 5-byte trailer). */
  readonly blockSizes: Float64Array;
  /** Reads `length` bytes at `position` (the caller checks the length it gets). */
  read(position: number, length: number): Uint8Array;
}

/** A compaction input already in memory: a flush's memtable run. */
export interface RunSource {
  readonly kind: 'run';
  readonly run: EntryRun;
}

/**
 * A flush's input read where it is: an immutable memtable's arena chunks (src/lsm/memtable.ts has
 * the node layout, src/lsm/arena.ts the addresses), walked along the skiplist's level-0 links. An
 * engine that walks the nodes itself (the WASM twin: asm/skiplist.ts) reads the chunks; the JS
 * twin calls pack(). Either way the entries are the memtable's, in internal-key order.
 */
export interface SkipListSource {
  readonly kind: 'skiplist';
  /** The arena's chunk size, a power of two: address = chunk index * chunkBytes + offset. */
  readonly chunkBytes: number;
  /** Node arena chunks, then value arena chunks, in arena order (read-only). */
  readonly nodeChunks: readonly ArrayBufferLike[];
  readonly valueChunks: readonly ArrayBufferLike[];
  readonly entries: number;
  /** Key and value bytes of all entries (what pack() returns holds exactly these). */
  readonly packedBytes: number;
  /** The entries packed as one run (src/lsm/memtable-walk.ts MemTablePacker). */
  pack(): EntryRun;
}

/**
 * Tables with disjoint key ranges, in ascending key order (one level's files), read one after
 * another as one compaction input: the engine opens a table when it reaches it and closes it when
 * done, so an input spanning a whole level holds one table and one window at a time.
 */
export interface TableChain {
  readonly kind: 'chain';
  readonly length: number;
  /** The largest data block (trailer included) of any of the tables: sizes the input's buffers. */
  readonly blockBytesMax: number;
  /** Opens table i (0 <= i < length) as a block source; each is opened once, in order. */
  open(i: number): BlockSource;
  /** Table i is done: `entries` were read from it (the caller checks them against the table). */
  close(i: number, entries: number): void;
}

export type StreamSource = BlockSource | RunSource | SkipListSource | TableChain;

/** What the manifest needs of a finished output table (BuiltTable without its bytes). */
export type TableSummary = Omit<BuiltTable, 'bytes'> & { fileBytes: number };

/**
 * Where a streamed compaction's tables go, in order: the bytes of one table (several write() calls,
 * each a view valid only during the call), then end() with its summary; then the next table.
 */
export interface TableOutput {
  write(bytes: Uint8Array): void;
  end(table: TableSummary): void;
}

export interface StreamOptions extends MergeOptions, TableCutOptions {
  /** Bytes of whole data blocks read from an input at a time (at least one block). */
  readAheadBytes: number;
  /** Finished data blocks are handed to TableOutput.write once they reach this many bytes. */
  outputChunkBytes: number;
  /**
   * A key range of the merge (a subcompaction's piece, src/lsm/subcompactions.ts): only entries
   * whose user key is >= lowerUserKey and < upperUserKey are merged; the rest are read and skipped.
   * Absent: no bound on that side. A range holds every version of the user keys in it, so pieces
   * split at user keys write, together, exactly the entries one merge over the whole range writes.
   */
  lowerUserKey?: Uint8Array;
  upperUserKey?: Uint8Array;
}

export interface StreamResult {
  /** Entries read from each input, in input order. */
  inputEntries: number[];
  outputEntries: number;
}

export interface HotPaths {
  readonly name: EngineName;

  /** CRC32C (Castagnoli) of data, continuing from `crc` (unmasked; 0 to start). */
  crc32c(data: Uint8Array, crc?: number): number;

  /** Filter block contents for the distinct user keys of `run`. */
  bloomBuild(run: EntryRun, bitsPerKey: number): Uint8Array;

  /** False only if `userKey` is certainly absent from the table whose filter this is. */
  bloomMayContain(filter: Uint8Array, userKey: Uint8Array): boolean;

  /** Encodes entries [start, end) of `run` as one data block: contents plus the 5-byte trailer. */
  encodeBlock(run: EntryRun, start: number, end: number, restartInterval: number): Uint8Array;

  /**
   * Verifies the trailer checksum of `block` (contents plus trailer) and decodes it.
   * Throws CorruptionError naming `file` and `offset` when the checksum or the layout is wrong.
   */
  decodeBlock(block: Uint8Array, file?: string, offset?: number): EntryRun;

  /**
   * The LZ4 block (docs/format/sstable.md "Compressed blocks") of `data`, or undefined when it
   * would take more than `limitBytes` (default: no limit).
   */
  lz4Compress(data: Uint8Array, limitBytes?: number): Uint8Array | undefined;

  /** Decodes an LZ4 block that must expand to exactly `rawBytes`; CorruptionError if it does not. */
  lz4Decompress(block: Uint8Array, rawBytes: number): Uint8Array;

  /** Builds one or more complete SSTable files from `run`, cut at user-key boundaries. */
  buildTables(run: EntryRun, options: TableCutOptions): BuiltTable[];

  /** k-way merge of sorted runs into one sorted run, applying the version-dropping rules. */
  mergeRuns(runs: readonly EntryRun[], options: MergeOptions): EntryRun;

  /**
   * mergeRuns then buildTables, streamed: merges the inputs block by block with the same rules and
   * cuts the same tables, writing each to `output` as it goes, in memory bounded by the inputs'
   * windows and one table's index and filter state (not by the inputs' size).
   */
  compactStreams(inputs: readonly StreamSource[], options: StreamOptions, output: TableOutput): StreamResult;
}
