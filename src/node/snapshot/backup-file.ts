/**
 * The backup file (docs/format/backup.md): one state-tree checkpoint (checkpoint.ts) in one file,
 * as etcd's `etcdctl snapshot save` writes one bbolt file with a SHA-256 appended. A header lists
 * the checkpoint's files (name, size, CRC32C) and the snapshot's index and term; then each file's
 * bytes in chunks of at most chunkBytes, each chunk preceded by the masked CRC32C of its data; a
 * footer holds the total length and the SHA-256 of everything before the hash.
 *
 * Chunks are exactly the ones ChunkCursor (sender.ts) produces with the same chunkBytes (an empty
 * file is one empty chunk), so a client writes each pulled chunk as one record.
 *
 * What must hold: BackupFileWriter checks each chunk's CRC32C before writing it and each file's
 * whole CRC32C at its end; readBackupFile checks every byte (header CRC, chunk CRCs, file CRCs,
 * length, SHA-256) and reports damage as a CorruptionError (code LSM_ERR_CORRUPTION) naming the
 * offset in the backup file where the damaged record starts. Nothing in a damaged file makes the
 * reader allocate or loop without bound: every count and length is checked against a limit first.
 */
import { createHash, type Hash } from 'node:crypto';
import { dirname } from 'node:path';
import { crc32c, maskCrc, unmaskCrc } from '../../format/crc32c.js';
import { CorruptionError } from '../../errors.js';
import type { FileSystem, WritableFile } from '../../lsm/fs.js';
import { assert } from '../../util/assert.js';
import { equalBytes, fromUtf8, utf8 } from '../../util/bytes.js';
import { isSafeName, type SnapshotFile } from './checkpoint.js';
import { SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_FILE_BYTES_MAX, SNAPSHOT_FILES_MAX } from './chunk-codec.js';

/** Version 2 adds the padding before the footer; version 1 files (no padding) are still read. */
export const BACKUP_FORMAT_VERSION = 2;
/**
 * A version-2 file's length is BACKUP_ALIGN_REMAINDER modulo BACKUP_ALIGN_BYTES, as an etcd
 * snapshot's (a bbolt file of whole pages plus a SHA-256): etcdctl 3.4 refuses a Snapshot stream of
 * another length ("sha256 checksum not found"; etcd's client/v3/snapshot/v3_snapshot.go hasChecksum),
 * and the etcd API streams this file (src/etcd/snapshot-stream.ts).
 */
export const BACKUP_ALIGN_BYTES = 512;
export const BACKUP_ALIGN_REMAINDER = 32;
export const BACKUP_MAGIC = utf8('lsmrbkup');
export const BACKUP_FOOTER_MAGIC = utf8('lsmrbend');
/** Fixed part of the header: magic, version, chunk bytes, index, term, file count. */
const HEADER_FIXED_BYTES = 36;
/** Per file entry beyond its name: name length (1), size (8), crc32c (4). */
const FILE_ENTRY_FIXED_BYTES = 13;
const FILE_NAME_BYTES_MAX = 128;
/** Each chunk: masked CRC32C (4) then its data. */
const CHUNK_CRC_BYTES = 4;
/** Footer: magic (8), total length (8), SHA-256 (32). */
export const BACKUP_FOOTER_BYTES = 48;
const SHA256_BYTES = 32;

export interface BackupHeader {
  /** The format version (default BACKUP_FORMAT_VERSION; a reader reports the file's). */
  version?: number;
  chunkBytes: number;
  index: number;
  term: number;
  files: SnapshotFile[];
}

/** Chunks file `size` takes: ceil(size / chunkBytes), and one (empty) for an empty file. */
export function chunksOf(size: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(size / chunkBytes));
}

/** Zero bytes between the last chunk (ending at `bodyBytes`) and the footer. */
export function backupPadBytes(h: BackupHeader, bodyBytes: number): number {
  if ((h.version ?? BACKUP_FORMAT_VERSION) < 2) return 0;
  const r = (bodyBytes + BACKUP_FOOTER_BYTES) % BACKUP_ALIGN_BYTES;
  return (BACKUP_ALIGN_REMAINDER - r + BACKUP_ALIGN_BYTES) % BACKUP_ALIGN_BYTES;
}

