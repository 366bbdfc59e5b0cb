import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { crc32c, maskCrc } from '../../src/format/crc32c.js';
import { CorruptionError, IoError } from '../../src/errors.js';
import { KIND_DELETE, KIND_PUT } from '../../src/format/internal-key.js';
import {
  LOG_BLOCK_BYTES, LOG_FILE_HEADER_BYTES, LOG_HEADER_BYTES, LOG_PAGE_BYTES, LogKind, LogReader, LogWriter,
  RECORD_FIRST, RECORD_FULL, RECORD_LAST, RECORD_MIDDLE, encodeLogFileHeader, walChecksum, type Crc32cFunction, type LogReadMode,
} from '../../src/lsm/log-format.js';
import { loadEngine } from '../../src/engine/index.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { WriteBatch, decodeBatch, encodeSingle } from '../../src/lsm/write-batch.js';
import { getFixed32, putFixed32, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';

function pattern(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + salt * 17 + (i >>> 8)) & 0xff;
  return out;
}

/** Writes `records` (one addRecord each) to a fresh WAL and returns the file bytes. */
function writeLog(records: readonly Uint8Array[], kind: LogKind = LogKind.Wal, checksum?: Crc32cFunction): Uint8Array {
  const fs = new CrashableMemFileSystem();
  const w = new LogWriter(fs.create('/log'), kind, checksum);
  for (const r of records) w.addRecord(r);
  w.close();
  return fs.readFile('/log');
}

interface ReadResult {
  records: Uint8Array[];
  offsets: number[];
  torn: number | undefined;
}

function readAll(data: Uint8Array, mode: LogReadMode = 'tolerate-torn-tail', kind: LogKind = LogKind.Wal): ReadResult {
  const reader = new LogReader(data, '000007.log', kind, mode);
  const records: Uint8Array[] = [];
  const offsets: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const r = reader.next();
    if (r === null) return { records, offsets, torn: reader.tornTailOffset };
    records.push(r.slice());
    offsets.push(reader.recordOffset);
  }
  throw new Error('reader did not end');
}

/** Fast equality of record lists (vitest's deep equality is slow on large typed arrays). */
function expectRecords(got: readonly Uint8Array[], expected: readonly Uint8Array[]): void {
  expect(got.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const same = Buffer.compare(Buffer.from(got[i]!.buffer, got[i]!.byteOffset, got[i]!.length),
      Buffer.from(expected[i]!.buffer, expected[i]!.byteOffset, expected[i]!.length)) === 0;
    expect(same, `record ${i} (${got[i]!.length} vs ${expected[i]!.length} bytes)`).toBe(true);
  }
}

function expectCorruption(fn: () => unknown, offset?: number): CorruptionError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CorruptionError);
  const e = caught as CorruptionError;
  expect(e.code).toBe('LSM_ERR_CORRUPTION');
  expect(e.file).toBe('000007.log');
  if (offset !== undefined) expect(e.offset).toBe(offset);
  return e;
}

/** A hand-made physical record, for framings the writer never produces. */
function physical(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(LOG_HEADER_BYTES + payload.length);
  putFixed32(out, 0, maskCrc(crc32c(payload, crc32c(Uint8Array.of(type)))));
  out[4] = payload.length & 0xff;
  out[5] = payload.length >>> 8;
  out[6] = type;
  out.set(payload, LOG_HEADER_BYTES);
  return out;
}

const FIRST_RECORD_OFFSET = LOG_HEADER_BYTES + LOG_FILE_HEADER_BYTES;

