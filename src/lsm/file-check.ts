/**
 * Whole-file checks of each file kind of a tree's directory (src/lsm/filenames.ts), shared by
 * verifyTree (src/lsm/verify.ts) and repairTree (src/lsm/repair.ts), in the spirit of RocksDB's
 * sst_dump --command=verify and leveldb's db/repair.cc table scan:
 *
 * - a table is opened (footer, metaindex, properties, filter and index blocks, each checksummed),
 *   every data block is read, checksummed and decoded, and every distinct user key is looked up
 *   through the index and the filter (a filter that denies a key the table holds is damage);
 * - a log (WAL or manifest, docs/format/wal.md) is read record by record in strict mode; a WAL's
 *   records must decode as write batches, a manifest's as version edits that apply in order;
 * - CURRENT must name a manifest that exists; LOCK must read `pid N\n`.
 *
 * A log whose only flaw is that the file ends inside its last record (a crash mid-append) is not
 * damaged: that is a torn tail, reported apart, and the tree drops it on open by design. A record
 * that is complete but fails its checksum is damage wherever it sits.
 *
 * Nothing here writes: every check reads through the FileSystem and returns what it found.
 */
import type { EntryRun, HotPaths } from '../engine/types.js';
import { CorruptionError, LsmraftError } from '../errors.js';
import { compareBytes, equalBytes, fromUtf8 } from '../util/bytes.js';
import { BlockCache } from './block-cache.js';
import { CURRENT_FILE_NAME, manifestFileName, parseFileName } from './filenames.js';
import type { FileSystem } from './fs.js';
import { SEQUENCE_MAX, TRAILER_BYTES, userKeyOf } from '../format/internal-key.js';
import { LOG_BLOCK_BYTES, LOG_HEADER_BYTES, LogKind, LogReader } from './log-format.js';
import { TableReader } from './table-reader.js';
import { Version, VersionBuilder } from './version.js';
import { applyWalSizes, VersionEdit, type FileMetadata } from './version-edit.js';
import { decodeBatch } from './write-batch.js';

/** Where a file is damaged and why. `offset` is undefined when the damage has no one place. */
export interface Damage {
  offset: number | undefined;
  reason: string;
}

/** Decoded blocks a check keeps while it runs: one table's worth is plenty. */
const CHECK_CACHE_BYTES = 1 << 20;

/** Turns an LsmraftError met while reading `file` into a Damage; anything else (a bug) is rethrown. */
export function damageOf(err: unknown): Damage {
  if (err instanceof CorruptionError) return { offset: err.offset, reason: err.message };
  if (err instanceof LsmraftError) return { offset: undefined, reason: `${err.code}: ${err.message}` };
  throw err;
}

export interface TableCheck {
  /** The table's entries (internal keys), when it read whole. */
  run: EntryRun | undefined;
  blocks: number;
  entries: number;
  sizeBytes: number;
  damage: Damage | undefined;
}

/**
 * Reads all of the table at `path`. When `meta` (what the manifest records) is given, the table must
 * match it: size, entry count, smallest and largest keys.
 */
export function checkTable(fs: FileSystem, path: string, number: number, engine: HotPaths, meta?: FileMetadata): TableCheck {
  const sizeBytes = fs.fileSize(path);
  let reader: TableReader | undefined;
  try {
    reader = TableReader.open(fs, path, number, engine, new BlockCache(CHECK_CACHE_BYTES));
    const run = reader.readAll();
    const blocks = reader.dataBlockCount;
    for (let i = 0; i < run.count; i++) {
      const keyStart = run.offsets[2 * i]!;
      const keyEnd = run.offsets[2 * i + 1]!;
      const userKey = run.data.subarray(keyStart, keyEnd - TRAILER_BYTES);
      if (i > 0) {
        const prev = run.data.subarray(run.offsets[2 * i - 2]!, run.offsets[2 * i - 1]! - TRAILER_BYTES);
        if (equalBytes(prev, userKey)) continue; // the newest entry of a key comes first
      }
      // Index and filter must both lead to the key (a filter that says "absent" loses it).
      if (reader.get(userKey, SEQUENCE_MAX) === undefined) {
        throw new CorruptionError(`key ${i} of the data blocks is not found through the index and filter`, path);
      }
    }
    const damage = meta === undefined ? undefined : compareWithManifest(run, sizeBytes, meta);
    return { run: damage === undefined ? run : undefined, blocks, entries: run.count, sizeBytes, damage };
  } catch (err) {
    return { run: undefined, blocks: 0, entries: 0, sizeBytes, damage: damageOf(err) };
  } finally {
    reader?.close();
  }
}

/**
 * User keys a table held, as far as what still reads tells: its first key (data block 0; when that
 * block does not read, the manifest's smallest key if known, else the empty key, below every key)
 * to its last (the last index key, the last key of the last block). When the table does not open
 * (footer, metaindex, properties or index damaged): the manifest's range if known, else 'unknown'.
 */
