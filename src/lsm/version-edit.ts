/**
 * VersionEdit: one record of the manifest, the change from one version of the tree's file set to
 * the next (after leveldb's db/version_edit.cc). An edit names the files it adds and deletes per
 * level and, optionally, new values of the counters a reopened tree needs: the WAL to replay from,
 * the next file number, the last sequence number, the compaction pointers, `userMeta`, an
 * opaque blob its owner persists atomically with a flush (the Raft state tree keeps its applied
 * index there), and the final synced size of a WAL a clean close finished (after RocksDB's
 * WalAddition in db/wal_edit.h, track_and_verify_wals_in_manifest): open then tells a WAL a disk
 * cut short from one a crash tore.
 *
 * Encoding (docs/format/manifest.md): a sequence of tagged fields, each a varint tag followed by
 * the field; fields in ascending tag order. An unknown tag, a truncated field or a value out of
 * range is a CorruptionError naming the manifest and the record's offset: an edit is decoded only
 * from a record whose checksum matched, so a bad field means a bug or a newer writer, never a torn
 * write, and it must not be skipped.
 */
import { CorruptionError } from '../errors.js';
import { assert, unreachable } from '../util/assert.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { compareInternalKeys, SEQUENCE_MAX, TRAILER_BYTES } from '../format/internal-key.js';

/** The version of the edit encoding, recorded in the first record of every manifest. */
export const MANIFEST_FORMAT_VERSION = 1;
/** Levels an edit may name (0..LEVEL_COUNT_MAX-1); a tree uses numLevels <= this. */
export const LEVEL_COUNT_MAX = 16;
/** Largest userMeta blob. It is rewritten into every manifest snapshot, so it stays small. */
export const USER_META_BYTES_MAX = 64 * 1024;
/** Largest internal key a manifest may hold (a 64 KiB user key plus trailer, with room to spare). */
export const MANIFEST_KEY_BYTES_MAX = 1024 * 1024;

/** What the manifest records about one SSTable. Keys are internal keys (src/format/internal-key.ts). */
export interface FileMetadata {
  number: number;
  /** File size in bytes. */
  size: number;
  smallest: Uint8Array;
  largest: Uint8Array;
  entryCount: number;
  deletionCount: number;
  smallestSeq: number;
  largestSeq: number;
}

export interface LevelFile {
  level: number;
  file: FileMetadata;
}

export const TAG_FORMAT_VERSION = 1;
export const TAG_LOG_NUMBER = 2;
export const TAG_NEXT_FILE_NUMBER = 3;
export const TAG_LAST_SEQUENCE = 4;
export const TAG_USER_META = 5;
export const TAG_COMPACT_POINTER = 6;
export const TAG_DELETED_FILE = 7;
export const TAG_NEW_FILE = 8;
export const TAG_WAL_SIZE = 9;

/** A finished WAL's final size, synced before it was recorded (TAG_WAL_SIZE). */
export interface WalSize {
  /** The WAL's file number. */
  number: number;
  /** Its size in bytes once synced: nothing was appended to it afterwards. */
  sizeBytes: number;
}

export class VersionEdit {
  /** Present (= MANIFEST_FORMAT_VERSION) in the first record of a manifest: its full snapshot. */
  formatVersion: number | undefined;
  /** WALs numbered below this hold nothing the tables do not; recovery replays from it. */
  logNumber: number | undefined;
  nextFileNumber: number | undefined;
  lastSequence: number | undefined;
  userMeta: Uint8Array | undefined;
  readonly compactPointers: { level: number; key: Uint8Array }[] = [];
  readonly deletedFiles: { level: number; number: number }[] = [];
  readonly newFiles: LevelFile[] = [];
  readonly walSizes: WalSize[] = [];

  setLogNumber(n: number): void {
    this.logNumber = n;
  }

  setNextFileNumber(n: number): void {
    this.nextFileNumber = n;
  }

  setLastSequence(sequence: number): void {
    this.lastSequence = sequence;
  }

  setUserMeta(meta: Uint8Array): void {
    this.userMeta = meta;
  }

  setCompactPointer(level: number, key: Uint8Array): void {
    this.compactPointers.push({ level, key });
  }

