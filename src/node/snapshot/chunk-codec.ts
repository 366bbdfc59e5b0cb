/**
 * The bytes of a snapshot transfer (docs/format/raft-log.md, "Snapshot chunk"): SNAPSHOT_CHUNK
 * payloads (a piece of one file, with the snapshot's metadata and two CRC32Cs: of the payload and of
 * the data) and SNAPSHOT_ACK payloads (the position the receiver expects next).
 *
 * SNAPSHOT_ACK payload, version 1:
 *   byte version = 1 | byte status (1 = next, 2 = complete, 3 = failed) | varint id length, id bytes
 *   | varint fileIndex | varint offset
 *
 * What must hold: nothing a peer sends can make a decoder allocate or loop without bound (every
 * count and length is checked against a limit before it is used); a chunk that fails a check is a
 * typed error (BadSnapshotChunkError, BadFrameError), never a crash.
 */
import { crc32c, maskCrc, unmaskCrc } from '../../format/crc32c.js';
import { LsmraftError } from '../../errors.js';
import type { SnapshotMeta } from '../../raft/types.js';
import { assert } from '../../util/assert.js';
import { fromUtf8, getFixed32, getVarint, putFixed32, putVarint, utf8, varintLength, type VarintRead } from '../../util/bytes.js';
import { BadFrameError } from '../errors.js';
import { CONF_MEMBERS_MAX, isSafeName } from './checkpoint.js';

export const SNAPSHOT_CHUNK_VERSION = 1;
export const SNAPSHOT_ACK_VERSION = 1;
/** Default payload of one chunk. */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** Largest chunk payload a receiver accepts (a decoder bound, well under any frame limit). */
export const SNAPSHOT_CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/** Bounds on what a chunk may announce, so garbage cannot make the receiver allocate or loop. */
export const SNAPSHOT_FILES_MAX = 100_000;
export const SNAPSHOT_FILE_BYTES_MAX = 2 ** 45;

/** A chunk that fails its checksum or does not parse. Code KV_ERR_BAD_FRAME. */
export class BadSnapshotChunkError extends LsmraftError {
  constructor(why: string) {
    super('KV_ERR_BAD_FRAME', `bad snapshot chunk: ${why}`);
  }
}

export interface SnapshotChunk {
  snapshotId: string;
  meta: SnapshotMeta;
  totalFiles: number;
  fileIndex: number;
  fileName: string;
  fileSize: number;
  fileCrc32c: number;
  /** Offset of `data` in the file. */
  offset: number;
  data: Uint8Array;
  /** CRC32C of `data` (unmasked). */
  crc32c: number;
  /** The last chunk of the last file. */
  done: boolean;
}

/** Where a transfer stands: the next chunk the receiver accepts. */
export interface ChunkPosition {
  snapshotId: string;
  fileIndex: number;
  offset: number;
}

export function encodeSnapshotChunk(c: SnapshotChunk): Uint8Array {
  const id = utf8(c.snapshotId);
  const name = utf8(c.fileName);
  const ints1 = [c.meta.index, c.meta.term, c.meta.conf.voters.length, ...c.meta.conf.voters, c.meta.conf.learners.length, ...c.meta.conf.learners, c.totalFiles, c.fileIndex];
  let size = 1 + 4 + varintLength(id.length) + id.length;
  for (const v of ints1) size += varintLength(v);
  size += varintLength(name.length) + name.length + varintLength(c.fileSize) + 4 + varintLength(c.offset) + 1 + 4;
  size += varintLength(c.data.length) + c.data.length;
  const out = new Uint8Array(size);
  out[0] = SNAPSHOT_CHUNK_VERSION;
  let pos = 5;
  pos = putVarint(out, pos, id.length);
  out.set(id, pos);
  pos += id.length;
  for (const v of ints1) pos = putVarint(out, pos, v);
  pos = putVarint(out, pos, name.length);
  out.set(name, pos);
  pos += name.length;
  pos = putVarint(out, pos, c.fileSize);
  pos = putFixed32(out, pos, c.fileCrc32c);
  pos = putVarint(out, pos, c.offset);
  out[pos++] = c.done ? 1 : 0;
  pos = putFixed32(out, pos, c.crc32c);
  pos = putVarint(out, pos, c.data.length);
  out.set(c.data, pos);
  pos += c.data.length;
  assert(pos === size, 'snapshot chunk size');
  putFixed32(out, 1, maskCrc(crc32c(out.subarray(5))));
  return out;
}