/** Where the chunks end: the header's length plus every chunk's. */
function bodyBytesOf(h: BackupHeader, headerBytes: number): number {
  let n = headerBytes;
  for (const f of h.files) n += f.size + CHUNK_CRC_BYTES * chunksOf(f.size, h.chunkBytes);
  return n;
}

/** Total length of a backup file with this header. */
export function backupFileBytes(h: BackupHeader, headerBytes: number): number {
  const body = bodyBytesOf(h, headerBytes);
  return body + backupPadBytes(h, body) + BACKUP_FOOTER_BYTES;
}

function checkHeader(h: BackupHeader): void {
  assert(Number.isInteger(h.chunkBytes) && h.chunkBytes >= 1 && h.chunkBytes <= SNAPSHOT_CHUNK_BYTES_MAX, 'backup chunkBytes');
  assert(h.files.length >= 1 && h.files.length <= SNAPSHOT_FILES_MAX, 'backup file count');
  for (const f of h.files) assert(isSafeName(f.name) && f.size <= SNAPSHOT_FILE_BYTES_MAX, () => `backup file ${f.name}`);
}

export function encodeBackupHeader(h: BackupHeader): Uint8Array {
  checkHeader(h);
  const names = h.files.map((f) => utf8(f.name));
  let size = HEADER_FIXED_BYTES + 4;
  for (const n of names) size += FILE_ENTRY_FIXED_BYTES + n.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out.set(BACKUP_MAGIC, 0);
  v.setUint32(8, h.version ?? BACKUP_FORMAT_VERSION, true);
  v.setUint32(12, h.chunkBytes, true);
  v.setBigUint64(16, BigInt(h.index), true);
  v.setBigUint64(24, BigInt(h.term), true);
  v.setUint32(32, h.files.length, true);
  let pos = HEADER_FIXED_BYTES;
  h.files.forEach((f, i) => {
    const name = names[i]!;
    out[pos++] = name.length;
    out.set(name, pos);
    pos += name.length;
    v.setBigUint64(pos, BigInt(f.size), true);
    v.setUint32(pos + 8, f.crc32c >>> 0, true);
    pos += 12;
  });
  v.setUint32(pos, maskCrc(crc32c(out.subarray(0, pos))), true);
  assert(pos + 4 === size, 'backup header size');
  return out;
}

/**
 * Parses a header from the first bytes of a backup file. `read(pos, length)` returns the file's
 * bytes (fewer at its end). Returns the header and its length in bytes.
 */
