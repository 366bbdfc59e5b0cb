import { describe, expect, it } from 'vitest';
import {
  COMPACTION_OPTIONS_DEFAULT,
  levelScores,
  manualCompactionLastLevel,
  maxBytesForLevel,
  pickCompaction,
  pickManualCompaction,
  type Compaction,
  type CompactionOptions,
} from '../../src/lsm/compaction-picker.js';
import { KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { VersionEdit, type FileMetadata } from '../../src/lsm/version-edit.js';
import { applyEdit, largestUserKey, smallestUserKey, Version } from '../../src/lsm/version.js';
import { compareBytes, fromUtf8, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';

const KiB = 1024;

function meta(number: number, a: string, b: string, size: number, seqLo: number, seqHi: number): FileMetadata {
  return {
    number,
    size,
    smallest: makeInternalKey(utf8(a), seqHi, KIND_PUT),
    largest: makeInternalKey(utf8(b), seqLo, KIND_PUT),
    entryCount: 1,
    deletionCount: 0,
    smallestSeq: seqLo,
    largestSeq: seqHi,
  };
}

function build(files: { level: number; file: FileMetadata }[], numLevels = 7): Version {
  const e = new VersionEdit();
  for (const { level, file } of files) e.addFile(level, file);
  return applyEdit(Version.empty(numLevels), e);
}

const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

/**
 * A model of the data: which sample keys each file holds, at which sequence. A flush writes every
 * sample key of its range; a compaction's outputs (cut from the inputs' key range in pieces of
 * about targetFileSizeBytes) hold, per key, the newest entry among the inputs. A read consults
 * files in Version.filesForGet order and takes the first that holds the key, as a real get does.
 */
class Model {
  readonly contents = new Map<number, Map<number, number>>();
  readonly latest = new Map<number, number>();
  nextNumber = 1;

  flush(a: number, b: number, seq: number, size: number): FileMetadata {
    const held = new Map<number, number>();
    for (let k = a; k <= b; k++) {
      held.set(k, seq);
      this.latest.set(k, seq);
    }
    const f = meta(this.nextNumber++, key(a), key(b), size, seq, seq);
    this.contents.set(f.number, held);
    return f;
  }

  compact(c: Compaction, options: CompactionOptions): FileMetadata[] {
    const merged = new Map<number, number>();
    for (const f of [...c.inputs[0], ...c.inputs[1]]) {
      for (const [k, seq] of this.contents.get(f.number)!) merged.set(k, Math.max(seq, merged.get(k) ?? 0));
    }
    const lo = Number(fromUtf8(c.smallestUser).slice(1));
    const hi = Number(fromUtf8(c.largestUser).slice(1));
    const bytes = c.inputBytes();
    const pieces = Math.max(1, Math.min(hi - lo + 1, Math.round(bytes / options.targetFileSizeBytes)));
    const out: FileMetadata[] = [];
    for (let p = 0; p < pieces; p++) {
      const a = lo + Math.floor(((hi - lo + 1) * p) / pieces);
      const b = lo + Math.floor(((hi - lo + 1) * (p + 1)) / pieces) - 1;
      const held = new Map<number, number>();
      for (let k = a; k <= b; k++) if (merged.has(k)) held.set(k, merged.get(k)!);
      const seqs = [...held.values()];
      const f = meta(this.nextNumber++, key(a), key(b), Math.max(1, Math.floor(bytes / pieces)), Math.min(0, ...seqs), Math.max(0, ...seqs));
      this.contents.set(f.number, held);
      out.push(f);
    }
    return out;
  }

  read(v: Version, k: number): number | undefined {
    for (const { file } of v.filesForGet(utf8(key(k)))) {
      const seq = this.contents.get(file.number)!.get(k);
      if (seq !== undefined) return seq;
    }
    return undefined;
  }

  /** Keys whose read does not return the newest write. */
  staleKeys(v: Version): number[] {
    const stale: number[] = [];
    for (let k = 0; k < 1000; k++) if (this.read(v, k) !== this.latest.get(k)) stale.push(k);
    return stale;
  }
}

describe('compaction picker', () => {
  // Static level targets (leveldb's); compaction-dynamic.txt covers the dynamic ones.
  const options: CompactionOptions = { ...COMPACTION_OPTIONS_DEFAULT, l1MaxBytes: 4 * KiB, targetFileSizeBytes: KiB, dynamicLevelBytes: false };

  it('sizes levels geometrically from l1MaxBytes', () => {
    expect(maxBytesForLevel(COMPACTION_OPTIONS_DEFAULT, 1)).toBe(256 * 1024 * 1024);
    expect(maxBytesForLevel(COMPACTION_OPTIONS_DEFAULT, 3)).toBe(25600 * 1024 * 1024);
    expect(() => maxBytesForLevel(COMPACTION_OPTIONS_DEFAULT, 0)).toThrow(/assertion failed/);
  });

  it('scores L0 by file count and deeper levels by bytes', () => {
    const v = build([
      { level: 0, file: meta(1, 'a', 'b', 10, 1, 1) },
      { level: 0, file: meta(2, 'a', 'b', 10, 2, 2) },
      { level: 1, file: meta(3, 'a', 'b', 6 * KiB, 0, 0) },
      { level: 2, file: meta(4, 'a', 'b', 20 * KiB, 0, 0) },
    ]);
    const scores = levelScores(v, options);
    expect(scores.map((s) => s.level)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(scores[0]!.score).toBe(0.5);
    expect(scores[1]!.score).toBe(1.5);
    expect(scores[2]!.score).toBe(0.5);
    const c = pickCompaction(v, options, []);
    expect(c?.describe()).toBe('L1 -> L2 inputs [3] [4] bottommost=true');
  });

  it('builds the edit of a compaction and of a trivial move', () => {
    const v = build([
      { level: 1, file: meta(1, 'a', 'c', 5 * KiB, 1, 1) },
      { level: 1, file: meta(2, 'd', 'f', 1, 2, 2) },
      { level: 2, file: meta(3, 'b', 'e', 1, 0, 0) },
    ]);
    const c = pickCompaction(v, options, []);
    expect(c).not.toBeNull();
    expect(c!.describe()).toBe('L1 -> L2 inputs [1 2] [3] bottommost=true');
    const out = meta(9, 'a', 'f', 5 * KiB, 0, 2);
    const edit = c!.toEdit([out]);
    expect(edit.deletedFiles).toEqual([
      { level: 1, number: 1 },
      { level: 1, number: 2 },
      { level: 2, number: 3 },
    ]);
    expect(edit.newFiles).toEqual([{ level: 2, file: out }]);
    expect(edit.compactPointers).toEqual([{ level: 1, key: v.files(1)[1]!.largest }]);
    const after = applyEdit(v, edit);
    expect(after.files(1).length).toBe(0);
    expect(after.files(2).map((f) => f.number)).toEqual([9]);

    const lone = build([{ level: 1, file: meta(1, 'a', 'c', 5 * KiB, 1, 1) }]);
    const move = pickCompaction(lone, options, []);
    expect(move!.isTrivialMove).toBe(true);
    expect(() => move!.toEdit([out])).toThrow(/assertion failed/);
    const moved = applyEdit(lone, move!.toEdit([]));
    expect(moved.files(2)).toEqual([lone.files(1)[0]]);
    // Manual compactions rewrite instead of moving.
    expect(pickManualCompaction(lone, options, 1)!.isTrivialMove).toBe(false);
  });

  for (const dynamicLevelBytes of [false, true]) {
    it(`keeps every read returning the newest write under random flushes and picks (seeded; dynamicLevelBytes ${dynamicLevelBytes})`, () => {
      simulate({ ...options, dynamicLevelBytes });
    });
  }
});

/** Random flushes, each followed by the picks until none is due; checks reads against a model. */
function simulate(options: CompactionOptions): void {
  const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
  const rnd = mulberry32(seed);
  try {
    let v = Version.empty(options.numLevels);
    let pointers: (Uint8Array | undefined)[] = [];
    const model = new Model();
    let seq = 1;
    let compactions = 0;
    let moves = 0;
    for (let step = 0; step < 200; step++) {
      // A flush: one L0 file over a random range.
      const a = Math.floor(rnd() * 990);
      const b = a + Math.floor(rnd() * Math.min(200, 999 - a));
      const e = new VersionEdit();
      e.addFile(0, model.flush(a, b, seq++, KiB / 2 + Math.floor(rnd() * KiB)));
      v = applyEdit(v, e);
      // Compact until no level is over its target (bounded: each round shrinks the work).
      for (let round = 0; round < 100; round++) {
        const c = pickCompaction(v, options, pointers);
        if (c === null) break;
        expect(round).toBeLessThan(99);
        const edit = c.isTrivialMove ? c.toEdit([]) : c.toEdit(model.compact(c, options));
        if (c.isTrivialMove) moves++;
        compactions++;
        // Bottommost must mean nothing below overlaps.
        if (c.isBottommost) {
          for (let l = c.outputLevel + 1; l < v.numLevels; l++) expect(v.overlappingFiles(l, c.smallestUser, c.largestUser)).toEqual([]);
        }
        v = applyEdit(v, edit);
        pointers = [...pointers];
        for (const p of edit.compactPointers) pointers[p.level] = p.key;
      }
      expect(v.fileCount(0)).toBeLessThan(options.l0CompactionTrigger);
      if (step % 10 === 0) expect(model.staleKeys(v)).toEqual([]);
    }
    expect(model.staleKeys(v)).toEqual([]);
    expect(compactions).toBeGreaterThan(50);
    expect(moves).toBeGreaterThan(0);
    expect(v.lastNonEmptyLevel()).toBeGreaterThanOrEqual(2);

    // A full manual compaction gathers everything into one level, in a bounded number of steps.
    const target = manualCompactionLastLevel(v, options);
    let steps = 0;
    for (; steps < 1000; steps++) {
      const c = pickManualCompaction(v, options);
      if (c === null) break;
      expect(c.isTrivialMove).toBe(false);
      v = applyEdit(v, c.toEdit(model.compact(c, options)));
    }
    expect(steps).toBeLessThan(1000);
    expect(steps).toBeGreaterThan(0);
    for (let l = 0; l < v.numLevels; l++) if (l !== target) expect(v.fileCount(l)).toBe(0);
    expect(model.staleKeys(v)).toEqual([]);
    const files = v.files(target);
    for (let i = 1; i < files.length; i++) expect(compareBytes(largestUserKey(files[i - 1]!), smallestUserKey(files[i]!))).toBeLessThan(0);
  } catch (err) {
    console.error(`compaction picker simulation failed with LSMRAFT_SEED=${seed}`);
    throw err;
  }
}
