/**
 * Log record framing, shared by the write-ahead log and the manifest (after leveldb's
 * doc/log_format.md, db/log_writer.cc and db/log_reader.cc). Byte layout: docs/format/wal.md.
 *
 * A log file is a sequence of 32 KiB blocks. A logical record is written as one or more physical
 * records (fragments), each a 7-byte header (masked CRC32C of type + payload, fixed16 length, type)
 * and its payload. A fragment never crosses a block boundary; a block tail shorter than a header is
 * zero-filled. The first logical record of every log file is a header record naming the format
 * version and the file kind.
 *
 * Crash model. A record is made durable by syncing after its append; anything after the last sync
 * may be cut off, zero-filled or garbled by a crash. So a damaged record is a *torn tail* when
 * nothing after it in the file starts a valid record: the reader drops it (and the partly read
 * multi-fragment record it belongs to) and reports where the valid log ends in `tornTailOffset`.
 * Damage followed by a valid record start (a FULL or FIRST fragment whose checksum holds) cannot
 * be explained by a crash during the last write: it is corruption. Fragments of a valid checksum
 * that break the FIRST/MIDDLE/LAST order are corruption too: a torn write cannot produce them.
 * In 'torn-final-record' mode (the manifest) the rule is narrower, as a manifest is appended one
 * record and one fsync at a time, so a crash can only cut its final record short (or leave the
 * file's end zero-filled, where the size was persisted before the data): damage is a torn tail only
 * if the end of the file cut the damaged fragment short, or if the file is zero from the damaged
 * fragment, or from a page boundary after it, to its end (pages whose data never reached the disk). A complete fragment with a bad checksum is a flipped bit, not a
 * torn write: corruption. In 'strict' mode any damage is corruption.
 *
 * Known limit, shared with leveldb: if the damage garbles a header's length, the reader cannot
 * find the next record in the same block; a valid record there, last in the file, is then taken
 * for part of the torn tail.
 */
import { crc32c, maskCrc, unmaskCrc } from '../format/crc32c.js';
import { CorruptionError, InvalidArgumentError, IoError } from '../errors.js';
import { INVARIANTS, assert } from '../util/assert.js';
import { concatBytes, equalBytes, getFixed32, putFixed32, utf8 } from '../util/bytes.js';
import type { HotPaths } from '../engine/types.js';
import type { FileSystem, WritableFile } from './fs.js';

export const LOG_BLOCK_BYTES = 32768;
export const LOG_HEADER_BYTES = 7;
/** The unit in which a crash may zero a file's unsynced end ('torn-final-record' mode). */
export const LOG_PAGE_BYTES = 4096;
/** Largest logical record (a write batch or a manifest edit). Bounds what a reader assembles. */
export const LOG_RECORD_BYTES_MAX = 256 * 1024 * 1024;
export const LOG_FORMAT_VERSION = 1;
/**
 * How far ahead of its appends a WAL file is extended with zeros (CreateOptions.preallocateBytes in
 * src/lsm/fs.ts): a synced write then changes no file size, and its fdatasync(2) no inode. Bounds
 * the zeros a reader scans past a crashed WAL's last record (validRecordStartsAfter).
 */
export const WAL_PREALLOCATE_BYTES = 4 * 1024 * 1024;
/** "lsmraft.log", the first bytes of every log file's header record payload. */
export const LOG_MAGIC: Uint8Array = utf8('lsmraft.log');
/** Header record payload: magic, fixed32 version, kind byte. */
export const LOG_FILE_HEADER_BYTES = LOG_MAGIC.length + 4 + 1;

/** CRC32C of data continuing from `crc` (unmasked; 0 to start): either twin's (src/engine). */
export type Crc32cFunction = (data: Uint8Array, crc: number) => number;

/** The WAL's checksum: the CRC32C of the tree's hot-path twin (see LogWriter). */
export function walChecksum(engine: HotPaths): Crc32cFunction {
  return (data, crc) => engine.crc32c(data, crc);
}

/**
 * Creates the WAL file `path` (preallocated, WAL_PREALLOCATE_BYTES at a time) and its writer, which
 * appends the header record. Durability is the caller's: sync the file and its directory.
 */
