/**
 * Point search inside one data block's raw contents (docs/format/sstable.md "Block contents"),
 * after leveldb's table/block.cc Block::Iter::Seek: a binary search over the restart points (a
 * restart entry stores its whole key, so it is compared where it lies in the block), then a walk
 * over the entries of one restart interval. The walk compares each key where it lies too: the
 * bytes a key shares with its predecessor are, up to what that one shares with the target, the
 * target's own (the prefix-compressed search of B-trees with prefix truncation, e.g. Bayer and
 * Unterauer, "Prefix B-trees", 1977). Only when that does not decide a key (a key sharing bytes
 * of its predecessor's trailer) does it walk the interval again rebuilding each key in a scratch
 * buffer, as Block::Iter does. Nothing is copied but the found key; a hit's value is a range of
 * the block itself.
 *
 * What must hold: the block's checksum was checked when it was read, but its layout is not trusted.
 * Every restart offset and entry length is checked against the block's bounds as it is read, and a
 * failure is a CorruptionError naming the file and the block's offset, so a damaged block can
 * neither read out of bounds nor loop (each entry advances at least 3 bytes). Key order inside the
 * block is not checked here (leveldb's point read does not check it either); the whole-block decode
 * of iterators and of `check` (src/engine/js/block.ts) does.
 */
import { CorruptionError } from '../errors.js';
import { compareInternalRange, compareTrailers, TRAILER_BYTES } from '../format/internal-key.js';
import { getFixed32, getVarint, type VarintRead } from '../util/bytes.js';

const varint: VarintRead = { value: 0, pos: 0 };

/** What BlockSeeker's walk found: the entry, none (every entry is below the target), or a key it cannot judge without rebuilding keys. */
const WALK_FOUND = 0;
const WALK_PAST = 1;
const WALK_NEEDS_KEYS = 2;


export class BlockSeeker {
  /** The found entry's internal key is key[0..keyLength): valid until the next seek. */
  key = new Uint8Array(64);
  keyLength = 0;
  /** The found entry's value is block[valueStart..valueEnd) of the block last searched. */
  valueStart = 0;
  valueEnd = 0;

  /** Set by readHeader(): the entry's lengths and where its unshared key bytes start. */
  private shared = 0;
  private nonShared = 0;
  private valueLength = 0;

  /**
   * Finds the first entry of `block` (contents, without the trailer) whose internal key is >=
   * target[0..targetLength). Returns false if every entry is below it. `file` and `offset` (the
   * block's) name a failure.
   */
  seek(block: Uint8Array, target: Uint8Array, targetLength: number, file: string, offset: number): boolean {
    const contentsBytes = block.length;
    if (contentsBytes < 4) throw new CorruptionError(`block contents of ${contentsBytes} bytes`, file, offset);
    const numRestarts = getFixed32(block, contentsBytes - 4);
    if (numRestarts < 1 || numRestarts > (contentsBytes - 4) / 4) {
      throw new CorruptionError(`block restart count ${numRestarts} does not fit`, file, offset + contentsBytes - 4);
    }
    const restartsStart = contentsBytes - 4 - 4 * numRestarts;

    // The last restart point whose key is < target (or restart 0): the target's entry is at or
    // after it, and before the next restart point's key, which is >= target.
    let lo = 0;
    let hi = numRestarts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const keyStart = this.restartEntry(block, restartsStart, mid, file, offset);
      if (compareInternalRange(block, keyStart, keyStart + this.nonShared, target, 0, targetLength) < 0) lo = mid;
      else hi = mid - 1;
    }