export function tableKeyRange(
  fs: FileSystem, path: string, number: number, engine: HotPaths, meta: FileMetadata | undefined,
): { smallest: Uint8Array; largest: Uint8Array } | 'unknown' {
  const fromManifest = meta === undefined ? 'unknown' as const : { smallest: userKeyOf(meta.smallest), largest: userKeyOf(meta.largest) };
  let reader: TableReader;
  try {
    reader = TableReader.open(fs, path, number, engine, new BlockCache(0));
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return fromManifest;
  }
  try {
    const largest = userKeyOf(reader.lastIndexKey());
    try {
      const first = reader.dataBlock(0);
      return { smallest: userKeyOf(first.data.subarray(first.offsets[0]!, first.offsets[1]!)), largest };
    } catch (err) {
      if (!(err instanceof LsmraftError)) throw err;
      return { smallest: fromManifest === 'unknown' ? new Uint8Array(0) : fromManifest.smallest, largest };
    }
  } finally {
    reader.close();
  }
}

function compareWithManifest(run: EntryRun, sizeBytes: number, meta: FileMetadata): Damage | undefined {
  if (sizeBytes !== meta.size) return { offset: undefined, reason: `size ${sizeBytes} bytes, the manifest records ${meta.size}` };
  if (run.count !== meta.entryCount) return { offset: undefined, reason: `${run.count} entries, the manifest records ${meta.entryCount}` };
  const first = run.data.subarray(run.offsets[0]!, run.offsets[1]!);
  const last = run.data.subarray(run.offsets[2 * run.count - 2]!, run.offsets[2 * run.count - 1]!);
  if (compareBytes(first, meta.smallest) !== 0 || compareBytes(last, meta.largest) !== 0) {
    return { offset: undefined, reason: 'smallest or largest key differs from the manifest' };
  }
  return undefined;
}

export interface LogCheck {
  records: number;
  /** Offset after the last good record (the file size when whole). */
  goodBytes: number;
  /** Set when the file ends inside its last record (a crash mid-append): not damage. */
  tornTailOffset: number | undefined;
  damage: Damage | undefined;
}

/**
 * True when the strict reader's failure at `offset` is the file ending inside a record (or inside
 * the block trailer the writer appends with the next fragment): what a crash mid-append leaves. A
 * preallocated WAL (src/lsm/fs.ts CreateOptions) ends in zeros instead of ending: there the file's
 * last non-zero byte lies before the damaged fragment's end (a zero header included).
 */
function endsInsideRecord(data: Uint8Array, offset: number): boolean {
  if (offset >= data.length) return true;
  const blockEnd = offset - (offset % LOG_BLOCK_BYTES) + LOG_BLOCK_BYTES;
  if (blockEnd - offset < LOG_HEADER_BYTES) return data.length < blockEnd;
  if (data.length - offset < LOG_HEADER_BYTES) return true;
  const len = data[offset + 4]! | (data[offset + 5]! << 8);
  const end = offset + LOG_HEADER_BYTES + len;
  if (end > data.length) return end <= blockEnd;
  let nonZeroEnd = data.length;
  // Walks back over the zero tail only: bounded by the file's length.
  while (nonZeroEnd > offset && data[nonZeroEnd - 1] === 0) nonZeroEnd--;
  return nonZeroEnd < end;
}

/**
 * Reads every record of a log in strict mode, handing each payload (and its offset) to `visit`,
 * which may throw CorruptionError for a payload that does not decode.
 */
export function checkLog(data: Uint8Array, name: string, kind: LogKind, visit: (payload: Uint8Array, offset: number) => void): LogCheck {
  let records = 0;
  let decoding = false;
  try {
    const reader = new LogReader(data, name, kind, 'strict');
    // One record per pass; a log holds fewer records than bytes.
    for (let i = 0; i <= data.length; i++) {
      const payload = reader.next();
      if (payload === null) break;
      decoding = true;
      visit(payload, reader.recordOffset);
      decoding = false;
      records++;
    }
    return { records, goodBytes: data.length, tornTailOffset: undefined, damage: undefined };
  } catch (err) {
    const damage = damageOf(err);
    if (data.length === 0) return { records, goodBytes: 0, tornTailOffset: 0, damage: undefined };
    if (!decoding && err instanceof CorruptionError && err.offset !== undefined && endsInsideRecord(data, err.offset)) {
      // The tolerant reader knows where the torn record started (its first fragment).
      const tolerant = new LogReader(data, name, kind, 'tolerate-torn-tail');
      for (let i = 0; i <= data.length && tolerant.next() !== null; i++);
      const torn = tolerant.tornTailOffset ?? err.offset;
      return { records, goodBytes: torn, tornTailOffset: torn, damage: undefined };
    }
    return { records, goodBytes: damage.offset ?? 0, tornTailOffset: undefined, damage };
  }
}

export interface WalCheck extends LogCheck {
  entries: number;
  /** Sequence numbers the readable batches span (0, 0 when none). */
  smallestSeq: number;
  largestSeq: number;
}