  deleteFile(level: number, number: number): void {
    this.deletedFiles.push({ level, number });
  }

  addFile(level: number, file: FileMetadata): void {
    this.newFiles.push({ level, file });
  }

  /** Records that WAL `number` is finished and synced at `sizeBytes` (a clean close). */
  recordWalSize(number: number, sizeBytes: number): void {
    this.walSizes.push({ number, sizeBytes });
  }

  /** True when the edit changes nothing. */
  isEmpty(): boolean {
    return (
      this.formatVersion === undefined && this.logNumber === undefined && this.nextFileNumber === undefined &&
      this.lastSequence === undefined && this.userMeta === undefined && this.compactPointers.length === 0 &&
      this.deletedFiles.length === 0 && this.newFiles.length === 0 && this.walSizes.length === 0
    );
  }

  encode(): Uint8Array {
    // Checked on the way out as on the way in: an edit we could not decode must never be written.
    validateEdit(this, (what) => unreachable(`encoding an invalid version edit: ${what}`));
    let n = 0;
    const scalar = (v: number | undefined): void => {
      if (v !== undefined) n += 1 + varintLength(v);
    };
    scalar(this.formatVersion);
    scalar(this.logNumber);
    scalar(this.nextFileNumber);
    scalar(this.lastSequence);
    if (this.userMeta !== undefined) n += 1 + varintLength(this.userMeta.length) + this.userMeta.length;
    for (const p of this.compactPointers) n += 1 + varintLength(p.level) + varintLength(p.key.length) + p.key.length;
    for (const d of this.deletedFiles) n += 1 + varintLength(d.level) + varintLength(d.number);
    for (const { level, file: f } of this.newFiles) {
      n += 1 + varintLength(level) + varintLength(f.number) + varintLength(f.size) + varintLength(f.entryCount) +
        varintLength(f.deletionCount) + varintLength(f.smallestSeq) + varintLength(f.largestSeq) +
        varintLength(f.smallest.length) + f.smallest.length + varintLength(f.largest.length) + f.largest.length;
    }
    for (const w of this.walSizes) n += 1 + varintLength(w.number) + varintLength(w.sizeBytes);
    const out = new Uint8Array(n);
    let pos = 0;
    const putScalar = (tag: number, v: number | undefined): void => {
      if (v === undefined) return;
      pos = putVarint(out, pos, tag);
      pos = putVarint(out, pos, v);
    };
    const putBytes = (b: Uint8Array): void => {
      pos = putVarint(out, pos, b.length);
      out.set(b, pos);
      pos += b.length;
    };
    putScalar(TAG_FORMAT_VERSION, this.formatVersion);
    putScalar(TAG_LOG_NUMBER, this.logNumber);
    putScalar(TAG_NEXT_FILE_NUMBER, this.nextFileNumber);
    putScalar(TAG_LAST_SEQUENCE, this.lastSequence);
    if (this.userMeta !== undefined) {
      pos = putVarint(out, pos, TAG_USER_META);
      putBytes(this.userMeta);
    }
    for (const p of this.compactPointers) {
      pos = putVarint(out, pos, TAG_COMPACT_POINTER);
      pos = putVarint(out, pos, p.level);
      putBytes(p.key);
    }
    for (const d of this.deletedFiles) {
      pos = putVarint(out, pos, TAG_DELETED_FILE);
      pos = putVarint(out, pos, d.level);
      pos = putVarint(out, pos, d.number);
    }
    for (const { level, file: f } of this.newFiles) {
      pos = putVarint(out, pos, TAG_NEW_FILE);
      pos = putVarint(out, pos, level);
      for (const v of [f.number, f.size, f.entryCount, f.deletionCount, f.smallestSeq, f.largestSeq]) pos = putVarint(out, pos, v);
      putBytes(f.smallest);
      putBytes(f.largest);
    }
    for (const w of this.walSizes) {
      pos = putVarint(out, pos, TAG_WAL_SIZE);
      pos = putVarint(out, pos, w.number);
      pos = putVarint(out, pos, w.sizeBytes);
    }
    assert(pos === n, () => `version edit encoded ${pos} bytes, sized ${n}`);
    return out;
  }