export function createWalWriter(fs: FileSystem, path: string, engine: HotPaths): LogWriter {
  return new LogWriter(fs.create(path, { preallocateBytes: WAL_PREALLOCATE_BYTES }), LogKind.Wal, walChecksum(engine));
}

/** What a log file holds; recorded in its header record and checked by the reader. */
export const LogKind = { Wal: 1, Manifest: 2 } as const;
export type LogKind = (typeof LogKind)[keyof typeof LogKind];

export const RECORD_FULL = 1;
export const RECORD_FIRST = 2;
export const RECORD_MIDDLE = 3;
export const RECORD_LAST = 4;

/**
 * How a reader treats damage (see the header): 'tolerate-torn-tail' (the WAL) drops damage nothing
 * valid follows; 'torn-final-record' (the manifest) drops only a final record cut short by the end
 * of the file or followed by nothing but zeros; 'strict' drops nothing.
 */
export type LogReadMode = 'tolerate-torn-tail' | 'torn-final-record' | 'strict';

/** Why the reader stopped at damage: the end of the file cut a fragment short, or a fragment is bad. */
type Damage = 'cut-short' | 'bad';

/** crc32c of the single type byte t: the checksum of a fragment continues from it. */
const TYPE_CRC: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) t[i] = crc32c(Uint8Array.of(i));
  return t;
})();

function kindName(kind: number): string {
  return kind === LogKind.Wal ? 'wal' : kind === LogKind.Manifest ? 'manifest' : `unknown kind ${kind}`;
}

export function encodeLogFileHeader(kind: LogKind): Uint8Array {
  const out = new Uint8Array(LOG_FILE_HEADER_BYTES);
  out.set(LOG_MAGIC, 0);
  putFixed32(out, LOG_MAGIC.length, LOG_FORMAT_VERSION);
  out[LOG_MAGIC.length + 4] = kind;
  return out;
}

/** Bytes the framing of a `payloadBytes` record takes when it starts at `blockOffset`. */
function framedEnd(payloadBytes: number, blockOffset: number): { bytes: number; blockOffset: number } {
  let bytes = 0;
  let off = blockOffset;
  let left = payloadBytes;
  let first = true;
  // Each round emits one fragment that fills the block or ends the record: bounded by the block count.
  while (first || left > 0) {
    const leftover = LOG_BLOCK_BYTES - off;
    if (leftover < LOG_HEADER_BYTES) {
      bytes += leftover;
      off = 0;
    }
    const fragment = Math.min(left, LOG_BLOCK_BYTES - off - LOG_HEADER_BYTES);
    bytes += LOG_HEADER_BYTES + fragment;
    off += LOG_HEADER_BYTES + fragment;
    left -= fragment;
    first = false;
  }
  return { bytes, blockOffset: off };
}

/**
 * Expensive self-check (INVARIANTS): re-reads framed bytes that start `blockOffset` bytes into a
 * block and checks every fragment's checksum and that the fragments carry exactly the payloads.
 */
function checkFramed(buf: Uint8Array, blockOffset: number, payloads: readonly Uint8Array[]): void {
  let pos = 0;
  let off = blockOffset;
  for (const p of payloads) {
    let got = 0;
    let first = true;
    while (first || got < p.length) {
      if (LOG_BLOCK_BYTES - off < LOG_HEADER_BYTES) {
        pos += LOG_BLOCK_BYTES - off;
        off = 0;
      }
      const len = buf[pos + 4]! | (buf[pos + 5]! << 8);
      const type = buf[pos + 6]!;
      const body = buf.subarray(pos + LOG_HEADER_BYTES, pos + LOG_HEADER_BYTES + len);
      assert(unmaskCrc(getFixed32(buf, pos)) === crc32c(body, TYPE_CRC[type]!), () => `bad checksum framed at ${pos}`);
      assert(equalBytes(body, p.subarray(got, got + len)), () => `fragment at ${pos} does not carry its payload`);
      got += len;
      pos += LOG_HEADER_BYTES + len;
      off += LOG_HEADER_BYTES + len;
      first = false;
    }
    assert(got === p.length, () => `framed ${got} of ${p.length} payload bytes`);
  }
  assert(pos === buf.length, () => `framing check ended at ${pos} of ${buf.length}`);
}