export function checkWal(data: Uint8Array, name: string,
  visit?: (sequence: number, kind: number, key: Uint8Array, value: Uint8Array) => void): WalCheck {
  let entries = 0;
  let smallestSeq = 0;
  let largestSeq = 0;
  const log = checkLog(data, name, LogKind.Wal, (payload, offset) => {
    const { sequence, count } = decodeBatch(payload, name, offset, (seq, kind, key, value) => visit?.(seq, kind, key, value));
    entries += count;
    if (count > 0) {
      if (smallestSeq === 0) smallestSeq = sequence;
      largestSeq = Math.max(largestSeq, sequence + count - 1);
    }
  });
  return { ...log, entries, smallestSeq, largestSeq };
}

/**
 * The damage of a WAL whose final size `manifest` recorded at a clean close (`recorded`; undefined
 * when none was, e.g. after a crash): the close synced it whole, so a crash can neither change its
 * size nor tear its last record (src/lsm/open.ts refuses such a WAL too).
 */
export function recordedWalDamage(wal: WalCheck, sizeBytes: number, recorded: number | undefined, manifest: string | undefined): Damage | undefined {
  if (recorded === undefined) return undefined;
  if (sizeBytes !== recorded) {
    return { offset: Math.min(sizeBytes, recorded), reason: `${sizeBytes} bytes, ${manifest ?? 'the manifest'} recorded ${recorded} at a clean close` };
  }
  if (wal.tornTailOffset !== undefined) {
    return { offset: wal.tornTailOffset, reason: `ends inside a record, but ${manifest ?? 'the manifest'} recorded it as synced whole` };
  }
  return undefined;
}

export interface ManifestCheck extends LogCheck {
  /** The version and counters of the records that applied, when the first (snapshot) did. */
  version: Version | undefined;
  logNumber: number | undefined;
  nextFileNumber: number | undefined;
  lastSequence: number | undefined;
  userMeta: Uint8Array | undefined;
  /** WAL number -> the final size a clean close recorded (tag 9), for WALs at or above the log number. */
  walSizes: Map<number, number>;
}

/** Replays a manifest as VersionSet.recover does (docs/format/manifest.md), but strictly. */
export function checkManifest(data: Uint8Array, name: string, numLevels: number): ManifestCheck {
  const builder = new VersionBuilder(Version.empty(numLevels));
  let logNumber: number | undefined;
  let nextFileNumber: number | undefined;
  let lastSequence: number | undefined;
  let userMeta: Uint8Array | undefined;
  const walSizes = new Map<number, number>();
  let lastSource = { file: name, offset: 0 };
  let firstOffset = -1;
  const log = checkLog(data, name, LogKind.Manifest, (payload, offset) => {
    if (firstOffset < 0) firstOffset = offset;
    const edit = VersionEdit.decode(payload, name, offset);
    if (offset === firstOffset && edit.formatVersion === undefined) {
      throw new CorruptionError('the first record is not a snapshot (no format version)', name, offset);
    }
    lastSource = { file: name, offset };
    builder.apply(edit, lastSource);
    if (edit.logNumber !== undefined) logNumber = edit.logNumber;
    if (edit.nextFileNumber !== undefined) nextFileNumber = edit.nextFileNumber;
    if (edit.lastSequence !== undefined) lastSequence = edit.lastSequence;
    if (edit.userMeta !== undefined) userMeta = edit.userMeta;
    applyWalSizes(walSizes, edit, logNumber ?? 0);
  });
  let version: Version | undefined;
  let damage = log.damage;
  if (log.records > 0) {
    try {
      version = builder.build(lastSource);
    } catch (err) {
      damage ??= damageOf(err);
    }
  }
  if (damage === undefined && (logNumber === undefined || nextFileNumber === undefined || lastSequence === undefined)) {
    damage = { offset: undefined, reason: 'the manifest records no log number, next file number or last sequence' };
  }
  return { ...log, damage, version, logNumber, nextFileNumber, lastSequence, userMeta, walSizes };
}

export interface CurrentCheck {
  manifest: string | undefined;
  damage: Damage | undefined;
}

/** CURRENT must be `MANIFEST-NNNNNN\n` naming a manifest that exists in the directory. */
export function checkCurrent(data: Uint8Array, names: readonly string[]): CurrentCheck {
  const text = fromUtf8(data);
  const name = text.endsWith('\n') ? text.slice(0, -1) : '';
  const parsed = parseFileName(name);
  if (parsed === undefined || parsed.type !== 'manifest' || manifestFileName(parsed.number) !== name) {
    return { manifest: undefined, damage: { offset: 0, reason: `${CURRENT_FILE_NAME} does not hold a manifest name and a newline` } };
  }
  if (!names.includes(name)) return { manifest: undefined, damage: { offset: 0, reason: `${CURRENT_FILE_NAME} names ${name}, which does not exist` } };
  return { manifest: name, damage: undefined };
}

/** LOCK, when present, holds `pid N\n` (src/lsm/lock.ts). */
export function checkLock(data: Uint8Array): Damage | undefined {
  return /^pid \d+\n$/.test(fromUtf8(data)) ? undefined : { offset: 0, reason: 'LOCK does not hold "pid N\\n"' };
}