describe('log framing', () => {
  it('writes the same bytes with either twin\'s checksum (the WAL uses its tree\'s)', async () => {
    const records = [0, 1, 130, 4096, LOG_BLOCK_BYTES - LOG_HEADER_BYTES, 100_000].map((n, i) => pattern(n, i));
    const bytes = writeLog(records);
    for (const engine of ['wasm', 'js'] as const) {
      expect(writeLog(records, LogKind.Wal, walChecksum(await loadEngine(engine))), engine).toEqual(bytes);
    }
  });

  it('round-trips seeded random records of 0..100 KiB across blocks, in both modes', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    try {
      const rand = mulberry32(seed);
      const fs = new CrashableMemFileSystem();
      const w = new LogWriter(fs.create('/wal'), LogKind.Wal);
      const expected: Uint8Array[] = [];
      for (let i = 0; i < 60; i++) {
        // Mostly small records, some large enough to cross one or several blocks.
        const size = rand() < 0.3 ? Math.floor(rand() * 100 * 1024) : Math.floor(rand() * 200);
        const rec = pattern(size, i);
        expected.push(rec);
        if (rand() < 0.2 && i + 1 < 60) {
          const rec2 = pattern(Math.floor(rand() * 40_000), i + 1000);
          expected.push(rec2);
          w.addRecords([rec, rec2]);
          i++;
        } else {
          w.addRecord(rec);
        }
      }
      const data = fs.readFile('/wal');
      expect(w.size()).toBe(data.length);
      for (const mode of ['tolerate-torn-tail', 'strict'] as const) {
        const got = readAll(data, mode);
        expect(got.torn).toBeUndefined();
        expectRecords(got.records, expected);
        expect(got.offsets[0]).toBe(FIRST_RECORD_OFFSET);
        for (let i = 1; i < got.offsets.length; i++) expect(got.offsets[i]!).toBeGreaterThan(got.offsets[i - 1]!);
      }
    } catch (err) {
      console.error(`log round-trip failed with LSMRAFT_SEED=${seed}`);
      throw err;
    }
  });

  it('writes the header record, then zero-fills a block tail shorter than a header', () => {
    const tail = 3;
    const first = pattern(LOG_BLOCK_BYTES - FIRST_RECORD_OFFSET - LOG_HEADER_BYTES - tail, 1);
    const data = writeLog([first, utf8('next')]);
    expect([...data.subarray(LOG_HEADER_BYTES, LOG_HEADER_BYTES + 11)]).toEqual([...utf8('lsmraft.log')]);
    expect(data[6]).toBe(RECORD_FULL);
    expect([...data.subarray(LOG_BLOCK_BYTES - tail, LOG_BLOCK_BYTES)]).toEqual([0, 0, 0]);
    expect(data[LOG_BLOCK_BYTES + 6]).toBe(RECORD_FULL);
    expect(data.length).toBe(LOG_BLOCK_BYTES + LOG_HEADER_BYTES + 4);
    const got = readAll(data, 'strict');
    expectRecords(got.records, [first, utf8('next')]);
    expect(got.offsets).toEqual([FIRST_RECORD_OFFSET, LOG_BLOCK_BYTES]);
  });

  it('splits a record into FIRST, MIDDLE, LAST fragments and emits an empty FIRST into a 7-byte tail', () => {
    const big = pattern(2 * LOG_BLOCK_BYTES, 2);
    const data = writeLog([big]);
    expect(data[FIRST_RECORD_OFFSET + 6]).toBe(RECORD_FIRST);
    expect(data[LOG_BLOCK_BYTES + 6]).toBe(RECORD_MIDDLE);
    expect(data[2 * LOG_BLOCK_BYTES + 6]).toBe(RECORD_LAST);
    expectRecords(readAll(data, 'strict').records, [big]);

    const fill = pattern(LOG_BLOCK_BYTES - FIRST_RECORD_OFFSET - 2 * LOG_HEADER_BYTES, 3);
    const data2 = writeLog([fill, utf8('abc')]);
    const at = LOG_BLOCK_BYTES - LOG_HEADER_BYTES;
    expect(data2[at + 4]).toBe(0); // zero-length fragment
    expect(data2[at + 6]).toBe(RECORD_FIRST);
    expect(data2[LOG_BLOCK_BYTES + 6]).toBe(RECORD_LAST);
    const got = readAll(data2, 'strict');
    expectRecords(got.records, [fill, utf8('abc')]);
    expect(got.offsets[1]).toBe(at);
  });

  it('frames a group of records in one append, and refuses records after a failed append', () => {
    const fs = new CrashableMemFileSystem();
    const w = new LogWriter(fs.create('/wal'), LogKind.Wal);
    const before = fs.counts.appends;
    w.addRecords([utf8('a'), pattern(50_000, 4), utf8('')]);
    expect(fs.counts.appends - before).toBe(1);
    expectRecords(readAll(fs.readFile('/wal')).records, [utf8('a'), pattern(50_000, 4), utf8('')]);

    fs.injectError('append', { partialBytes: 5 });
    expect(() => w.addRecord(utf8('lost'))).toThrow(IoError);
    let again: unknown;
    try {
      w.addRecord(utf8('after'));
    } catch (err) {
      again = err;
    }
    expect((again as IoError).code).toBe('LSM_ERR_IO');
    // The torn 5 bytes are a torn tail to a reader.
    const got = readAll(fs.readFile('/wal'));
    expect(got.records.length).toBe(3);
    expect(got.torn).toBeDefined();
  });

  it('continues an existing log after reopening it for append', () => {
    const fs = new CrashableMemFileSystem();
    const w = new LogWriter(fs.create('/wal'), LogKind.Wal);
    w.addRecord(pattern(30_000, 5));
    w.close();
    const w2 = new LogWriter(fs.openAppend('/wal'), LogKind.Wal);
    w2.addRecord(pattern(10_000, 6));
    w2.addRecord(utf8('z'));
    w2.close();
    expectRecords(readAll(fs.readFile('/wal'), 'strict').records, [pattern(30_000, 5), pattern(10_000, 6), utf8('z')]);
  });
});