/**
 * Appends logical records to a log file. Each addRecord/addRecords call builds all its framed
 * bytes in one buffer and hands them to the file in ONE append (one write(2)), so a crash tears
 * at most the records of the last call. Durability is the caller's: sync() after the append.
 *
 * REQUIRES: `file` is empty (the writer then writes the header record) or is a log of the same
 * kind whose content ends cleanly (no torn tail), as the writer continues its block layout.
 *
 * `checksum` computes the fragments' CRC32C: the WAL passes its tree's hot-path twin, so a tree
 * on the WASM twin checksums its log there (slicing-by-16: measured ~2.7x the JS slicing-by-8 on
 * fragments of 1 KiB to 32 KiB and ~1.7x on a 130-byte single put, the copy into WASM memory
 * included); the manifest keeps the default, the JS one.
 */
export class LogWriter {
  private readonly file: WritableFile;
  private readonly checksum: Crc32cFunction;
  /** Offset of the file's end inside its current block. */
  private blockOffsetBytes: number;
  /** Set when an append failed: the file's tail is unknown, so nothing more may be written. */
  private failure: unknown = undefined;

  constructor(file: WritableFile, kind: LogKind, checksum: Crc32cFunction = crc32c) {
    this.file = file;
    this.checksum = checksum;
    const size = file.size();
    this.blockOffsetBytes = size % LOG_BLOCK_BYTES;
    if (size === 0) this.addRecord(encodeLogFileHeader(kind));
  }

  addRecord(payload: Uint8Array): void {
    this.addRecords([payload]);
  }

  /** Frames all `payloads`, in order, into one append: the group-commit write. */
  addRecords(payloads: readonly Uint8Array[]): void {
    if (this.failure !== undefined) {
      throw new IoError(`log ${this.file.path} failed an earlier append; it takes no more records`, this.failure);
    }
    let total = 0;
    let off = this.blockOffsetBytes;
    for (const p of payloads) {
      if (p.length > LOG_RECORD_BYTES_MAX) {
        throw new InvalidArgumentError(`log record of ${p.length} bytes exceeds ${LOG_RECORD_BYTES_MAX}`);
      }
      const r = framedEnd(p.length, off);
      total += r.bytes;
      off = r.blockOffset;
    }
    if (total === 0) return;
    const buf = new Uint8Array(total); // zero-filled: block trailers need no writing
    let pos = 0;
    off = this.blockOffsetBytes;
    for (const p of payloads) {
      let left = p.length;
      let src = 0;
      let first = true;
      while (first || left > 0) {
        const leftover = LOG_BLOCK_BYTES - off;
        if (leftover < LOG_HEADER_BYTES) {
          pos += leftover;
          off = 0;
        }
        const fragment = Math.min(left, LOG_BLOCK_BYTES - off - LOG_HEADER_BYTES);
        const last = fragment === left;
        const type = first ? (last ? RECORD_FULL : RECORD_FIRST) : last ? RECORD_LAST : RECORD_MIDDLE;
        const body = p.subarray(src, src + fragment);
        putFixed32(buf, pos, maskCrc(this.checksum(body, TYPE_CRC[type]!)));
        buf[pos + 4] = fragment & 0xff;
        buf[pos + 5] = fragment >>> 8;
        buf[pos + 6] = type;
        buf.set(body, pos + LOG_HEADER_BYTES);
        pos += LOG_HEADER_BYTES + fragment;
        off += LOG_HEADER_BYTES + fragment;
        src += fragment;
        left -= fragment;
        first = false;
      }
    }
    assert(pos === total, () => `framed ${pos} bytes, planned ${total}`);
    if (INVARIANTS) checkFramed(buf, this.blockOffsetBytes, payloads);
    try {
      this.file.append(buf);
    } catch (err) {
      this.failure = err;
      throw err;
    }
    this.blockOffsetBytes = off;
  }

  sync(): Promise<void> {
    return this.file.sync();
  }

  syncSync(): void {
    this.file.syncSync();
  }

  size(): number {
    return this.file.size();
  }

  /** Ends the file at size() (durably after the next sync): see WritableFile.trimPreallocation. */
  trimPreallocation(): void {
    this.file.trimPreallocation?.();
  }

  close(): void {
    this.file.close();
  }
}