  /**
   * Decodes and fully validates one edit. `fileName` and `offset` (of the record in the manifest)
   * name the place in the CorruptionError thrown for anything malformed.
   */
  static decode(payload: Uint8Array, fileName?: string, offset?: number): VersionEdit {
    const edit = new VersionEdit();
    const fail = (what: string, at: number): never => {
      throw new CorruptionError(`bad version edit: ${what} at payload byte ${at}`, fileName, offset);
    };
    const vr: VarintRead = { value: 0, pos: 0 };
    const end = payload.length;
    let pos = 0;
    const readNumber = (what: string): number => {
      const at = pos;
      getVarint(payload, pos, end, vr);
      if (vr.pos < 0) fail(`truncated or overlong varint in ${what}`, at);
      if (!Number.isSafeInteger(vr.value)) fail(`${what} ${vr.value} is not a safe integer`, at);
      pos = vr.pos;
      return vr.value;
    };
    const readLevel = (): number => {
      const at = pos;
      const level = readNumber('level');
      if (level >= LEVEL_COUNT_MAX) fail(`level ${level} is not below ${LEVEL_COUNT_MAX}`, at);
      return level;
    };
    const readBytes = (what: string, max: number): Uint8Array => {
      const at = pos;
      const len = readNumber(`${what} length`);
      if (len > max) fail(`${what} of ${len} bytes exceeds ${max}`, at);
      if (len > end - pos) fail(`${what} of ${len} bytes runs past the record's end`, at);
      const b = payload.slice(pos, pos + len);
      pos += len;
      return b;
    };
    let lastTag = 0;
    for (let i = 0; pos < end; i++) {
      assert(i <= end, 'each field consumes at least one byte');
      const tagAt = pos;
      const tag = readNumber('tag');
      // Scalars appear at most once; lists are contiguous. Both follow from ascending tag order.
      if (tag < lastTag || (tag === lastTag && tag < TAG_COMPACT_POINTER)) fail(`tag ${tag} out of order after tag ${lastTag}`, tagAt);
      lastTag = tag;
      switch (tag) {
        case TAG_FORMAT_VERSION: {
          const v = readNumber('format version');
          if (v !== MANIFEST_FORMAT_VERSION) fail(`unknown manifest format version ${v}`, tagAt);
          edit.formatVersion = v;
          break;
        }
        case TAG_LOG_NUMBER:
          edit.logNumber = readNumber('log number');
          break;
        case TAG_NEXT_FILE_NUMBER:
          edit.nextFileNumber = readNumber('next file number');
          break;
        case TAG_LAST_SEQUENCE:
          edit.lastSequence = readNumber('last sequence');
          break;
        case TAG_USER_META:
          edit.userMeta = readBytes('user meta', USER_META_BYTES_MAX);
          break;
        case TAG_COMPACT_POINTER: {
          const level = readLevel();
          edit.compactPointers.push({ level, key: readBytes('compact pointer', MANIFEST_KEY_BYTES_MAX) });
          break;
        }
        case TAG_DELETED_FILE: {
          const level = readLevel();
          edit.deletedFiles.push({ level, number: readNumber('deleted file number') });
          break;
        }
        case TAG_NEW_FILE: {
          const level = readLevel();
          const number = readNumber('file number');
          const size = readNumber('file size');
          const entryCount = readNumber('entry count');
          const deletionCount = readNumber('deletion count');
          const smallestSeq = readNumber('smallest sequence');
          const largestSeq = readNumber('largest sequence');
          const smallest = readBytes('smallest key', MANIFEST_KEY_BYTES_MAX);
          const largest = readBytes('largest key', MANIFEST_KEY_BYTES_MAX);
          edit.newFiles.push({ level, file: { number, size, smallest, largest, entryCount, deletionCount, smallestSeq, largestSeq } });
          break;
        }
        case TAG_WAL_SIZE: {
          const number = readNumber('WAL number');
          edit.walSizes.push({ number, sizeBytes: readNumber('WAL size') });
          break;
        }
        default:
          fail(`unknown tag ${tag}`, tagAt);
      }
    }
    validateEdit(edit, (what) => fail(what, end));
    return edit;
  }
}