describe('log header record', () => {
  it('rejects an unknown version, naming it, and a wrong kind or magic', () => {
    const data = writeLog([utf8('x')]);
    const v7 = data.slice();
    const header = encodeLogFileHeader(LogKind.Wal);
    putFixed32(header, 11, 7);
    v7.set(physical(RECORD_FULL, header), 0);
    const e = expectCorruption(() => readAll(v7), 0);
    expect(e.message).toContain('version 7');
    expectCorruption(() => readAll(data, 'strict', LogKind.Manifest), 0);
    const notLog = data.slice();
    notLog.set(physical(RECORD_FULL, utf8('lsmraft.loX\x01\x00\x00\x00\x01')), 0);
    expectCorruption(() => readAll(notLog), 0);
  });

  it('treats an empty or header-torn file as a torn tail, or as corruption when strict', () => {
    const empty = new Uint8Array(0);
    expect(readAll(empty)).toEqual({ records: [], offsets: [], torn: 0 });
    expectCorruption(() => readAll(empty, 'strict'), 0);
    const data = writeLog([utf8('x')]);
    for (let cut = 1; cut < FIRST_RECORD_OFFSET; cut++) {
      expect(readAll(data.subarray(0, cut))).toEqual({ records: [], offsets: [], torn: 0 });
    }
    expect(readAll(data.subarray(0, FIRST_RECORD_OFFSET))).toEqual({ records: [], offsets: [], torn: undefined });
  });

  it('reads a manifest-kind log as manifest', () => {
    const data = writeLog([utf8('edit')], LogKind.Manifest);
    expectRecords(readAll(data, 'strict', LogKind.Manifest).records, [utf8('edit')]);
  });
});

