/**
 * Wire frames of the node transport, version 1: length-prefixed, checksummed binary frames carrying
 * the frame type, the cluster id and the sender's node id. Byte layout: docs/format/wire.md. The
 * length-prefix-then-checksum framing follows leveldb's log records (doc/log_format.md) and etcd's
 * rafthttp message streams (a bounded, typed frame per message).
 *
 *   fixed32 frameLength | magic | version | type | fixed64 clusterId | varint senderId | payload | fixed32 crc
 *
 * `frameLength` counts everything after itself; `crc` is mask(crc32c(magic .. payload)).
 *
 * FrameDecoder turns a TCP byte stream (split anywhere, many frames per chunk) into frames with
 * bounded buffering: the length is checked against frameBytesMax before any of the body is
 * buffered, and the magic and version as soon as their bytes arrive, so garbage is refused early;
 * the buffer of a partial frame grows with the bytes that arrived, not with the announced length.
 * A decoded frame's payload is a view of bytes that belong to that frame alone (the socket's chunk
 * or a buffer allocated for the frame); nothing overwrites it later, so consumers may keep views.
 */
import { crc32c, maskCrc } from '../format/crc32c.js';
import { assert } from '../util/assert.js';
import { getFixed32, getVarint, putFixed32, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { BadFrameError } from './errors.js';

export const FRAME_MAGIC = 0xa7;
export const FRAME_VERSION = 2;
/** Bytes of the length prefix. */
export const FRAME_LENGTH_BYTES = 4;
/** magic, version, type, cluster id: the fixed part of the header after the length. */
export const FRAME_HEADER_FIXED_BYTES = 11;
export const FRAME_CRC_BYTES = 4;
/** Smallest frame after the length: fixed header, a 1-byte sender varint, empty payload, crc. */
export const FRAME_BODY_BYTES_MIN = FRAME_HEADER_FIXED_BYTES + 1 + FRAME_CRC_BYTES;
/** Default bound on a whole frame, length prefix included. A snapshot chunk carries at most 4 MiB of data (256 KiB by default). */
export const FRAME_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** Frame types of version 1. Values are stable: they are written on the wire. */
export const FrameType = {
  RAFT: 1,
  CLIENT_REQUEST: 2,
  CLIENT_RESPONSE: 3,
  JOIN_REQUEST: 4,
  JOIN_RESPONSE: 5,
  SNAPSHOT_CHUNK: 6,
  SNAPSHOT_ACK: 7,
  HELLO: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const FRAME_TYPE_NAMES: readonly (string | undefined)[] = [
  undefined, 'RAFT', 'CLIENT_REQUEST', 'CLIENT_RESPONSE', 'JOIN_REQUEST', 'JOIN_RESPONSE', 'SNAPSHOT_CHUNK', 'SNAPSHOT_ACK', 'HELLO',
];

export function frameTypeName(t: number): string {
  return FRAME_TYPE_NAMES[t] ?? `unknown(${t})`;
}

export function isFrameType(t: number): t is FrameType {
  return t >= FrameType.RAFT && t <= FrameType.HELLO;
}

/**
 * Frames that only members of the same cluster exchange: their cluster id must equal the
 * receiver's, and 0 ("no cluster yet") is never accepted. The others (client and join frames) may
 * carry 0, because a client or a node being joined does not know the cluster yet.
 */
export function isPeerFrameType(t: FrameType): boolean {
  return t === FrameType.RAFT || t === FrameType.SNAPSHOT_CHUNK || t === FrameType.SNAPSHOT_ACK || t === FrameType.HELLO;
}

/** A cluster id: an unsigned 64-bit integer; 0 means "no cluster yet". */
export type ClusterId = bigint;
export const NO_CLUSTER: ClusterId = 0n;
const U64_MAX = (1n << 64n) - 1n;

/** Normalizes a cluster id given as a bigint or as its 8 wire bytes (fixed64 little-endian). */
export function toClusterId(id: bigint | Uint8Array): ClusterId {
  if (typeof id === 'bigint') {
    assert(id >= 0n && id <= U64_MAX, () => `cluster id out of range: ${id}`);
    return id;
  }
  assert(id.length === 8, () => `cluster id must be 8 bytes, got ${id.length}`);
  return readClusterId(id, 0);
}

function readClusterId(buf: Uint8Array, pos: number): ClusterId {
  return BigInt(getFixed32(buf, pos)) | (BigInt(getFixed32(buf, pos + 4)) << 32n);
}

function writeClusterId(buf: Uint8Array, pos: number, id: ClusterId): void {
  putFixed32(buf, pos, Number(id & 0xffff_ffffn));
  putFixed32(buf, pos + 4, Number(id >> 32n));
}

export interface DecodedFrame {
  type: FrameType;
  clusterId: ClusterId;
  /** The sending node's id; 0 for a client. */
  senderId: number;
  /** A view of bytes owned by this frame alone. */
  payload: Uint8Array;
  /** Bytes the frame took on the wire, length prefix included. */
  frameBytes: number;
}

/** Wire size of a frame with this sender and payload length. */
export function frameBytesFor(senderId: number, payloadBytes: number): number {
  return FRAME_LENGTH_BYTES + FRAME_HEADER_FIXED_BYTES + varintLength(senderId) + payloadBytes + FRAME_CRC_BYTES;
}

/** Encodes one whole frame (length prefix included). */
export function encodeFrame(type: FrameType, clusterId: ClusterId, senderId: number, payload: Uint8Array): Uint8Array {
  assert(isFrameType(type), () => `unknown frame type ${type}`);
  assert(Number.isSafeInteger(senderId) && senderId >= 0, () => `bad sender id ${senderId}`);
  const total = frameBytesFor(senderId, payload.length);
  assert(total - FRAME_LENGTH_BYTES <= 0xffff_ffff, 'frame longer than a fixed32 length');
  const out = new Uint8Array(total);
  putFixed32(out, 0, total - FRAME_LENGTH_BYTES);
  out[4] = FRAME_MAGIC;
  out[5] = FRAME_VERSION;
  out[6] = type;
  writeClusterId(out, 7, clusterId);
  let pos = putVarint(out, FRAME_LENGTH_BYTES + FRAME_HEADER_FIXED_BYTES, senderId);
  out.set(payload, pos);
  pos += payload.length;
  putFixed32(out, pos, maskCrc(crc32c(out.subarray(FRAME_LENGTH_BYTES, pos))));
  assert(pos + FRAME_CRC_BYTES === total, 'frame size mismatch');
  return out;
}

/**
 * Parses a complete frame body (the bytes after the length prefix). Throws BadFrameError on any
 * mismatch. The returned payload is a view of `body`.
 */
export function parseFrameBody(body: Uint8Array): DecodedFrame {
  const n = body.length;
  if (n < FRAME_BODY_BYTES_MIN) throw new BadFrameError(`frame too short: ${n} bytes after the length`);
  checkMagicAndVersion(body, n);
  const crcPos = n - FRAME_CRC_BYTES;
  const expected = getFixed32(body, crcPos);
  const actual = maskCrc(crc32c(body.subarray(0, crcPos)));
  if (expected !== actual) {
    throw new BadFrameError(`frame checksum mismatch: stored 0x${expected.toString(16)}, computed 0x${actual.toString(16)}`);
  }
  const type = body[2]!;
  if (!isFrameType(type)) throw new BadFrameError(`unknown frame type ${type}`);
  const clusterId = readClusterId(body, 3);
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(body, FRAME_HEADER_FIXED_BYTES, crcPos, r);
  if (r.pos < 0 || !Number.isSafeInteger(r.value)) throw new BadFrameError('bad sender id varint');
  return {
    type,
    clusterId,
    senderId: r.value,
    payload: body.subarray(r.pos, crcPos),
    frameBytes: n + FRAME_LENGTH_BYTES,
  };
}

/** Checks the magic and version bytes among the first `have` bytes of a frame body. */
function checkMagicAndVersion(body: Uint8Array, have: number): void {
  if (have >= 1 && body[0] !== FRAME_MAGIC) throw new BadFrameError(`bad frame magic 0x${body[0]!.toString(16)}`);
  if (have >= 2 && body[1] !== FRAME_VERSION) throw new BadFrameError(`unknown frame version ${body[1]}`);
}

/** First allocation for a frame body assembled across chunks. */
const BODY_BUFFER_BYTES_INITIAL = 16 * 1024;

/**
 * Incremental decoder of a frame stream. Usage: push(chunk), then call next() until it returns
 * undefined, then push the next chunk. It buffers at most one partial frame (bounded by
 * frameBytesMax) plus a partial length prefix. After it has thrown, the stream is unusable: every
 * later call throws the same error (a stream cannot resynchronize after garbage).
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkPos = 0;
  private readonly lengthBuf = new Uint8Array(FRAME_LENGTH_BYTES);
  private lengthHave = 0;
  /** Length of the current frame's body once its prefix is read; -1 before. */
  private bodyBytes = -1;
  /** Body being assembled across chunks (undefined when the body is taken whole from a chunk). */
  private body: Uint8Array | undefined;
  private bodyHave = 0;
  private failure: BadFrameError | undefined;

  constructor(frameBytesMax: number = FRAME_BYTES_MAX_DEFAULT) {
    assert(
      Number.isSafeInteger(frameBytesMax) && frameBytesMax >= FRAME_LENGTH_BYTES + FRAME_BODY_BYTES_MIN,
      () => `bad frameBytesMax ${frameBytesMax}`,
    );
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes held for a frame not yet complete (what the bound applies to). */
  get bufferedBytes(): number {
    return this.lengthHave + this.bodyHave;
  }

  /** Bytes allocated for the partial frame: grows with what arrived, not with what was announced. */
  get reservedBytes(): number {
    return this.lengthBuf.length + (this.body?.length ?? 0);
  }

  /**
   * REQUIRES: the previous chunk was consumed (next() returned undefined). The decoder keeps views
   * of `chunk` (payloads): the caller must not overwrite it afterwards. Socket chunks are fresh.
   */
  push(chunk: Uint8Array): void {
    if (this.failure !== undefined) throw this.failure;
    assert(this.chunkPos === this.chunk.length, 'FrameDecoder.push before the previous chunk was consumed');
    // A plain Uint8Array view of a Node Buffer: payloads must not be Buffers, whose slice() is a
    // view rather than a copy, a trap for whoever keeps entry data.
    this.chunk = chunk.constructor === Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.chunkPos = 0;
  }

  /** The next complete frame, or undefined when more bytes are needed. Throws BadFrameError. */
  next(): DecodedFrame | undefined {
    if (this.failure !== undefined) throw this.failure;
    try {
      return this.step();
    } catch (e) {
      if (e instanceof BadFrameError) {
        this.failure = e;
        this.chunkPos = this.chunk.length;
      }
      throw e;
    }
  }

  private step(): DecodedFrame | undefined {
    const chunk = this.chunk;
    if (this.bodyBytes < 0) {
      const avail = chunk.length - this.chunkPos;
      if (this.lengthHave === 0 && avail >= FRAME_LENGTH_BYTES) {
        this.setBodyBytes(getFixed32(chunk, this.chunkPos));
        this.chunkPos += FRAME_LENGTH_BYTES;
      } else {
        const take = Math.min(FRAME_LENGTH_BYTES - this.lengthHave, avail);
        this.lengthBuf.set(chunk.subarray(this.chunkPos, this.chunkPos + take), this.lengthHave);
        this.lengthHave += take;
        this.chunkPos += take;
        if (this.lengthHave < FRAME_LENGTH_BYTES) return undefined;
        this.lengthHave = 0;
        this.setBodyBytes(getFixed32(this.lengthBuf, 0));
      }
    }
    const need = this.bodyBytes;
    const avail = chunk.length - this.chunkPos;
    if (this.body === undefined && avail >= need) {
      // Common case: the whole body is in this chunk; take a view, no copy.
      const body = chunk.subarray(this.chunkPos, this.chunkPos + need);
      this.chunkPos += need;
      this.bodyBytes = -1;
      return parseFrameBody(body);
    }
    if (avail === 0) return undefined;
    const take = Math.min(need - this.bodyHave, avail);
    this.reserve(this.bodyHave + take);
    assert(this.body !== undefined, 'frame body buffer missing');
    this.body.set(chunk.subarray(this.chunkPos, this.chunkPos + take), this.bodyHave);
    this.bodyHave += take;
    this.chunkPos += take;
    checkMagicAndVersion(this.body, this.bodyHave);
    if (this.bodyHave < need) return undefined;
    const body = this.body;
    assert(body.length === need, 'frame body buffer not at its final size');
    this.body = undefined;
    this.bodyHave = 0;
    this.bodyBytes = -1;
    return parseFrameBody(body);
  }

  /**
   * Grows the body buffer to hold `bytes`, doubling up to the frame's length: memory follows the
   * bytes that actually arrived, so a peer that announces a large frame and sends a few bytes of
   * it holds a few kilobytes, not frameBytesMax.
   */
  private reserve(bytes: number): void {
    const capacity = this.body?.length ?? 0;
    if (bytes <= capacity) return;
    const grown = Math.min(this.bodyBytes, Math.max(bytes, capacity * 2, BODY_BUFFER_BYTES_INITIAL));
    const body = new Uint8Array(grown);
    if (this.body !== undefined) body.set(this.body.subarray(0, this.bodyHave));
    this.body = body;
  }

  private setBodyBytes(n: number): void {
    // Checked before a single body byte is buffered: an oversized length never allocates.
    if (n + FRAME_LENGTH_BYTES > this.frameBytesMax) {
      throw new BadFrameError(`frame length ${n} exceeds the maximum of ${this.frameBytesMax - FRAME_LENGTH_BYTES}`);
    }
    if (n < FRAME_BODY_BYTES_MIN) throw new BadFrameError(`frame length ${n} is below the minimum of ${FRAME_BODY_BYTES_MIN}`);
    this.bodyBytes = n;
  }
}

/**
 * Bound on next() calls that one chunk can satisfy: a frame takes at least
 * FRAME_LENGTH_BYTES + FRAME_BODY_BYTES_MIN bytes, one frame may complete from earlier chunks, and
 * the last call returns undefined.
 */
export function framesInChunkMax(chunkBytes: number): number {
  return Math.ceil(chunkBytes / (FRAME_LENGTH_BYTES + FRAME_BODY_BYTES_MIN)) + 2;
}