/** Checks what no single field read can: value ranges and the relations between fields. */
function validateEdit(edit: VersionEdit, fail: (what: string) => never): void {
  if (edit.formatVersion !== undefined && edit.formatVersion !== MANIFEST_FORMAT_VERSION) fail(`format version ${edit.formatVersion}`);
  for (const v of [edit.logNumber, edit.nextFileNumber, edit.lastSequence]) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) fail(`counter ${v} is not a non-negative safe integer`);
  }
  if (edit.lastSequence !== undefined && edit.lastSequence > SEQUENCE_MAX) fail(`last sequence ${edit.lastSequence} exceeds ${SEQUENCE_MAX}`);
  if (edit.userMeta !== undefined && edit.userMeta.length > USER_META_BYTES_MAX) fail(`user meta of ${edit.userMeta.length} bytes`);
  for (const p of edit.compactPointers) {
    if (!validLevel(p.level)) fail(`compact pointer level ${p.level}`);
    if (p.key.length < TRAILER_BYTES || p.key.length > MANIFEST_KEY_BYTES_MAX) fail(`compact pointer of ${p.key.length} bytes is not an internal key`);
  }
  for (const d of edit.deletedFiles) {
    if (!validLevel(d.level) || !Number.isSafeInteger(d.number) || d.number < 0) fail(`deleted file ${d.number} at level ${d.level}`);
  }
  for (const { level, file: f } of edit.newFiles) {
    const name = `new file ${f.number}`;
    if (!validLevel(level)) fail(`${name} at level ${level}`);
    for (const v of [f.number, f.size, f.entryCount, f.deletionCount, f.smallestSeq, f.largestSeq]) {
      if (!Number.isSafeInteger(v) || v < 0) fail(`${name} has field ${v}, not a non-negative safe integer`);
    }
    if (f.smallest.length < TRAILER_BYTES || f.largest.length < TRAILER_BYTES) fail(`${name} has a key shorter than an internal key's trailer`);
    if (f.smallest.length > MANIFEST_KEY_BYTES_MAX || f.largest.length > MANIFEST_KEY_BYTES_MAX) fail(`${name} has a key over ${MANIFEST_KEY_BYTES_MAX} bytes`);
    if (compareInternalKeys(f.smallest, f.largest) > 0) fail(`${name} has smallest key > largest key`);
    if (f.deletionCount > f.entryCount) fail(`${name} has ${f.deletionCount} deletions of ${f.entryCount} entries`);
    if (f.smallestSeq > f.largestSeq) fail(`${name} has smallest sequence ${f.smallestSeq} > largest ${f.largestSeq}`);
    if (f.largestSeq > SEQUENCE_MAX) fail(`${name} has largest sequence ${f.largestSeq} > ${SEQUENCE_MAX}`);
  }
  const walNumbers = new Set<number>();
  for (const w of edit.walSizes) {
    if (!Number.isSafeInteger(w.number) || w.number < 0 || !Number.isSafeInteger(w.sizeBytes) || w.sizeBytes < 0) {
      fail(`WAL size ${w.sizeBytes} of WAL ${w.number}`);
    }
    if (walNumbers.has(w.number)) fail(`WAL ${w.number} has two sizes`);
    walNumbers.add(w.number);
  }
}

/**
 * Applies an edit to the recorded WAL sizes (WAL number -> size in bytes), after the edit's log
 * number became `logNumber`: a size recorded for a WAL below the log number no longer applies
 * (the tables hold that WAL's data; open replays only from the log number), so it is dropped.
 * Both the running tree and recovery use this one rule, so a snapshot holds what replay would.
 */
export function applyWalSizes(sizes: Map<number, number>, edit: VersionEdit, logNumber: number): void {
  for (const w of edit.walSizes) sizes.set(w.number, w.sizeBytes);
  for (const number of sizes.keys()) if (number < logNumber) sizes.delete(number);
}

function validLevel(level: number): boolean {
  return Number.isInteger(level) && level >= 0 && level < LEVEL_COUNT_MAX;
}