describe('torn tails', () => {
  /** Records whose last one starts in block 0 and ends in block 1. */
  function spanningLog(): { data: Uint8Array; records: Uint8Array[]; lastStart: number } {
    const records = [pattern(100, 7), pattern(LOG_BLOCK_BYTES - 400, 8), pattern(500, 9)];
    const data = writeLog(records);
    const got = readAll(data, 'strict');
    const lastStart = got.offsets[2]!;
    expect(lastStart).toBeLessThan(LOG_BLOCK_BYTES);
    expect(data.length).toBeGreaterThan(LOG_BLOCK_BYTES);
    return { data, records, lastStart };
  }

  it('drops the last record when the file is cut at any byte of it', () => {
    const { data, records, lastStart } = spanningLog();
    for (let cut = lastStart; cut < data.length; cut++) {
      const got = readAll(data.subarray(0, cut));
      expectRecords(got.records, records.slice(0, 2));
      expect(got.torn).toBe(cut === lastStart ? undefined : lastStart);
      if (cut > lastStart) expectCorruption(() => readAll(data.subarray(0, cut), 'strict'));
    }
  });

  it('drops the last record when its tail is zero-filled or garbage from any byte on', () => {
    const { data, records, lastStart } = spanningLog();
    const rand = mulberry32(11);
    for (let cut = lastStart; cut < data.length; cut++) {
      const zeroed = data.slice();
      zeroed.fill(0, cut);
      const got = readAll(zeroed);
      expectRecords(got.records, records.slice(0, 2));
      expect(got.torn).toBe(lastStart);
      const garbled = data.slice();
      for (let i = cut; i < garbled.length; i++) garbled[i] = Math.floor(rand() * 256);
      expectRecords(readAll(garbled).records, records.slice(0, 2));
    }
  });

  it('drops a three-block record cut at a block boundary or missing its middle block', () => {
    const big = pattern(2 * LOG_BLOCK_BYTES + 1000, 10);
    const data = writeLog([utf8('keep'), big]);
    const bigStart = FIRST_RECORD_OFFSET + LOG_HEADER_BYTES + 4;
    const cuts = [LOG_BLOCK_BYTES, 2 * LOG_BLOCK_BYTES, 2 * LOG_BLOCK_BYTES + 3, data.length - 1];
    for (let cut = bigStart + 1; cut < data.length; cut += 997) cuts.push(cut);
    for (const cut of cuts) {
      expect(readAll(data.subarray(0, cut))).toMatchObject({ records: [utf8('keep')], torn: bigStart });
    }
    // Pages written back out of order: the middle block lost, the last one on disk.
    const hole = data.slice();
    hole.fill(0, LOG_BLOCK_BYTES, 2 * LOG_BLOCK_BYTES);
    expect(readAll(hole)).toMatchObject({ records: [utf8('keep')], torn: bigStart });
    expectCorruption(() => readAll(hole, 'strict'), LOG_BLOCK_BYTES);
  });

  it('keeps what a crash kept: synced records survive, the unsynced tail is dropped', () => {
    const fs = new CrashableMemFileSystem();
    const w = new LogWriter(fs.create('/wal'), LogKind.Wal);
    fs.syncDirSync('/');
    w.addRecord(utf8('one'));
    w.syncSync();
    w.addRecords([pattern(70_000, 12), utf8('three')]);
    fs.crash({ keepUnsyncedBytes: (n) => n - 10 });
    const got = readAll(fs.readFile('/wal'));
    expectRecords(got.records, [utf8('one'), pattern(70_000, 12)]);
    expect(got.torn).toBe(got.offsets[1]! + 70_000 + 3 * LOG_HEADER_BYTES);
  });
});