export function decodeBackupHeader(read: (pos: number, length: number) => Uint8Array, path: string): { header: BackupHeader; headerBytes: number } {
  // The header is one record: until its checksum is checked, any field may be the damaged one,
  // so every error names the header's offset, 0 (a file too short for its fixed part names its length).
  const bad = (why: string, offset = 0): never => {
    throw new CorruptionError(`backup header: ${why}`, path, offset);
  };
  const fixed = read(0, HEADER_FIXED_BYTES);
  if (fixed.length < HEADER_FIXED_BYTES) bad(`truncated: the file has ${fixed.length} bytes`, fixed.length);
  if (!equalBytes(fixed.subarray(0, 8), BACKUP_MAGIC)) bad('not a backup file (bad magic)');
  const fv = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
  const version = fv.getUint32(8, true);
  if (version < 1 || version > BACKUP_FORMAT_VERSION) bad(`unknown format version ${version}`);
  const fileCount = fv.getUint32(32, true);
  if (fileCount < 1 || fileCount > SNAPSHOT_FILES_MAX) bad(`bad file count ${fileCount}`);
  // The largest header this count allows; read that much (or to the end) and parse within it.
  const bytesMax = HEADER_FIXED_BYTES + fileCount * (FILE_ENTRY_FIXED_BYTES + FILE_NAME_BYTES_MAX) + 4;
  const b = read(0, bytesMax);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const files: SnapshotFile[] = [];
  let pos = HEADER_FIXED_BYTES;
  for (let i = 0; i < fileCount; i++) {
    if (pos + 1 > b.length) bad(`truncated in file entry ${i}`);
    const nameLength = b[pos]!;
    if (nameLength < 1 || nameLength > FILE_NAME_BYTES_MAX) bad(`file entry ${i}: bad name length ${nameLength}`);
    if (pos + 1 + nameLength + 12 > b.length) bad(`truncated in file entry ${i}`);
    const name = fromUtf8(b.subarray(pos + 1, pos + 1 + nameLength));
    if (!isSafeName(name)) bad(`file entry ${i}: bad name`);
    const size = v.getBigUint64(pos + 1 + nameLength, true);
    if (size > BigInt(SNAPSHOT_FILE_BYTES_MAX)) bad(`file entry ${i}: size ${size} too large`);
    files.push({ name, size: Number(size), crc32c: v.getUint32(pos + 1 + nameLength + 8, true) });
    pos += 1 + nameLength + 12;
  }
  if (pos + 4 > b.length) bad('truncated before the header checksum');
  if (unmaskCrc(v.getUint32(pos, true)) !== crc32c(b.subarray(0, pos))) bad('checksum mismatch');
  const chunkBytes = fv.getUint32(12, true);
  if (chunkBytes < 1 || chunkBytes > SNAPSHOT_CHUNK_BYTES_MAX) bad(`bad chunk size ${chunkBytes}`);
  const index = fv.getBigUint64(16, true);
  const term = fv.getBigUint64(24, true);
  if (index > BigInt(Number.MAX_SAFE_INTEGER) || term > BigInt(Number.MAX_SAFE_INTEGER)) bad('index or term out of range');
  return { header: { version, chunkBytes, index: Number(index), term: Number(term), files }, headerBytes: pos + 4 };
}

export function encodeBackupFooter(totalBytes: number, sha256: Uint8Array): Uint8Array {
  assert(sha256.length === SHA256_BYTES, 'sha256 length');
  const out = new Uint8Array(BACKUP_FOOTER_BYTES);
  out.set(BACKUP_FOOTER_MAGIC, 0);
  new DataView(out.buffer).setBigUint64(8, BigInt(totalBytes), true);
  out.set(sha256, 16);
  return out;
}

function chunkCrcBytes(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_CRC_BYTES);
  new DataView(out.buffer).setUint32(0, maskCrc(crc32c(data)), true);
  return out;
}

/**
 * Encodes a backup file as a sequence of byte pieces, chunk by chunk, holding nothing but the
 * running SHA-256 and file CRC: BackupFileWriter writes the pieces to a file, the etcd API's
 * Snapshot RPC streams them (src/etcd/snapshot-stream.ts).
 */
export class BackupEncoder {
  private readonly hash: Hash = createHash('sha256');
  private bytesOut = 0;
  private fileIndex = 0;
  private offset = 0;
  private fileCrc = 0;
  private finished = false;
  /** The encoded header (the file's first piece). */
  readonly headerBytes: Uint8Array;
  /** Length of the whole file. */
  readonly totalBytes: number;

  constructor(readonly header: BackupHeader) {
    this.headerBytes = this.take(encodeBackupHeader(header));
    this.totalBytes = backupFileBytes(header, this.headerBytes.length);
  }

  /** Where the next chunk starts: the file index and the offset in that file. */
  get position(): { fileIndex: number; offset: number } {
    return { fileIndex: this.fileIndex, offset: this.offset };
  }

  get done(): boolean {
    return this.fileIndex >= this.header.files.length;
  }

  /** Bytes encoded so far. */
  get bytes(): number {
    return this.bytesOut;
  }

  private take(b: Uint8Array): Uint8Array {
    this.hash.update(b);
    this.bytesOut += b.length;
    return b;
  }

