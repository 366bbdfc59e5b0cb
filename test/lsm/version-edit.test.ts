import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { LEVEL_COUNT_MAX, VersionEdit, type FileMetadata } from '../../src/lsm/version-edit.js';
import { putVarint, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';
import { expectCorruption } from '../helpers/expect.js';

const GOLDEN = fileURLToPath(new URL('../golden/manifest-v1.bin', import.meta.url));
/** An edit of tag 9 (WAL size), added after manifest-v1.bin, which stays byte for byte as it was. */
const GOLDEN_WAL_SIZE = fileURLToPath(new URL('../golden/manifest-v1-wal-size.bin', import.meta.url));

function file(number: number, smallest: string, largest: string, seqLo: number, seqHi: number): FileMetadata {
  return {
    number,
    size: 1000 + number,
    smallest: makeInternalKey(utf8(smallest), seqHi, KIND_PUT),
    largest: makeInternalKey(utf8(largest), seqLo, KIND_DELETE),
    entryCount: 10,
    deletionCount: 2,
    smallestSeq: seqLo,
    largestSeq: seqHi,
  };
}

/** A clean close's edit (docs/format/manifest.md, tag 9): the second golden file's contents. */
function walSizeEdit(): VersionEdit {
  const e = new VersionEdit();
  e.setLogNumber(12);
  e.setNextFileNumber(14);
  e.setLastSequence(300);
  e.recordWalSize(12, 1429);
  e.recordWalSize(13, 35);
  return e;
}

/** An edit using every tag up to 8: the first golden file's contents. */
function goldenEdit(): VersionEdit {
  const e = new VersionEdit();
  e.formatVersion = 1;
  e.setLogNumber(12);
  e.setNextFileNumber(40);
  e.setLastSequence(2 ** 40 + 7);
  e.setUserMeta(Uint8Array.of(0, 0, 0, 0, 0, 0, 1, 44));
  e.setCompactPointer(1, makeInternalKey(utf8('kiwi'), 77, KIND_PUT));
  e.deleteFile(0, 7);
  e.deleteFile(2, 300);
  e.addFile(1, file(38, 'apple', 'mango', 100, 200));
  e.addFile(3, file(39, 'n', 'zebra', 1, 99));
  return e;
}

describe('VersionEdit encoding', () => {
  it('encodes the example of docs/format/manifest.md byte for byte', () => {
    const e = new VersionEdit();
    e.logNumber = 3;
    e.nextFileNumber = 9;
    e.lastSequence = 300;
    e.deleteFile(0, 4);
    expect([...e.encode()]).toEqual([0x02, 0x03, 0x03, 0x09, 0x04, 0xac, 0x02, 0x07, 0x00, 0x04]);
  });

  it('round-trips an edit with every field', () => {
    const e = goldenEdit();
    const d = VersionEdit.decode(e.encode(), 'MANIFEST-000001', 0);
    expect(d).toEqual(e);
    expect(d.encode()).toEqual(e.encode());
  });

  it('round-trips an empty edit as zero bytes', () => {
    const e = new VersionEdit();
    expect(e.isEmpty()).toBe(true);
    expect(e.encode().length).toBe(0);
    expect(VersionEdit.decode(new Uint8Array(0)).isEmpty()).toBe(true);
  });

  it('matches the golden bytes (LSMRAFT_REWRITE_GOLDEN=1 rewrites them)', () => {
    const bytes = goldenEdit().encode();
    if (process.env.LSMRAFT_REWRITE_GOLDEN === '1') writeFileSync(GOLDEN, bytes);
    const golden = new Uint8Array(readFileSync(GOLDEN));
    expect([...golden]).toEqual([...bytes]);
    expect(VersionEdit.decode(golden, 'golden', 0)).toEqual(goldenEdit());
  });

  it('encodes the WAL size example of docs/format/manifest.md byte for byte, as its golden file holds', () => {
    const bytes = walSizeEdit().encode();
    expect([...bytes]).toEqual([0x02, 0x0c, 0x03, 0x0e, 0x04, 0xac, 0x02, 0x09, 0x0c, 0x95, 0x0b, 0x09, 0x0d, 0x23]);
    if (process.env.LSMRAFT_REWRITE_GOLDEN === '1') writeFileSync(GOLDEN_WAL_SIZE, bytes);
    const golden = new Uint8Array(readFileSync(GOLDEN_WAL_SIZE));
    expect([...golden]).toEqual([...bytes]);
    const decoded = VersionEdit.decode(golden, 'golden', 0);
    expect(decoded).toEqual(walSizeEdit());
    expect(decoded.walSizes).toEqual([{ number: 12, sizeBytes: 1429 }, { number: 13, sizeBytes: 35 }]);
  });

  it('rejects a WAL given two sizes in one edit, and a WAL size past the payload', () => {
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x09, 0x0c, 0x01, 0x09, 0x0c, 0x02)));
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x09, 0x0c)));
    // After the new files, in tag order: a WAL size before a new file is out of order.
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x09, 0x0c, 0x01, 0x07, 0x00, 0x04)));
  });

  it('round-trips random edits (seeded)', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    const int = (max: number): number => Math.floor(rnd() * max);
    try {
      for (let i = 0; i < 300; i++) {
        const e = new VersionEdit();
        if (rnd() < 0.5) e.logNumber = int(2 ** 52);
        if (rnd() < 0.5) e.nextFileNumber = int(1e9);
        if (rnd() < 0.5) e.lastSequence = int(2 ** 45);
        if (rnd() < 0.3) e.userMeta = Uint8Array.from({ length: int(40) }, () => int(256));
        for (let k = int(3); k > 0; k--) e.setCompactPointer(int(7), makeInternalKey(Uint8Array.from({ length: int(10) }, () => int(256)), int(1e6), KIND_PUT));
        for (let k = int(5); k > 0; k--) e.deleteFile(int(7), int(1e6));
        for (let k = int(5); k > 0; k--) {
          const lo = int(1e6);
          e.addFile(int(7), file(int(1e6), `k${100 + int(100)}`, `k${200 + int(100)}`, lo, lo + int(1000)));
        }
        const walBase = int(1e6);
        for (let k = int(3); k > 0; k--) e.recordWalSize(walBase + k, int(2 ** 40));
        expect(VersionEdit.decode(e.encode())).toEqual(e);
      }
    } catch (err) {
      console.error(`version edit round trip failed with LSMRAFT_SEED=${seed}`);
      throw err;
    }
  });
});