/**
 * Reads the logical records of a whole log file held in memory. The constructor checks the header
 * record; next() returns each following record's payload, then null. A returned payload may be a
 * view into `data` (single-fragment records): copy it to keep it past `data`'s lifetime.
 */
export class LogReader {
  /** Where the valid log ends when a torn tail was dropped (not in 'strict' mode). */
  tornTailOffset: number | undefined = undefined;
  private readonly data: Uint8Array;
  private readonly fileName: string;
  private readonly mode: LogReadMode;
  private pos = 0;
  private done = false;
  private lastRecordOffset = -1;

  constructor(data: Uint8Array, fileName: string, kind: LogKind, mode: LogReadMode) {
    this.data = data;
    this.fileName = fileName;
    this.mode = mode;
    const header = this.readRecord();
    if (header === null) {
      if (this.tornTailOffset === undefined) {
        // An empty file: a crash right after its creation (torn) or, in strict mode, corruption.
        if (mode === 'strict') throw new CorruptionError('log file has no header record', fileName, 0);
        this.tornTailOffset = 0;
      }
      return;
    }
    this.checkHeader(header, kind);
  }

  /** File offset of the first fragment of the record next() last returned. */
  get recordOffset(): number {
    return this.lastRecordOffset;
  }

  next(): Uint8Array | null {
    return this.readRecord();
  }

  private checkHeader(header: Uint8Array, kind: LogKind): void {
    const magicBytes = LOG_MAGIC.length;
    if (header.length < magicBytes + 4 || !equalBytes(header.subarray(0, magicBytes), LOG_MAGIC)) {
      throw new CorruptionError('not an lsmraft log file (bad header record magic)', this.fileName, 0);
    }
    const version = getFixed32(header, magicBytes);
    if (version !== LOG_FORMAT_VERSION) {
      throw new CorruptionError(`unknown log format version ${version} (this build reads ${LOG_FORMAT_VERSION})`, this.fileName, 0);
    }
    if (header.length !== LOG_FILE_HEADER_BYTES) {
      throw new CorruptionError(`log header record of ${header.length} bytes, expected ${LOG_FILE_HEADER_BYTES}`, this.fileName, 0);
    }
    const found = header[magicBytes + 4]!;
    if (found !== kind) {
      throw new CorruptionError(`log file kind ${kindName(found)}, expected ${kindName(kind)}`, this.fileName, 0);
    }
  }

  private corrupt(message: string, offset: number): never {
    throw new CorruptionError(message, this.fileName, offset);
  }

  /**
   * Damage at `offset` that a torn write could explain. `recordStart` is the first fragment of the
   * logical record being assembled (-1 if none): a torn tail drops that whole record.
   */
  private damaged(why: string, damage: Damage, offset: number, recordStart: number): null {
    if (this.mode === 'strict') this.corrupt(why, offset);
    if (this.mode === 'torn-final-record' && damage === 'bad' && !this.zeroTailFrom(offset)) {
      this.corrupt(`${why} in a complete record (a torn write leaves a record cut short or zeros, never this)`, offset);
    }
    if (this.validRecordStartsAfter(offset)) this.corrupt(`${why}, and valid records follow it`, offset);
    this.tornTailOffset = recordStart >= 0 ? recordStart : offset;
    this.done = true;
    return null;
  }

  /**
   * True if the file ends in zeros a crash can explain at damage in the fragment at `offset`: from
   * the fragment on, or from a page boundary after it (a file system that persisted the file's new
   * size but not its last pages shows those pages as zeros, whole pages at a time).
   */
  private zeroTailFrom(offset: number): boolean {
    const data = this.data;
    let zerosStart = data.length;
    while (zerosStart > offset && data[zerosStart - 1] === 0) zerosStart--;
    if (zerosStart === offset) return true;
    const pageBoundary = Math.ceil(zerosStart / LOG_PAGE_BYTES) * LOG_PAGE_BYTES;
    return pageBoundary < data.length;
  }

