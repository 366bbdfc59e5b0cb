/**
 * WriteBatch: puts and deletes applied atomically, and their encoding as one WAL record payload
 * (after leveldb's db/write_batch.cc). Byte layout: docs/format/wal.md.
 *
 *   payload = fixed64 sequence ++ fixed32 count ++ op*
 *   op      = kind byte (1 put, 0 delete) ++ varint keyLength ++ key [++ varint valueLength ++ value]
 *
 * Op i of the batch gets sequence number `sequence + i`, so later ops of one batch shadow earlier
 * ones on the same key. The batch appends its ops into one growable buffer (doubling), with the
 * 12-byte header reserved at its front, so encode() is a header write and one copy.
 */
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import { INVARIANTS, assert } from '../util/assert.js';
import { copyRange, getFixed32, getFixed64, getVarint, putFixed32, putFixed64, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { KIND_DELETE, KIND_PUT, SEQUENCE_MAX } from '../format/internal-key.js';

/** fixed64 sequence + fixed32 count. */
export const BATCH_HEADER_BYTES = 12;
/** Smallest op: kind byte and a one-byte key length. Bounds the count a payload can claim. */
const OP_BYTES_MIN = 2;
const EMPTY: Uint8Array = new Uint8Array(0);

function checkBytes(what: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Uint8Array`);
}

function checkSequence(sequence: number, count: number): void {
  assert(Number.isSafeInteger(sequence) && sequence >= 0, () => `bad batch sequence ${sequence}`);
  assert(sequence + Math.max(count, 1) - 1 <= SEQUENCE_MAX, () => `batch sequence ${sequence} + ${count} ops passes SEQUENCE_MAX`);
}

/** Where each op of a batch lies in its bytes (WriteBatch.layOut): slot i is op i. */
export interface BatchOpLayout {
  kinds: Uint8Array;
  keyStarts: Int32Array;
  keyEnds: Int32Array;
  valueStarts: Int32Array;
  valueEnds: Int32Array;
}

export function newBatchOpLayout(slots: number): BatchOpLayout {
  return {
    kinds: new Uint8Array(slots),
    keyStarts: new Int32Array(slots),
    keyEnds: new Int32Array(slots),
    valueStarts: new Int32Array(slots),
    valueEnds: new Int32Array(slots),
  };
}

export class WriteBatch {
  /** Encoded payload is buf[0..endBytes); the header bytes are filled in by encode(). */
  private buf = new Uint8Array(64);
  private endBytes = BATCH_HEADER_BYTES;
  private opCount = 0;

  put(key: Uint8Array, value: Uint8Array): this {
    checkBytes('key', key);
    checkBytes('value', value);
    const pos = this.reserve(1 + varintLength(key.length) + key.length + varintLength(value.length) + value.length);
    this.endBytes = writeOp(this.buf, pos, KIND_PUT, key, value);
    this.opCount++;
    return this;
  }

  delete(key: Uint8Array): this {
    checkBytes('key', key);
    const pos = this.reserve(1 + varintLength(key.length) + key.length);
    this.endBytes = writeOp(this.buf, pos, KIND_DELETE, key, EMPTY);
    this.opCount++;
    return this;
  }

  get count(): number {
    return this.opCount;
  }

  /** Bytes of the encoded payload (header included): what the WAL record will carry. */
  get byteSize(): number {
    return this.endBytes;
  }

  clear(): void {
    this.endBytes = BATCH_HEADER_BYTES;
    this.opCount = 0;
  }

  /** The WAL payload of this batch with its first op at `sequence`. A fresh copy. */
  encode(sequence: number): Uint8Array {
    checkSequence(sequence, this.opCount);
    putFixed64(this.buf, 0, sequence);
    putFixed32(this.buf, 8, this.opCount);
    const out = this.buf.slice(0, this.endBytes);
    if (INVARIANTS) decodeBatch(out, '(encoded batch)', 0, () => {});
    return out;
  }

  /**
   * encode() without the copy: a view of the batch's own buffer, valid until the batch changes.
   * REQUIRES: nobody changes the batch while the view is in use (the tree owns the batches it logs).
   */
  encodeView(sequence: number): Uint8Array {
    checkSequence(sequence, this.opCount);
    putFixed64(this.buf, 0, sequence);
    putFixed32(this.buf, 8, this.opCount);
    const out = this.buf.subarray(0, this.endBytes);
    if (INVARIANTS) decodeBatch(out, '(encoded batch)', 0, () => {});
    return out;
  }

  /** An independent copy of this batch. */
  clone(): WriteBatch {
    const copy = new WriteBatch();
    copy.buf = this.buf.slice(0, Math.max(this.endBytes, BATCH_HEADER_BYTES));
    copy.endBytes = this.endBytes;
    copy.opCount = this.opCount;
    return copy;
  }

  /**
   * Visits the ops in order (kind is KIND_PUT or KIND_DELETE; a delete's value is empty). The
   * arrays are views into the batch: valid until it is changed.
   */
  forEach(visit: (kind: number, key: Uint8Array, value: Uint8Array) => void): void {
    const buf = this.buf;
    this.forEachRange((_i, kind, keyStart, keyEnd, valueStart, valueEnd) => {
      visit(kind, buf.subarray(keyStart, keyEnd), kind === KIND_PUT ? buf.subarray(valueStart, valueEnd) : EMPTY);
    });
  }

  /**
   * The batch's buffer: the encoded ops from byte BATCH_HEADER_BYTES (forEachRange says where each
   * lies). Valid until the batch changes; not to be written.
   */
  get bytes(): Uint8Array {
    return this.buf;
  }

  /**
   * Visits the ops in order by where their key and value lie in `bytes` (no view per op; a
   * delete's value range is empty).
   */
  forEachRange(visit: (index: number, kind: number, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number) => void): void {
    const buf = this.buf;
    const r: VarintRead = { value: 0, pos: 0 };
    let pos = BATCH_HEADER_BYTES;
    for (let i = 0; i < this.opCount; i++) {
      const kind = buf[pos]!;
      getVarint(buf, pos + 1, this.endBytes, r);
      const keyStart = r.pos;
      const keyEnd = r.pos + r.value;
      pos = keyEnd;
      let valueStart = pos;
      if (kind === KIND_PUT) {
        getVarint(buf, pos, this.endBytes, r);
        valueStart = r.pos;
        pos = r.pos + r.value;
      }
      visit(i, kind, keyStart, keyEnd, valueStart, pos);
    }
    assert(pos === this.endBytes, () => `batch walk ended at ${pos}, not ${this.endBytes}`);
  }

  /** forEachRange() into `out`'s slots 0..count-1 (REQUIRES: that many slots). */
  layOut(out: BatchOpLayout): void {
    assert(out.kinds.length >= this.opCount, () => `a layout of ${out.kinds.length} slots for ${this.opCount} ops`);
    const { kinds, keyStarts, keyEnds, valueStarts, valueEnds } = out;
    this.forEachRange((i, kind, keyStart, keyEnd, valueStart, valueEnd) => {
      kinds[i] = kind;
      keyStarts[i] = keyStart;
      keyEnds[i] = keyEnd;
      valueStarts[i] = valueStart;
      valueEnds[i] = valueEnd;
    });
  }

  /** Makes room for `bytes` more; returns where they go. */
  private reserve(bytes: number): number {
    const need = this.endBytes + bytes;
    if (need > this.buf.length) {
      let cap = this.buf.length;
      while (cap < need) cap *= 2;
      const grown = new Uint8Array(cap);
      grown.set(this.buf.subarray(0, this.endBytes));
      this.buf = grown;
    }
    return this.endBytes;
  }
}

function writeOp(buf: Uint8Array, pos: number, kind: number, key: Uint8Array, value: Uint8Array): number {
  buf[pos++] = kind;
  pos = putVarint(buf, pos, key.length);
  copyRange(key, 0, buf, pos, key.length);
  pos += key.length;
  if (kind === KIND_PUT) {
    pos = putVarint(buf, pos, value.length);
    copyRange(value, 0, buf, pos, value.length);
    pos += value.length;
  }
  return pos;
}

/** The payload of a one-op batch, without building a WriteBatch (the single put/delete path). */
export function encodeSingle(sequence: number, kind: number, key: Uint8Array, value: Uint8Array): Uint8Array {
  assert(kind === KIND_PUT || kind === KIND_DELETE, () => `bad op kind ${kind}`);
  checkSequence(sequence, 1);
  const opBytes = 1 + varintLength(key.length) + key.length + (kind === KIND_PUT ? varintLength(value.length) + value.length : 0);
  const out = new Uint8Array(BATCH_HEADER_BYTES + opBytes);
  putFixed64(out, 0, sequence);
  putFixed32(out, 8, 1);
  const end = writeOp(out, BATCH_HEADER_BYTES, kind, key, value);
  assert(end === out.length, () => `single op wrote ${end} of ${out.length} bytes`);
  return out;
}

function corrupt(fileName: string, offset: number, why: string, at: number): never {
  throw new CorruptionError(`write batch: ${why} at payload byte ${at}`, fileName, offset);
}

/**
 * Decodes a batch payload read from `fileName` (its record at `offset`), calling `visit` for each
 * op with its own sequence number. The whole payload is validated before the first visit, so a
 * corrupt batch throws CorruptionError with nothing applied. Keys and values are views into
 * `payload`.
 */
export function decodeBatch(
  payload: Uint8Array,
  fileName: string,
  offset: number,
  visit: (sequence: number, kind: number, key: Uint8Array, value: Uint8Array) => void,
): { sequence: number; count: number } {
  const n = payload.length;
  if (n < BATCH_HEADER_BYTES) corrupt(fileName, offset, `payload of ${n} bytes is shorter than its header`, 0);
  const sequence = getFixed64(payload, 0);
  const count = getFixed32(payload, 8);
  if (sequence > SEQUENCE_MAX || sequence + Math.max(count, 1) - 1 > SEQUENCE_MAX) {
    corrupt(fileName, offset, `sequence ${sequence} with ${count} ops passes the sequence limit`, 0);
  }
  if (count > (n - BATCH_HEADER_BYTES) / OP_BYTES_MIN) corrupt(fileName, offset, `count ${count} does not fit in ${n} bytes`, 8);

  // Pass 1: validate every op's framing.
  const r: VarintRead = { value: 0, pos: 0 };
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (pos >= n) corrupt(fileName, offset, `ends after ${i} of ${count} ops`, pos);
    const kind = payload[pos]!;
    if (kind !== KIND_PUT && kind !== KIND_DELETE) corrupt(fileName, offset, `unknown op kind ${kind}`, pos);
    getVarint(payload, pos + 1, n, r);
    if (r.pos < 0 || r.value > n - r.pos) corrupt(fileName, offset, `bad key length in op ${i}`, pos + 1);
    pos = r.pos + r.value;
    if (kind === KIND_PUT) {
      getVarint(payload, pos, n, r);
      if (r.pos < 0 || r.value > n - r.pos) corrupt(fileName, offset, `bad value length in op ${i}`, pos);
      pos = r.pos + r.value;
    }
  }
  if (pos !== n) corrupt(fileName, offset, `${n - pos} bytes after the last of ${count} ops`, pos);

  // Pass 2: visit; the framing is known good.
  pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const kind = payload[pos]!;
    getVarint(payload, pos + 1, n, r);
    const key = payload.subarray(r.pos, r.pos + r.value);
    pos = r.pos + r.value;
    let value = EMPTY;
    if (kind === KIND_PUT) {
      getVarint(payload, pos, n, r);
      value = payload.subarray(r.pos, r.pos + r.value);
      pos = r.pos + r.value;
    }
    visit(sequence + i, kind, key, value);
  }
  return { sequence, count };
}