describe('VersionEdit corruption', () => {
  it('rejects an unknown tag, naming the file and offset', () => {
    const bytes = Uint8Array.of(0x02, 0x03, 0x0a, 0x01);
    const err = expectCorruption(() => VersionEdit.decode(bytes, 'MANIFEST-000004', 123));
    expect(err.file).toBe('MANIFEST-000004');
    expect(err.offset).toBe(123);
    expect(err.message).toContain('unknown tag 10');
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x63, 0x00)));
  });

  it('rejects fields out of order and repeated scalars', () => {
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x03, 0x09, 0x02, 0x03)));
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x02, 0x03, 0x02, 0x04)));
    // Lists may repeat.
    expect(VersionEdit.decode(Uint8Array.of(0x07, 0x00, 0x04, 0x07, 0x01, 0x05)).deletedFiles).toEqual([
      { level: 0, number: 4 },
      { level: 1, number: 5 },
    ]);
  });

  it('rejects an unknown format version, a level out of range and an overlong varint', () => {
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x01, 0x02)));
    expect(VersionEdit.decode(Uint8Array.of(0x01, 0x01)).formatVersion).toBe(1);
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x07, LEVEL_COUNT_MAX, 0x04)));
    expectCorruption(() => VersionEdit.decode(Uint8Array.of(0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)));
    // 2^53 does not fit a safe integer.
    const big = new Uint8Array(10);
    big[0] = 0x02;
    putVarint(big, 1, 2 ** 53);
    expectCorruption(() => VersionEdit.decode(big));
  });

  it('rejects files whose fields contradict each other', () => {
    const valid = new VersionEdit();
    valid.addFile(0, file(5, 'a', 'b', 1, 2));
    const ok = valid.encode();
    expect(VersionEdit.decode(ok).newFiles.length).toBe(1);
    // Encoding checks what decoding checks, so the bad values are patched into valid bytes.
    // Layout: tag, level, number, size (2 bytes), entries, deletions, seqLo, seqHi, len, key...
    const deletionsAt = 1 + 1 + 1 + 2 + 1;
    const moreDeletions = ok.slice();
    moreDeletions[deletionsAt] = 11; // 11 deletions of 10 entries
    expectCorruption(() => VersionEdit.decode(moreDeletions));
    const seqBackwards = ok.slice();
    seqBackwards[deletionsAt + 1] = 3; // smallest sequence 3 > largest 2
    expectCorruption(() => VersionEdit.decode(seqBackwards));
    const swapped = new VersionEdit();
    swapped.newFiles.push({ level: 1, file: { ...file(6, 'a', 'b', 1, 2), smallest: makeInternalKey(utf8('z'), 1, KIND_PUT) } });
    expect(() => swapped.encode()).toThrow(/assertion failed/);
    const shortKey = ok.slice();
    shortKey[deletionsAt + 3] = 3; // smallest key length 3 < 8-byte trailer
    expectCorruption(() => VersionEdit.decode(shortKey));
  });

  it('rejects every truncation inside a field', () => {
    const bytes = goldenEdit().encode();
    // The field boundaries: cutting exactly there leaves a valid, shorter edit.
    const boundaries = new Set<number>([0]);
    for (let cut = 1; cut <= bytes.length; cut++) {
      let decoded: VersionEdit | undefined;
      try {
        decoded = VersionEdit.decode(bytes.subarray(0, cut));
      } catch (err) {
        expect((err as CorruptionError).code).toBe('LSM_ERR_CORRUPTION');
      }
      if (decoded !== undefined) {
        expect(decoded.encode()).toEqual(bytes.subarray(0, cut));
        boundaries.add(cut);
      }
    }
    // 1 + 4 scalars + user meta + pointer + 2 deletions + 2 files = 11 fields, so 11 valid cuts + empty.
    expect(boundaries.size).toBe(11);
  });

  it('meets every flipped byte with a corruption error or a valid other edit, nothing else', () => {
    const bytes = goldenEdit().encode();
    let corrupt = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const flipped = bytes.slice();
        flipped[i]! ^= bit;
        try {
          const d = VersionEdit.decode(flipped, 'm', 0);
          expect(d.encode()).toEqual(flipped);
        } catch (err) {
          expect((err as CorruptionError).code).toBe('LSM_ERR_CORRUPTION');
          corrupt++;
        }
      }
    }
    // Framing bytes (tags, lengths, high varint bits) are most of what breaks; checksums of the
    // log framing catch the rest (version-set tests).
    expect(corrupt).toBeGreaterThan(10);
  });
});