describe("the manifest's torn-final-record mode", () => {
  /** Three records, the last one from offset 4000 past a page boundary (4096) to about 4600. */
  function manifestLike(): { data: Uint8Array; records: Uint8Array[]; lastStart: number } {
    const records = [pattern(100, 1), pattern(4000 - 100 - 2 * LOG_HEADER_BYTES - FIRST_RECORD_OFFSET, 2), pattern(600, 3)];
    const data = writeLog(records);
    const got = readAll(data, 'strict');
    const lastStart = got.offsets[2]!;
    expect(lastStart).toBe(4000);
    expect(data.length).toBeGreaterThan(LOG_PAGE_BYTES);
    return { data, records, lastStart };
  }

  it('drops a final record cut short at any byte, as a crash during its append leaves it', () => {
    const { data, records, lastStart } = manifestLike();
    for (let cut = lastStart + 1; cut < data.length; cut++) {
      const got = readAll(data.subarray(0, cut), 'torn-final-record');
      expectRecords(got.records, records.slice(0, 2));
      expect(got.torn).toBe(lastStart);
    }
  });

  it('reports a flipped bit anywhere in a complete final record as corruption', () => {
    const { data, lastStart } = manifestLike();
    for (let at = lastStart; at < data.length; at += 37) {
      if (at >= lastStart + 4 && at < lastStart + LOG_HEADER_BYTES) continue; // a flipped length runs past the end: cut short
      const flipped = data.slice();
      flipped[at] = flipped[at]! ^ 0x10;
      expectCorruption(() => readAll(flipped, 'torn-final-record'), lastStart);
      // The write-ahead log's rule would have dropped it as a torn tail.
      expect(readAll(flipped, 'tolerate-torn-tail').torn).toBe(lastStart);
    }
  });

  it('drops a final record zero from its start or from a page boundary on, and no other zeros', () => {
    const { data, records, lastStart } = manifestLike();
    const zeroedFrom = (from: number): Uint8Array => {
      const z = data.slice();
      z.fill(0, from);
      return z;
    };
    expectRecords(readAll(zeroedFrom(lastStart), 'torn-final-record').records, records.slice(0, 2));
    expectRecords(readAll(zeroedFrom(LOG_PAGE_BYTES), 'torn-final-record').records, records.slice(0, 2));
    expectCorruption(() => readAll(zeroedFrom(LOG_PAGE_BYTES + 100), 'torn-final-record'), lastStart);
  });
});

describe('crash model', () => {
  it('after a seeded random crash, reads every synced record and a prefix of the rest, never corruption', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    const rand = mulberry32(seed);
    try {
      for (let round = 0; round < 40; round++) {
        const fs = new CrashableMemFileSystem();
        const w = new LogWriter(fs.create('/wal'), LogKind.Wal);
        fs.syncDirSync('/');
        w.syncSync();
        const written: Uint8Array[] = [];
        let synced = 0;
        const groups = 1 + Math.floor(rand() * 8);
        for (let g = 0; g < groups; g++) {
          const group: Uint8Array[] = [];
          const n = 1 + Math.floor(rand() * 4);
          for (let i = 0; i < n; i++) {
            group.push(pattern(rand() < 0.2 ? Math.floor(rand() * 70_000) : Math.floor(rand() * 300), round * 100 + written.length));
            written.push(group[group.length - 1]!);
          }
          w.addRecords(group);
          if (rand() < 0.5) {
            w.syncSync();
            synced = written.length;
          }
        }
        const fullLength = w.size();
        fs.crash({ keepUnsyncedBytes: (n) => Math.floor(rand() * (n + 1)) });
        let data = fs.readFile('/wal');
        if (rand() < 0.5) {
          // The file system had extended the file, but the lost pages read back as zeros.
          const padded = new Uint8Array(fullLength);
          padded.set(data);
          data = padded;
        }
        const got = readAll(data);
        expect(got.records.length).toBeGreaterThanOrEqual(synced);
        expectRecords(got.records, written.slice(0, got.records.length));
        if (got.records.length === written.length) expect(got.torn).toBeUndefined();
      }
    } catch (err) {
      console.error(`log crash-model test failed with LSMRAFT_SEED=${seed}`);
      throw err;
    }
  });
});