/** Parses and checks a chunk: its frame checksum, its data checksum, and that its fields agree. */
export function decodeSnapshotChunk(b: Uint8Array): SnapshotChunk {
  const bad = (why: string): never => {
    throw new BadSnapshotChunkError(why);
  };
  if (b.length < 5) bad(`too short (${b.length} bytes)`);
  if (b[0] !== SNAPSHOT_CHUNK_VERSION) bad(`unknown version ${b[0]}`);
  if (unmaskCrc(getFixed32(b, 1)) !== crc32c(b.subarray(5))) bad('checksum mismatch');
  const r: VarintRead = { value: 0, pos: 5 };
  const varint = (what: string, max: number): number => {
    getVarint(b, r.pos, b.length, r);
    if (r.pos < 0 || r.value > max) bad(`bad ${what}`);
    return r.value;
  };
  const bytes = (what: string, max: number): Uint8Array => {
    const n = varint(`${what} length`, max);
    if (r.pos + n > b.length) bad(`${what} runs past the end`);
    const out = b.subarray(r.pos, r.pos + n);
    r.pos += n;
    return out;
  };
  const fixed32 = (what: string): number => {
    if (r.pos + 4 > b.length) bad(`${what} runs past the end`);
    const v = getFixed32(b, r.pos);
    r.pos += 4;
    return v;
  };
  const snapshotId = fromUtf8(bytes('snapshot id', 128));
  const index = varint('index', Number.MAX_SAFE_INTEGER);
  const term = varint('term', Number.MAX_SAFE_INTEGER);
  const ids = (what: string): number[] => {
    const n = varint(`${what} count`, CONF_MEMBERS_MAX);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(varint(what, Number.MAX_SAFE_INTEGER));
    return out;
  };
  const voters = ids('voter');
  const learners = ids('learner');
  const totalFiles = varint('file count', SNAPSHOT_FILES_MAX);
  const fileIndex = varint('file index', SNAPSHOT_FILES_MAX);
  const fileName = fromUtf8(bytes('file name', 128));
  const fileSize = varint('file size', SNAPSHOT_FILE_BYTES_MAX);
  const fileCrc32c = fixed32('file checksum');
  const offset = varint('offset', SNAPSHOT_FILE_BYTES_MAX);
  if (r.pos >= b.length) bad('flags run past the end');
  const flags = b[r.pos++]!;
  if (flags > 1) bad(`unknown flags ${flags}`);
  const dataCrc = fixed32('data checksum');
  const data = bytes('data', SNAPSHOT_CHUNK_BYTES_MAX);
  if (r.pos !== b.length) bad(`${b.length - r.pos} trailing bytes`);
  const chunk: SnapshotChunk = {
    snapshotId, meta: { index, term, conf: { voters, learners } }, totalFiles, fileIndex, fileName, fileSize, fileCrc32c,
    offset, data, crc32c: dataCrc, done: flags === 1,
  };
  checkChunk(chunk);
  return chunk;
}

/** The checks a receiver makes of any chunk, decoded or handed over in memory. */
export function checkChunk(c: SnapshotChunk): void {
  const bad = (why: string): never => {
    throw new BadSnapshotChunkError(why);
  };
  if (!isSafeName(c.snapshotId)) bad('snapshot id has characters outside [A-Za-z0-9._-]');
  if (!isSafeName(c.fileName)) bad('file name has characters outside [A-Za-z0-9._-]');
  if (c.totalFiles < 1 || c.totalFiles > SNAPSHOT_FILES_MAX || c.fileIndex >= c.totalFiles) bad(`file index ${c.fileIndex} of ${c.totalFiles}`);
  if (c.data.length > SNAPSHOT_CHUNK_BYTES_MAX) bad(`data of ${c.data.length} bytes`);
  if (c.offset + c.data.length > c.fileSize) bad(`data [${c.offset}, ${c.offset + c.data.length}) past the file size ${c.fileSize}`);
  if (c.data.length === 0 && c.fileSize !== 0) bad('empty chunk of a non-empty file');
  const lastOfFile = c.offset + c.data.length === c.fileSize;
  if (c.done !== (lastOfFile && c.fileIndex === c.totalFiles - 1)) bad('done flag disagrees with the position');
  if (crc32c(c.data) !== c.crc32c) bad(`data checksum mismatch at file ${c.fileIndex} offset ${c.offset}`);
}

export type SnapshotAck =
  | { status: 'next'; position: ChunkPosition }
  | { status: 'complete'; position: ChunkPosition }
  | { status: 'failed'; position: ChunkPosition };

const ACK_STATUS_CODES = { next: 1, complete: 2, failed: 3 } as const;
const ACK_STATUS_BY_CODE = [undefined, 'next', 'complete', 'failed'] as const;

export function encodeSnapshotAck(ack: SnapshotAck): Uint8Array {
  const id = utf8(ack.position.snapshotId);
  const { fileIndex, offset } = ack.position;
  const out = new Uint8Array(2 + varintLength(id.length) + id.length + varintLength(fileIndex) + varintLength(offset));
  out[0] = SNAPSHOT_ACK_VERSION;
  out[1] = ACK_STATUS_CODES[ack.status];
  let pos = putVarint(out, 2, id.length);
  out.set(id, pos);
  pos += id.length;
  pos = putVarint(out, pos, fileIndex);
  pos = putVarint(out, pos, offset);
  assert(pos === out.length, 'snapshot ack size');
  return out;
}

export function decodeSnapshotAck(b: Uint8Array): SnapshotAck {
  const bad = (why: string): never => {
    throw new BadFrameError(`malformed snapshot ack: ${why}`);
  };
  if (b.length < 5 || b[0] !== SNAPSHOT_ACK_VERSION) bad('bad version or length');
  const status = ACK_STATUS_BY_CODE[b[1]!];
  if (status === undefined) return bad(`unknown status ${b[1]}`);
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(b, 2, b.length, r);
  if (r.pos < 0 || r.value > 128 || r.pos + r.value > b.length) bad('bad id');
  const snapshotId = fromUtf8(b.subarray(r.pos, r.pos + r.value));
  getVarint(b, r.pos + r.value, b.length, r);
  if (r.pos < 0) bad('bad file index');
  const fileIndex = r.value;
  getVarint(b, r.pos, b.length, r);
  if (r.pos !== b.length) bad('bad offset or trailing bytes');
  return { status, position: { snapshotId, fileIndex, offset: r.value } };
}