  /** True if a FULL or FIRST fragment with a valid checksum starts anywhere after `offset`. */
  private validRecordStartsAfter(offset: number): boolean {
    const data = this.data;
    let p = offset;
    let start = true;
    // p only grows (by a header at least, or to the next block), so this ends within data.length.
    while (p < data.length) {
      const blockEnd = p - (p % LOG_BLOCK_BYTES) + LOG_BLOCK_BYTES;
      if (blockEnd - p < LOG_HEADER_BYTES) {
        p = blockEnd;
        start = false;
        continue;
      }
      if (data.length - p < LOG_HEADER_BYTES) return false;
      const len = data[p + 4]! | (data[p + 5]! << 8);
      const type = data[p + 6]!;
      const end = p + LOG_HEADER_BYTES + len;
      if (end > blockEnd || end > data.length) {
        p = blockEnd; // framing lost: the next block starts with a header
      } else {
        // Only a record start counts, so only its checksum is computed: a zero-filled tail (a
        // preallocated WAL's, src/lsm/fs.ts CreateOptions) is skipped at a few cycles a header.
        const candidate = !start && (type === RECORD_FULL || type === RECORD_FIRST);
        if (candidate && unmaskCrc(getFixed32(data, p)) === crc32c(data.subarray(p + LOG_HEADER_BYTES, end), TYPE_CRC[type]!)) return true;
        p = end;
      }
      start = false;
    }
    return false;
  }

  private readRecord(): Uint8Array | null {
    if (this.done) return null;
    const data = this.data;
    let recordStart = -1;
    let parts: Uint8Array[] = [];
    let partsBytes = 0;
    // Each round consumes a fragment or a block trailer, or returns: bounded by data.length.
    for (;;) {
      const pos = this.pos;
      const blockEnd = pos - (pos % LOG_BLOCK_BYTES) + LOG_BLOCK_BYTES;
      if (blockEnd - pos < LOG_HEADER_BYTES) {
        // Block trailer (zero fill). The writer appends it together with the next fragment, so a
        // file ending inside it (not at its end) was cut during that append.
        if (data.length >= blockEnd) {
          this.pos = blockEnd;
          continue;
        }
        if (pos < data.length) return this.damaged('log cut off in a block trailer', 'cut-short', pos, recordStart);
      }
      if (pos === data.length) {
        if (recordStart >= 0) return this.damaged('log ends inside a fragmented record', 'cut-short', pos, recordStart);
        this.done = true;
        return null;
      }
      if (data.length - pos < LOG_HEADER_BYTES) return this.damaged('truncated record header', 'cut-short', pos, recordStart);
      const len = data[pos + 4]! | (data[pos + 5]! << 8);
      const type = data[pos + 6]!;
      const end = pos + LOG_HEADER_BYTES + len;
      if (end > blockEnd) return this.damaged(`record length ${len} overruns its block`, 'bad', pos, recordStart);
      if (end > data.length) return this.damaged('truncated record', 'cut-short', pos, recordStart);
      const fragment = data.subarray(pos + LOG_HEADER_BYTES, end);
      if (unmaskCrc(getFixed32(data, pos)) !== crc32c(fragment, TYPE_CRC[type]!)) {
        return this.damaged('record checksum mismatch', 'bad', pos, recordStart);
      }
      // The checksum holds: from here on, a violation is written data, not a torn write.
      this.pos = end;
      switch (type) {
        case RECORD_FULL:
          if (recordStart >= 0) this.corrupt(`FULL record inside the fragmented record at ${recordStart}`, pos);
          this.lastRecordOffset = pos;
          return fragment;
        case RECORD_FIRST:
          if (recordStart >= 0) this.corrupt(`FIRST record inside the fragmented record at ${recordStart}`, pos);
          recordStart = pos;
          parts = [fragment];
          partsBytes = fragment.length;
          break;
        case RECORD_MIDDLE:
        case RECORD_LAST: {
          if (recordStart < 0) this.corrupt(`${type === RECORD_LAST ? 'LAST' : 'MIDDLE'} record without a FIRST`, pos);
          parts.push(fragment);
          partsBytes += fragment.length;
          if (partsBytes > LOG_RECORD_BYTES_MAX) this.corrupt(`record longer than ${LOG_RECORD_BYTES_MAX} bytes`, recordStart);
          if (type === RECORD_MIDDLE) break;
          this.lastRecordOffset = recordStart;
          return concatBytes(parts);
        }
        default:
          this.corrupt(`unknown record type ${type}`, pos);
      }
    }
  }
}
