import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LsmraftError } from '../../src/errors.js';
import { CURRENT_FILE_NAME, joinPath, logFileName, manifestFileName, parseFileName, tableFileName, tempFileName } from '../../src/lsm/filenames.js';
import { KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { NodeFileSystem } from '../../src/lsm/node-fs.js';
import { VersionEdit, type FileMetadata } from '../../src/lsm/version-edit.js';
import { VersionSet } from '../../src/lsm/version-set.js';
import type { Version } from '../../src/lsm/version.js';
import { utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';

const DIR = '/db';

function meta(number: number, smallest: string, largest: string, seq: number): FileMetadata {
  return {
    number,
    size: 4096 + number,
    smallest: makeInternalKey(utf8(smallest), seq, KIND_PUT),
    largest: makeInternalKey(utf8(largest), seq, KIND_PUT),
    entryCount: 3,
    deletionCount: 0,
    smallestSeq: seq,
    largestSeq: seq,
  };
}

/** What a reopened set must reproduce: every level's files and every counter. */
function stateOf(vs: VersionSet) {
  return {
    levels: vs.current().levels.map((files) => files.map((f) => ({ ...f }))),
    logNumber: vs.logNumber,
    lastSequence: vs.lastSequence,
    userMeta: vs.userMeta === undefined ? undefined : [...vs.userMeta],
    compactPointers: vs.compactPointers.map((k) => (k === undefined ? undefined : [...k])),
  };
}

/** A flush: one L0 file with keys [a, b] at sequence `seq`, and a new log number. */
async function flush(vs: VersionSet, a: string, b: string, seq: number, userMeta?: string): Promise<FileMetadata> {
  const f = meta(vs.newFileNumber(), a, b, seq);
  const e = new VersionEdit();
  e.addFile(0, f);
  e.setLogNumber(vs.newFileNumber());
  vs.lastSequence = seq;
  if (userMeta !== undefined) e.setUserMeta(utf8(userMeta));
  await vs.logAndApply(e);
  return f;
}

function expectCode(err: unknown, code: string): void {
  expect((err as LsmraftError).code).toBe(code);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<LsmraftError> {
  try {
    await p;
  } catch (err) {
    expectCode(err, code);
    return err as LsmraftError;
  }
  throw new Error(`expected ${code}, the promise resolved`);
}

describe('file names', () => {
  it('formats and parses every kind', () => {
    expect(tableFileName(12)).toBe('000012.sst');
    expect(logFileName(12)).toBe('000012.log');
    expect(manifestFileName(12)).toBe('MANIFEST-000012');
    expect(tempFileName(12)).toBe('000012.dbtmp');
    expect(tableFileName(12345678)).toBe('12345678.sst');
    expect(parseFileName('000012.sst')).toEqual({ type: 'table', number: 12 });
    expect(parseFileName('12345678.log')).toEqual({ type: 'log', number: 12345678 });
    expect(parseFileName('MANIFEST-000003')).toEqual({ type: 'manifest', number: 3 });
    expect(parseFileName('000009.dbtmp')).toEqual({ type: 'temp', number: 9 });
    expect(parseFileName('CURRENT')).toEqual({ type: 'current', number: 0 });
    expect(parseFileName('LOCK')).toEqual({ type: 'lock', number: 0 });
    for (const bad of ['', '.sst', 'x.sst', '12.txt', 'MANIFEST-', 'MANIFEST-x1', '-1.log', '1e3.sst', '99999999999999999.sst']) {
      expect(parseFileName(bad), bad).toBeUndefined();
    }
    expect(() => tableFileName(-1)).toThrow(/assertion failed/);
    expect(joinPath('/db', 'CURRENT')).toBe('/db/CURRENT');
    expect(joinPath('/db/', 'CURRENT')).toBe('/db/CURRENT');
  });
});

describe('VersionSet on a crashable in-memory file system', () => {
  it('creates a tree, applies edits, and recovers the same state', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    expect(vs.current().lastNonEmptyLevel()).toBe(-1);
    expect(new TextDecoder().decode(fs.readFile(joinPath(DIR, CURRENT_FILE_NAME)))).toBe(`${manifestFileName(1)}\n`);
    const f1 = await flush(vs, 'a', 'm', 10, 'applied=3');
    const f2 = await flush(vs, 'k', 'z', 20);
    // A compaction: both L0 files out, two L1 files in, with a compact pointer.
    const e = new VersionEdit();
    e.deleteFile(0, f1.number);
    e.deleteFile(0, f2.number);
    const o1 = meta(vs.newFileNumber(), 'a', 'h', 20);
    const o2 = meta(vs.newFileNumber(), 'i', 'z', 20);
    e.addFile(1, o2);
    e.addFile(1, o1);
    e.setCompactPointer(0, f2.largest);
    await vs.logAndApply(e);
    // A trivial move of o2 down.
    const m = new VersionEdit();
    m.deleteFile(1, o2.number);
    m.addFile(2, o2);
    await vs.logAndApply(m);
    expect(vs.current().levels[1]!.map((f) => f.number)).toEqual([o1.number]);
    expect(vs.current().levels[2]!.map((f) => f.number)).toEqual([o2.number]);
    const before = stateOf(vs);
    const next = vs.nextFileNumber;
    await vs.close();

    for (let reopen = 0; reopen < 3; reopen++) {
      // Crashing after a clean sequence of acknowledged edits loses none of them.
      fs.crash();
      const again = await VersionSet.recover(fs, DIR);
      expect(stateOf(again)).toEqual(before);
      expect(again.nextFileNumber).toBeGreaterThanOrEqual(next);
      expect(new TextDecoder().decode(again.userMeta)).toBe('applied=3');
      // The first edit after an open starts a new manifest; the old one becomes obsolete.
      const oldManifest = again.manifestNumber;
      await again.logAndApply(new VersionEdit());
      expect(again.manifestNumber).toBeGreaterThan(oldManifest);
      expect(again.obsoleteFiles(fs.list(DIR))).toContain(manifestFileName(oldManifest));
    }
  });

  it('keeps a recorded WAL size through replay and snapshots, and drops it once the log number passes it', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    const wal = vs.newFileNumber();
    const start = new VersionEdit();
    start.setLogNumber(wal);
    await vs.logAndApply(start);
    const close = new VersionEdit();
    close.recordWalSize(wal, 1234);
    await vs.logAndApply(close);
    expect(vs.recordedWalSize(wal)).toBe(1234);
    await vs.close();
    fs.crash();
    const reopened = await VersionSet.recover(fs, DIR);
    expect(reopened.recordedWalNumbers()).toEqual([wal]);
    expect(reopened.recordedWalSize(wal)).toBe(1234);
    // The first edit after an open starts a new manifest: its snapshot repeats the size while the
    // log number has not passed the WAL...
    await reopened.logAndApply(new VersionEdit());
    await reopened.close();
    fs.crash();
    const again = await VersionSet.recover(fs, DIR);
    expect(again.recordedWalSize(wal)).toBe(1234);
    // ...and the edit that starts the next WAL drops it, in memory and in replay alike.
    const next = new VersionEdit();
    next.setLogNumber(again.newFileNumber());
    await again.logAndApply(next);
    expect(again.recordedWalNumbers()).toEqual([]);
    await again.close();
    fs.crash();
    expect((await VersionSet.recover(fs, DIR)).recordedWalNumbers()).toEqual([]);
  });

  it('loses only the edit whose fsync failed (seeded torn tails)', async () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    try {
      for (let round = 0; round < 20; round++) {
        const fs = new CrashableMemFileSystem();
        const vs = await VersionSet.create(fs, DIR);
        for (let i = 0; i < 1 + Math.floor(rnd() * 5); i++) await flush(vs, `k${i}`, `k${i}z`, 10 * (i + 1));
        const durable = stateOf(vs);
        fs.injectError('sync');
        await rejectsWith(flush(vs, 'x', 'y', 999, 'lost?'), 'LSM_ERR_IO');
        // The failed edit is not installed in memory.
        expect(stateOf(vs)).toEqual({ ...durable, lastSequence: 999 });
        // Power loss keeps a random prefix of the unsynced record: a torn tail, or all of it.
        const keepAll = rnd() < 0.2;
        fs.crash({ keepUnsyncedBytes: (n) => (keepAll ? n : Math.floor(rnd() * n)) });
        const again = await VersionSet.recover(fs, DIR);
        if (keepAll) {
          // The whole record reached the disk: the unacknowledged edit may apply; that is allowed.
          expect(again.current().levels[0]!.length).toBe(durable.levels[0]!.length + 1);
        } else {
          expect(stateOf(again)).toEqual(durable);
        }
      }
    } catch (err) {
      console.error(`crash test failed with LSMRAFT_SEED=${seed}`);
      throw err;
    }
  });

  it('after a failed edit, the next one starts a new manifest without it', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    await flush(vs, 'a', 'b', 5);
    fs.injectError('sync');
    await rejectsWith(flush(vs, 'c', 'd', 6), 'LSM_ERR_IO');
    const manifestBefore = vs.manifestNumber;
    await flush(vs, 'e', 'f', 7);
    expect(vs.manifestNumber).toBeGreaterThan(manifestBefore);
    // Even with the failed record fully on disk in the old manifest, the new one rules.
    fs.crash({ keepUnsyncedBytes: (n) => n });
    const again = await VersionSet.recover(fs, DIR);
    expect(again.current().levels[0]!.map((f) => new TextDecoder().decode(f.smallest.subarray(0, 1)))).toEqual(['e', 'a']);
  });

  it('never calls a manifest obsolete that a half-switched CURRENT may name', async () => {
    for (const op of ['rename', 'syncDir'] as const) {
      const fs = new CrashableMemFileSystem();
      const first = await VersionSet.create(fs, DIR);
      await flush(first, 'a', 'b', 1);
      await first.close();
      const vs = await VersionSet.recover(fs, DIR);
      const old = vs.manifestNumber;
      // The first edit after the open starts a new manifest; switching CURRENT to it fails.
      fs.injectError(op);
      await rejectsWith(flush(vs, 'c', 'd', 2), 'LSM_ERR_IO');
      const manifests = fs.list(DIR).filter((n) => parseFileName(n)?.type === 'manifest');
      expect(manifests.length).toBe(2);
      expect(vs.obsoleteFiles(fs.list(DIR)).filter((n) => parseFileName(n)?.type === 'manifest')).toEqual([]);
      // Whichever manifest CURRENT names now, the tree reopens (with or without the failed edit).
      fs.crash({ keepUnsyncedBytes: (n) => n });
      const again = await VersionSet.recover(fs, DIR);
      expect(again.current().levels[0]!.length).toBeGreaterThanOrEqual(1);
      await flush(again, 'e', 'f', 3);
      expect(again.obsoleteFiles(fs.list(DIR))).toContain(manifestFileName(old));
      expect(again.obsoleteFiles(fs.list(DIR))).not.toContain(manifestFileName(again.manifestNumber));
    }
  });

  it('counts a manifest being started, and its CURRENT temp file, as live while the edit is in flight', async () => {
    const fs = new CrashableMemFileSystem();
    await (await VersionSet.create(fs, DIR)).close();
    const vs = await VersionSet.recover(fs, DIR);
    const old = vs.manifestNumber;
    const applying = flush(vs, 'a', 'b', 1);
    // Let the edit run up to one of its awaits, then look, as a concurrent cleanup would.
    const seen: string[][] = [];
    for (let i = 0; i < 10; i++) {
      await Promise.resolve();
      const names = fs.list(DIR);
      seen.push(names);
      for (const name of vs.obsoleteFiles(names)) {
        const type = parseFileName(name)?.type;
        expect(type === 'manifest' && parseFileName(name)!.number !== old ? name : 'ok').toBe('ok');
        expect(type).not.toBe('temp');
      }
    }
    await applying;
    expect(seen.some((names) => names.some((n) => parseFileName(n)?.type === 'temp'))).toBe(true);
    expect(vs.obsoleteFiles(fs.list(DIR))).toEqual([manifestFileName(old)]);
  });

  it('rolls over to a new manifest past manifestBytesMax and recovers', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR, { manifestBytesMax: 300 });
    const manifests = new Set<number>([vs.manifestNumber]);
    for (let i = 0; i < 30; i++) {
      await flush(vs, `k${String(i).padStart(3, '0')}`, `k${String(i).padStart(3, '0')}z`, i + 1);
      manifests.add(vs.manifestNumber);
    }
    expect(manifests.size).toBeGreaterThan(3);
    const obsolete = vs.obsoleteFiles(fs.list(DIR));
    expect(obsolete.filter((n) => parseFileName(n)?.type === 'manifest').length).toBe(manifests.size - 1);
    for (const name of obsolete) fs.remove(joinPath(DIR, name));
    await fs.syncDir(DIR);
    const before = stateOf(vs);
    fs.crash();
    const again = await VersionSet.recover(fs, DIR, { manifestBytesMax: 300 });
    expect(stateOf(again)).toEqual(before);
  });

  it('applies concurrent logAndApply calls one at a time, in call order', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    const numbers = vs.reserveFileNumbers(10);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      const e = new VersionEdit();
      e.addFile(0, meta(numbers[i]!, 'a', 'z', i + 1));
      // Each edit but the first deletes its predecessor: only valid in call order.
      if (i > 0) e.deleteFile(0, numbers[i - 1]!);
      e.setLastSequence(i + 1);
      pending.push(vs.logAndApply(e));
    }
    await Promise.all(pending);
    expect(vs.current().levels[0]!.map((f) => f.number)).toEqual([numbers[9]]);
    expect(vs.lastSequence).toBe(10);
  });

  it("records the larger of the edit's and the write path's last sequence", async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    vs.lastSequence = 50;
    const e = new VersionEdit();
    e.addFile(0, meta(vs.newFileNumber(), 'a', 'b', 10));
    e.setLastSequence(10); // a flush of older data while writes went on
    await vs.logAndApply(e);
    expect(vs.lastSequence).toBe(50);
    expect(e.lastSequence).toBe(50);
    fs.crash();
    expect((await VersionSet.recover(fs, DIR)).lastSequence).toBe(50);
  });

  it('describes the levels for lsm s', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR, { numLevels: 3 });
    const f = await flush(vs, 'apple', 'kiwi', 7);
    const d = vs.current().describe();
    expect(d.map((l) => [l.level, l.bytes, l.files.length])).toEqual([
      [0, f.size, 1],
      [1, 0, 0],
      [2, 0, 0],
    ]);
    expect(d[0]!.files[0]).toEqual({
      number: f.number, size: f.size, smallestKey: utf8('apple'), largestKey: utf8('kiwi'),
      smallestSeq: 7, largestSeq: 7, entryCount: 3, deletionCount: 0,
    });
  });

  it('keeps files of referenced old versions live', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    const f = await flush(vs, 'a', 'b', 1);
    const old: Version = vs.current();
    old.ref();
    const e = new VersionEdit();
    e.deleteFile(0, f.number);
    await vs.logAndApply(e);
    expect(vs.current().levels[0]!.length).toBe(0);
    expect(vs.liveFileNumbers().has(f.number)).toBe(true);
    expect(vs.obsoleteFiles([tableFileName(f.number)])).toEqual([]);
    old.unref();
    expect(vs.liveFileNumbers().has(f.number)).toBe(false);
    expect(vs.obsoleteFiles([tableFileName(f.number), 'LOCK', CURRENT_FILE_NAME, 'notes.txt'])).toEqual([tableFileName(f.number)]);
    expect(vs.obsoleteFiles([tableFileName(f.number)], new Set([f.number]))).toEqual([]);
  });

  it('reports a flipped byte in the middle of the manifest as corruption naming the file', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR);
    for (let i = 0; i < 6; i++) await flush(vs, `k${i}`, `k${i}z`, i + 1);
    const path = joinPath(DIR, manifestFileName(vs.manifestNumber));
    const bytes = fs.readFile(path).slice();
    await vs.close();
    let failures = 0;
    // Flip one byte at a time across the middle third (later records follow each of them).
    const from = Math.floor(bytes.length / 3);
    const to = Math.floor((2 * bytes.length) / 3);
    for (let i = from; i < to; i += 7) {
      const damaged = bytes.slice();
      damaged[i]! ^= 0x20;
      const w = fs.create(path);
      w.append(damaged);
      await w.sync();
      const err = await rejectsWith(VersionSet.recover(fs, DIR), 'LSM_ERR_CORRUPTION');
      expect(err.message).toContain(manifestFileName(1));
      failures++;
    }
    expect(failures).toBeGreaterThan(3);
  });

  it('tells a missing CURRENT from a new directory', async () => {
    const fs = new CrashableMemFileSystem();
    await rejectsWith(VersionSet.recover(fs, '/none', { createIfMissing: false }), 'LSM_ERR_INVALID_ARGUMENT');
    const created = await VersionSet.recover(fs, '/new');
    await flush(created, 'a', 'b', 1);
    await rejectsWith(VersionSet.recover(fs, '/new', { errorIfExists: true }), 'LSM_ERR_INVALID_ARGUMENT');
    await rejectsWith(VersionSet.create(fs, '/new'), 'LSM_ERR_INVALID_ARGUMENT');
    // A lost CURRENT in a directory with tables and logs is corruption.
    fs.remove(joinPath('/new', CURRENT_FILE_NAME));
    fs.create(joinPath('/new', tableFileName(2))).close();
    await rejectsWith(VersionSet.recover(fs, '/new'), 'LSM_ERR_CORRUPTION');
    // An interrupted create (only the first manifest, no CURRENT) starts over.
    fs.mkdirp('/half');
    fs.create(joinPath('/half', manifestFileName(1))).close();
    fs.create(joinPath('/half', 'LOCK')).close();
    const fresh = await VersionSet.recover(fs, '/half');
    expect(fresh.current().lastNonEmptyLevel()).toBe(-1);
  });

  it('rejects a bad CURRENT and a CURRENT naming a missing manifest', async () => {
    const fs = new CrashableMemFileSystem();
    await (await VersionSet.create(fs, DIR)).close();
    const write = (text: string): void => {
      const w = fs.create(joinPath(DIR, CURRENT_FILE_NAME));
      w.append(utf8(text));
      w.close();
    };
    for (const text of ['MANIFEST-000001', 'MANIFEST-1\n', '000001.sst\n', '', 'MANIFEST-000001\n\n']) {
      write(text);
      await rejectsWith(VersionSet.recover(fs, DIR), 'LSM_ERR_CORRUPTION');
    }
    write(`${manifestFileName(77)}\n`);
    const err = await rejectsWith(VersionSet.recover(fs, DIR), 'LSM_ERR_CORRUPTION');
    expect(err.message).toContain('MANIFEST-000077');
    write(`${manifestFileName(1)}\n`);
    expect((await VersionSet.recover(fs, DIR)).manifestNumber).toBe(1);
  });

  it('rejects a manifest whose edits do not apply', async () => {
    const fs = new CrashableMemFileSystem();
    const vs = await VersionSet.create(fs, DIR, { numLevels: 7 });
    const e = new VersionEdit();
    e.addFile(6, meta(vs.newFileNumber(), 'a', 'b', 1));
    await vs.logAndApply(e);
    await vs.close();
    // Fewer levels than the manifest uses.
    await rejectsWith(VersionSet.recover(fs, DIR, { numLevels: 4 }), 'LSM_ERR_CORRUPTION');
    expect((await VersionSet.recover(fs, DIR, { numLevels: 7 })).current().levels[6]!.length).toBe(1);
  });
});

describe('VersionSet on the real file system', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('creates, applies, reopens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsmraft-vs-'));
    dirs.push(dir);
    const fs = new NodeFileSystem();
    const vs = await VersionSet.open(fs, join(dir, 'db'));
    await flush(vs, 'a', 'c', 3, 'meta');
    await flush(vs, 'b', 'd', 4);
    const before = stateOf(vs);
    await vs.close();
    const again = await VersionSet.open(fs, join(dir, 'db'), { createIfMissing: false });
    expect(stateOf(again)).toEqual(before);
    await again.logAndApply(new VersionEdit());
    await again.close();
    const third = await VersionSet.open(fs, join(dir, 'db'));
    expect(stateOf(third)).toEqual(before);
    await third.close();
  });
});