  /**
   * The pieces of the next chunk (its CRC, then its data): `data` must be the next
   * min(chunkBytes, rest) bytes of the current file and `dataCrc32c` their CRC32C (as a chunk of
   * the transfer carries it). A file whose bytes do not add up to its listed CRC32C is a
   * CorruptionError naming `path` (the node's file changed under it).
   */
  chunk(data: Uint8Array, dataCrc32c: number, path: string): [Uint8Array, Uint8Array] {
    assert(!this.done && !this.finished, 'backup chunk past the last file');
    const f = this.header.files[this.fileIndex]!;
    const length = Math.min(this.header.chunkBytes, f.size - this.offset);
    assert(data.length === length, () => `backup chunk of ${data.length} bytes, expected ${length}`);
    if (crc32c(data) !== dataCrc32c) throw new CorruptionError(`chunk of ${f.name} at ${this.offset} fails its checksum`, path, this.bytesOut);
    const pieces: [Uint8Array, Uint8Array] = [this.take(chunkCrcBytes(data)), this.take(data)];
    this.fileCrc = crc32c(data, this.fileCrc);
    this.offset += length;
    if (this.offset < f.size) return pieces;
    if (this.fileCrc !== f.crc32c) throw new CorruptionError(`file ${f.name} fails its checksum`, path, this.bytesOut);
    this.fileIndex++;
    this.offset = 0;
    this.fileCrc = 0;
    return pieces;
  }

  /** The padding and footer (the file's last piece) and the file's SHA-256 (hex). */
  finish(): { footer: Uint8Array; sha256: string } {
    assert(this.done && !this.finished, 'backup finished before its last chunk');
    this.finished = true;
    const pad = backupPadBytes(this.header, this.bytesOut);
    const head = encodeBackupFooter(this.totalBytes, new Uint8Array(SHA256_BYTES)).subarray(0, 16);
    const footer = new Uint8Array(pad + BACKUP_FOOTER_BYTES);
    footer.set(head, pad);
    this.take(footer.subarray(0, pad + 16));
    const sha = new Uint8Array(this.hash.digest());
    footer.set(sha, pad + 16);
    this.bytesOut += sha.length;
    assert(this.bytesOut === this.totalBytes, 'backup length');
    return { footer, sha256: Buffer.from(sha).toString('hex') };
  }
}

/**
 * Writes a backup file: `<path>.tmp`, then each chunk in order, the footer, fsync, rename over
 * `path`, fsync of the directory (a crash leaves either no file at `path` or a complete one).
 */
export class BackupFileWriter {
  private readonly enc: BackupEncoder;
  private finished = false;

  private constructor(
    private readonly fs: FileSystem,
    private readonly path: string,
    private readonly temp: string,
    private readonly out: WritableFile,
    readonly header: BackupHeader,
  ) {
    this.enc = new BackupEncoder(header);
    out.append(this.enc.headerBytes);
  }

  static create(fs: FileSystem, path: string, header: BackupHeader): BackupFileWriter {
    const temp = `${path}.tmp`;
    return new BackupFileWriter(fs, path, temp, fs.create(temp), header);
  }

  /** Where the next chunk starts: the file index and the offset in that file. */
  get position(): { fileIndex: number; offset: number } {
    return this.enc.position;
  }

  get done(): boolean {
    return this.enc.done;
  }

  /** Appends the next chunk (BackupEncoder.chunk). */
  appendChunk(data: Uint8Array, dataCrc32c: number): void {
    for (const piece of this.enc.chunk(data, dataCrc32c, this.temp)) this.out.append(piece);
  }

  /** Footer, fsync, rename, directory fsync. Returns the file's length and SHA-256 (hex). */
  async finish(): Promise<{ bytes: number; sha256: string }> {
    assert(!this.finished, 'backup finished twice');
    const { footer, sha256 } = this.enc.finish();
    this.finished = true;
    this.out.append(footer);
    try {
      await this.out.sync();
    } finally {
      this.out.close();
    }
    this.fs.rename(this.temp, this.path);
    await this.fs.syncDir(dirname(this.path));
    return { bytes: this.enc.totalBytes, sha256 };
  }