describe('corruption', () => {
  function threeBlocks(): { data: Uint8Array; offsets: number[] } {
    const records: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) records.push(pattern(i === 10 ? 40_000 : 2_000 + i, 20 + i));
    const data = writeLog(records);
    return { data, offsets: readAll(data).offsets };
  }

  it('reports a flipped byte in the middle with the file name and the record offset', () => {
    const { data, offsets } = threeBlocks();
    for (const i of [0, 5, 20]) {
      const bad = data.slice();
      bad[offsets[i]! + LOG_HEADER_BYTES + 100]! ^= 0x40;
      expectCorruption(() => readAll(bad), offsets[i]);
      expectCorruption(() => readAll(bad, 'strict'), offsets[i]);
    }
    // Inside the FIRST fragment of the record spanning blocks, and in its later fragment.
    const bad = data.slice();
    bad[offsets[10]! + LOG_HEADER_BYTES + 10]! ^= 1;
    expectCorruption(() => readAll(bad), offsets[10]);
    const bad2 = data.slice();
    bad2[LOG_BLOCK_BYTES + LOG_HEADER_BYTES + 5]! ^= 1;
    expectCorruption(() => readAll(bad2), LOG_BLOCK_BYTES);
  });

  it('reports a zeroed region in the middle and a damaged header length', () => {
    const { data, offsets } = threeBlocks();
    const zeroed = data.slice();
    zeroed.fill(0, offsets[3]!, offsets[5]!);
    expectCorruption(() => readAll(zeroed), offsets[3]);
    const longer = data.slice();
    longer[offsets[4]! + 5] = 0xff; // length now overruns the block
    expectCorruption(() => readAll(longer), offsets[4]);
  });

  it('reports fragments out of order even when their checksums hold', () => {
    const header = physical(RECORD_FULL, encodeLogFileHeader(LogKind.Wal));
    const cases: [Uint8Array[], number][] = [
      [[physical(RECORD_LAST, utf8('orphan'))], header.length],
      [[physical(RECORD_MIDDLE, utf8('orphan'))], header.length],
      [[physical(RECORD_FIRST, utf8('a')), physical(RECORD_FULL, utf8('b'))], header.length + 8],
      [[physical(RECORD_FIRST, utf8('a')), physical(RECORD_FIRST, utf8('b'))], header.length + 8],
      [[physical(9, utf8('future'))], header.length],
    ];
    for (const [parts, offset] of cases) {
      const data = new Uint8Array([...header, ...parts.flatMap((p) => [...p])]);
      expectCorruption(() => readAll(data), offset);
    }
  });
});

describe('golden WAL file', () => {
  const goldenPath = fileURLToPath(new URL('../golden/wal-v1.log', import.meta.url));

  function goldenRecords(): Uint8Array[] {
    const batch = new WriteBatch().put(utf8('k1'), utf8('v1')).delete(utf8('k0')).put(utf8('k2'), new Uint8Array(0));
    return [
      encodeSingle(1, KIND_PUT, utf8('hello'), utf8('world')),
      batch.encode(2),
      encodeSingle(5, KIND_PUT, utf8('big'), pattern(40_000, 99)), // spans blocks 0 and 1
      encodeSingle(6, KIND_DELETE, utf8('hello'), new Uint8Array(0)),
      new Uint8Array(0),
    ];
  }

  it('pins the bytes of a small log (LSMRAFT_REWRITE_GOLDEN=1 rewrites it)', () => {
    const fs = new CrashableMemFileSystem();
    const w = new LogWriter(fs.create('/wal'), LogKind.Wal);
    const records = goldenRecords();
    w.addRecords(records.slice(0, 2));
    for (const r of records.slice(2)) w.addRecord(r);
    const bytes = fs.readFile('/wal');
    if (process.env.LSMRAFT_REWRITE_GOLDEN === '1') writeFileSync(goldenPath, bytes);
    const golden = new Uint8Array(readFileSync(goldenPath));
    expect(golden.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(golden), Buffer.from(bytes))).toBe(0);

    // The header record's checksum, computed independently over type ++ payload.
    const headerPayload = encodeLogFileHeader(LogKind.Wal);
    expect(getFixed32(golden, 0)).toBe(maskCrc(crc32c(new Uint8Array([RECORD_FULL, ...headerPayload]))));
    expect([...golden.subarray(4, 7)]).toEqual([LOG_FILE_HEADER_BYTES, 0, RECORD_FULL]);
    const got = readAll(golden, 'strict');
    expectRecords(got.records, records);
    const seen: string[] = [];
    decodeBatch(got.records[1]!, 'wal-v1.log', got.offsets[1]!, (seq, kind, key, value) => {
      seen.push(`${seq}:${kind}:${Buffer.from(key).toString()}=${Buffer.from(value).toString()}`);
    });
    expect(seen).toEqual(['2:1:k1=v1', '3:0:k0=', '4:1:k2=']);
  });
});