    const start = getFixed32(block, restartsStart + 4 * lo);
    const found = this.walk(block, start, restartsStart, target, targetLength, file, offset);
    if (found !== WALK_NEEDS_KEYS) return found === WALK_FOUND;
    return this.walkRebuilding(block, start, restartsStart, target, targetLength, file, offset);
  }

  /**
   * The walk over one restart interval from `pos`, without rebuilding keys: an entry's key is the
   * target's first `shared` bytes followed by its own bytes in the block whenever it shares no more
   * with the previous key than that key shares with the target (`matched`). An entry sharing more
   * is below the target, unseen, when the previous key differs from the target at byte `matched`
   * inside both user keys (`split`): it has the previous key's byte there. Otherwise (the previous
   * key was decided by its length or trailer: a prefix of the target, or the target's user key at
   * a newer sequence) the bytes it shares are not known here: WALK_NEEDS_KEYS, and the caller
   * walks again rebuilding keys. Only the found entry's key is written to `key`.
   */
  private walk(
    block: Uint8Array, pos: number, restartsStart: number, target: Uint8Array, targetLength: number, file: string, offset: number,
  ): number {
    let keyLength = 0;
    let matched = 0;
    let split = true;
    const targetUserLength = targetLength - TRAILER_BYTES;
    // Each entry advances pos by at least its 3 header bytes (readHeader), so the loop ends.
    while (pos < restartsStart) {
      pos = this.entryHeader(block, pos, restartsStart, keyLength, file, offset);
      const shared = this.shared;
      const nonShared = this.nonShared;
      keyLength = shared + nonShared;
      const valueEnd = pos + nonShared + this.valueLength;
      const userLength = keyLength - TRAILER_BYTES;
      if (shared > matched || shared > userLength) {
        if (!split || shared > userLength) return WALK_NEEDS_KEYS;
        pos = valueEnd;
        continue;
      }
      // Key byte i (i >= shared) is block[delta + i]; bytes below shared are the target's.
      const delta = pos - shared;
      const limit = userLength < targetUserLength ? userLength : targetUserLength;
      let m = shared;
      while (m < limit && block[delta + m] === target[m]) m++;
      matched = m;
      split = m < limit;
      // User keys first (bytes, then length); equal user keys: the trailers, newest first.
      const c = split ? block[delta + m]! - target[m]!
        : userLength !== targetUserLength ? userLength - targetUserLength
        : compareTrailers(block, delta + keyLength, target, targetLength);
      if (c >= 0) {
        this.setFound(block, pos, target, shared, keyLength);
        this.valueStart = pos + nonShared;
        this.valueEnd = valueEnd;
        return WALK_FOUND;
      }
      pos = valueEnd;
    }
    return WALK_PAST;
  }

  /** key = target[0..shared) + block[pos..pos + keyLength - shared). */
  private setFound(block: Uint8Array, pos: number, target: Uint8Array, shared: number, keyLength: number): void {
    if (keyLength > this.key.length) this.key = new Uint8Array(Math.max(keyLength, 2 * this.key.length));
    const key = this.key;
    for (let i = 0; i < shared; i++) key[i] = target[i]!;
    const delta = pos - shared;
    for (let i = shared; i < keyLength; i++) key[i] = block[delta + i]!;
    this.keyLength = keyLength;
  }

  /**
   * The walk over one restart interval from `pos`, each key rebuilt from its shared prefix in
   * `key`; it checks each entry as it reads it (a restart entry shares nothing: keyLength is 0),
   * and an offset past the entries ends it at once (the caller reports the key as missing).
   */
  private walkRebuilding(
    block: Uint8Array, pos: number, restartsStart: number, target: Uint8Array, targetLength: number, file: string, offset: number,
  ): boolean {
    let keyLength = 0;
    // Leading bytes the previous key shares with the target's user key: the next key shares
    // min(shared, matched) of them too, so its comparison starts there (most of a key is shared).
    let matched = 0;
    const targetUserLength = targetLength - TRAILER_BYTES;
    while (pos < restartsStart) {
      pos = this.entryHeader(block, pos, restartsStart, keyLength, file, offset);
      const shared = this.shared;
      const nonShared = this.nonShared;
      keyLength = shared + nonShared;
      if (keyLength > this.key.length) {
        const grown = new Uint8Array(Math.max(keyLength, 2 * this.key.length));
        grown.set(this.key.subarray(0, shared));
        this.key = grown;
      }
      const key = this.key;
      for (let i = 0; i < nonShared; i++) key[shared + i] = block[pos + i]!;
      pos += nonShared;
      const valueEnd = pos + this.valueLength;
      const userLength = keyLength - TRAILER_BYTES;
      const limit = userLength < targetUserLength ? userLength : targetUserLength;
      let m = shared < matched ? shared : matched;
      if (m > limit) m = limit;
      while (m < limit && key[m] === target[m]) m++;
      matched = m;
      const c = m < limit ? key[m]! - target[m]!
        : userLength !== targetUserLength ? userLength - targetUserLength
        : compareInternalRange(key, 0, keyLength, target, 0, targetLength);
      if (c >= 0) {
        this.keyLength = keyLength;
        this.valueStart = pos;
        this.valueEnd = valueEnd;
        return true;
      }
      pos = valueEnd;
    }
    return false;
  }

  /**
   * Restart entry `r`: checks its offset and header; returns where its key bytes start (the whole
   * key: a restart entry shares nothing), with the key length in `nonShared`.
   */
  private restartEntry(block: Uint8Array, restartsStart: number, r: number, file: string, offset: number): number {
    const entryPos = getFixed32(block, restartsStart + 4 * r);
    if (entryPos >= restartsStart) {
      throw new CorruptionError(`restart offset ${entryPos} is past the entries`, file, offset + restartsStart + 4 * r);
    }
    const keyStart = this.readHeader(block, entryPos, restartsStart, file, offset);
    if (this.shared !== 0) throw new CorruptionError(`restart entry shares ${this.shared} bytes`, file, offset + entryPos);
    if (this.nonShared < TRAILER_BYTES) {
      throw new CorruptionError(`key of ${this.nonShared} bytes is shorter than its trailer`, file, offset + entryPos);
    }
    return keyStart;
  }

  /**
   * readHeader() of a walked entry, also checking that it shares no more than the `prevKeyLength`
   * bytes of the key before it (0 at a restart point) and that its key holds a trailer.
   */
  private entryHeader(block: Uint8Array, pos: number, end: number, prevKeyLength: number, file: string, offset: number): number {
    const after = this.readHeader(block, pos, end, file, offset);
    const shared = this.shared;
    if (shared > prevKeyLength) throw new CorruptionError(`entry shares ${shared} bytes of a ${prevKeyLength}-byte key`, file, offset + pos);
    const keyLength = shared + this.nonShared;
    if (keyLength < TRAILER_BYTES) throw new CorruptionError(`key of ${keyLength} bytes is shorter than its trailer`, file, offset + pos);
    return after;
  }

  /**
   * Reads the three length varints of the entry at `pos` into shared/nonShared/valueLength and
   * checks that its key bytes and value end by `end`; returns the position after the header.
   */
  private readHeader(block: Uint8Array, pos: number, end: number, file: string, offset: number): number {
    const entryPos = pos;
    // Lengths below 128 are one byte: the common case skips the general varint reader.
    let shared = block[pos]!;
    if (shared < 0x80) pos++;
    else {
      pos = readVarint(block, pos, end, file, offset + entryPos);
      shared = varint.value;
    }
    let nonShared = block[pos]!;
    if (nonShared < 0x80) pos++;
    else {
      pos = readVarint(block, pos, end, file, offset + entryPos);
      nonShared = varint.value;
    }
    let valueLength = block[pos]!;
    if (valueLength < 0x80) pos++;
    else {
      pos = readVarint(block, pos, end, file, offset + entryPos);
      valueLength = varint.value;
    }
    // A one-byte read at or past `end` is a header running into the restart array.
    if (pos > end) throw new CorruptionError('bad entry header varint', file, offset + entryPos);
    if (nonShared > end - pos || valueLength > end - pos - nonShared) {
      throw new CorruptionError('entry runs past the restart array', file, offset + entryPos);
    }
    this.shared = shared;
    this.nonShared = nonShared;
    this.valueLength = valueLength;
    return pos;
  }
}

/** A multi-byte varint at `pos`, ending by `end`, into `varint`; returns the position after it. */
function readVarint(block: Uint8Array, pos: number, end: number, file: string, entryOffset: number): number {
  getVarint(block, pos, end, varint);
  if (varint.pos < 0) throw new CorruptionError('bad entry header varint', file, entryOffset);
  return varint.pos;
}