  /** Gives up: closes and deletes the temporary file. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.out.close();
    if (this.fs.exists(this.temp)) this.fs.remove(this.temp);
  }
}

export interface BackupFileSink {
  /** The header, checked, before any data. */
  header(h: BackupHeader): void;
  /** The next piece of file `fileIndex` (in order, from offset 0); checked before the call. */
  data(fileIndex: number, data: Uint8Array): void;
  /** File `fileIndex` is complete and matches its size and CRC32C. */
  fileDone(fileIndex: number): Promise<void>;
}

/**
 * Reads and checks a whole backup file, handing each file's bytes to `sink` as it goes. Throws a
 * CorruptionError naming the offset of the first damaged record (a truncated file names its
 * length). The sink's files are only trustworthy once this resolves: the SHA-256 comes last.
 */
export async function readBackupFile(
  fs: FileSystem, path: string, sink: BackupFileSink,
): Promise<BackupHeader & { bytes: number; sha256: string }> {
  const f = fs.openRead(path);
  try {
    const size = f.size();
    const read = (pos: number, length: number): Uint8Array => f.read(pos, Math.max(0, Math.min(length, size - pos)));
    const { header, headerBytes } = decodeBackupHeader(read, path);
    const total = backupFileBytes(header, headerBytes);
    if (size < total) throw new CorruptionError(`backup truncated: ${size} bytes of ${total}`, path, size);
    if (size > total) throw new CorruptionError(`backup has ${size - total} bytes past its end`, path, total);
    sink.header(header);
    const hash = createHash('sha256');
    hash.update(read(0, headerBytes));
    let pos = headerBytes;
    for (let i = 0; i < header.files.length; i++) {
      const file = header.files[i]!;
      let fileCrc = 0;
      // chunksOf(file.size) passes.
      for (let offset = 0, n = 0; n < chunksOf(file.size, header.chunkBytes); n++) {
        const length = Math.min(header.chunkBytes, file.size - offset);
        const record = read(pos, CHUNK_CRC_BYTES + length);
        assert(record.length === CHUNK_CRC_BYTES + length, 'backup length was checked');
        const data = record.subarray(CHUNK_CRC_BYTES);
        const stored = new DataView(record.buffer, record.byteOffset, 4).getUint32(0, true);
        if (unmaskCrc(stored) !== crc32c(data)) {
          throw new CorruptionError(`backup chunk of ${file.name} at file offset ${offset} fails its checksum`, path, pos);
        }
        hash.update(record);
        fileCrc = crc32c(data, fileCrc);
        sink.data(i, data);
        pos += record.length;
        offset += length;
      }
      if (fileCrc !== file.crc32c) throw new CorruptionError(`backup file ${file.name} fails its checksum`, path, pos);
      await sink.fileDone(i);
    }
    const pad = backupPadBytes(header, pos);
    const padding = read(pos, pad);
    const nonZero = padding.findIndex((b) => b !== 0);
    if (nonZero >= 0) throw new CorruptionError('backup padding: a byte is not zero', path, pos + nonZero);
    hash.update(padding);
    pos += pad;
    const footer = read(pos, BACKUP_FOOTER_BYTES);
    const fv = new DataView(footer.buffer, footer.byteOffset, footer.byteLength);
    if (!equalBytes(footer.subarray(0, 8), BACKUP_FOOTER_MAGIC)) throw new CorruptionError('backup footer: bad magic', path, pos);
    if (fv.getBigUint64(8, true) !== BigInt(total)) throw new CorruptionError('backup footer: length mismatch', path, pos + 8);
    hash.update(footer.subarray(0, 16));
    const sha = new Uint8Array(hash.digest());
    if (!equalBytes(sha, footer.subarray(16))) throw new CorruptionError('backup fails its SHA-256', path, pos + 16);
    return { ...header, bytes: total, sha256: Buffer.from(sha).toString('hex') };
  } finally {
    f.close();
  }
}
