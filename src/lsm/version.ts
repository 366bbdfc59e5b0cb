/**
 * Version: one immutable state of the tree's file set, level by level (after leveldb's
 * db/version_set.h `Version` and doc/impl.md).
 *
 * What must hold:
 * - L0 files may overlap each other; they are ordered newest first (largestSeq descending, then
 *   file number descending), so a read that stops at the first hit sees the newest value.
 * - In L1 and deeper, files are sorted by smallest key and their user-key ranges are disjoint (a
 *   user key's versions never span two files of a level). Checked under INVARIANTS.
 * - A Version never changes after it is built. Readers and compactions pin the one they use with
 *   ref()/unref(); a table file may be deleted only when no referenced version holds it
 *   (VersionSet.liveFileNumbers()).
 *
 * applyEdit() makes the next version from a base and one edit; VersionBuilder replays a whole
 * manifest (leveldb's VersionSet::Builder).
 */
import { CorruptionError } from '../errors.js';
import { assert, INVARIANTS, unreachable } from '../util/assert.js';
import { compareBytes, compareRange } from '../util/bytes.js';
import { compareInternalKeys, TRAILER_BYTES, userKeyOf } from '../format/internal-key.js';
import type { FileMetadata, LevelFile, VersionEdit } from './version-edit.js';
import { LEVEL_COUNT_MAX } from './version-edit.js';

export const NUM_LEVELS_DEFAULT = 7;

export interface FileDescription {
  number: number;
  size: number;
  /** User keys. */
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
  smallestSeq: number;
  largestSeq: number;
  entryCount: number;
  deletionCount: number;
}

export interface LevelDescription {
  level: number;
  bytes: number;
  files: FileDescription[];
}

/** L0 read order: newest first. */
export function compareL0NewestFirst(a: FileMetadata, b: FileMetadata): number {
  if (a.largestSeq !== b.largestSeq) return b.largestSeq - a.largestSeq;
  return b.number - a.number;
}

function compareBySmallest(a: FileMetadata, b: FileMetadata): number {
  const c = compareInternalKeys(a.smallest, b.smallest);
  return c !== 0 ? c : a.number - b.number;
}

export function smallestUserKey(f: FileMetadata): Uint8Array {
  return userKeyOf(f.smallest);
}

export function largestUserKey(f: FileMetadata): Uint8Array {
  return userKeyOf(f.largest);
}

/** Does f's user-key range meet [smallest, largest]? An undefined bound is unbounded. */
function overlapsRange(f: FileMetadata, smallest: Uint8Array | undefined, largest: Uint8Array | undefined): boolean {
  if (smallest !== undefined && compareBytes(largestUserKey(f), smallest) < 0) return false;
  if (largest !== undefined && compareBytes(smallestUserKey(f), largest) > 0) return false;
  return true;
}

export class Version {
  readonly numLevels: number;
  readonly levels: readonly (readonly FileMetadata[])[];
  private refs = 0;
  private readonly onUnreferenced: ((v: Version) => void) | undefined;

  /**
   * `levels` must already be in order (L0 newest first, others by key); applyEdit() builds them so.
   * `onUnreferenced` is called when the reference count drops back to zero.
   */
  constructor(levels: FileMetadata[][], onUnreferenced?: (v: Version) => void) {
    assert(levels.length >= 2 && levels.length <= LEVEL_COUNT_MAX, () => `a version has 2..${LEVEL_COUNT_MAX} levels, got ${levels.length}`);
    this.numLevels = levels.length;
    for (const files of levels) Object.freeze(files);
    this.levels = Object.freeze(levels);
    this.onUnreferenced = onUnreferenced;
    if (INVARIANTS) this.checkInvariants();
  }

  static empty(numLevels: number = NUM_LEVELS_DEFAULT, onUnreferenced?: (v: Version) => void): Version {
    const levels: FileMetadata[][] = [];
    for (let i = 0; i < numLevels; i++) levels.push([]);
    return new Version(levels, onUnreferenced);
  }

  /** The same as numLevels. */
  get levelCount(): number {
    return this.numLevels;
  }

  ref(): void {
    this.refs++;
  }

  unref(): void {
    assert(this.refs > 0, 'unref() of a version with no references');
    this.refs--;
    if (this.refs === 0 && this.onUnreferenced !== undefined) this.onUnreferenced(this);
  }

  referenceCount(): number {
    return this.refs;
  }

  files(level: number): readonly FileMetadata[] {
    assert(level >= 0 && level < this.numLevels, () => `level ${level} out of range`);
    return this.levels[level]!;
  }

  fileCount(level: number): number {
    return this.files(level).length;
  }

  levelBytes(level: number): number {
    let n = 0;
    for (const f of this.files(level)) n += f.size;
    return n;
  }

  /** Every file, L0 first. */
  *allFiles(): Iterable<LevelFile> {
    for (let level = 0; level < this.numLevels; level++) for (const file of this.levels[level]!) yield { level, file };
  }

  /** Deepest level holding a file, or -1 when the version is empty. */
  lastNonEmptyLevel(): number {
    for (let level = this.numLevels - 1; level >= 0; level--) if (this.levels[level]!.length > 0) return level;
    return -1;
  }

  /**
   * The files a point read of `userKey` must consult, in the order it must consult them: every L0
   * file whose range holds the key, newest first, then at most one file per deeper level.
   */
  filesForGet(userKey: Uint8Array): LevelFile[] {
    const files: FileMetadata[] = [];
    const levels: number[] = [];
    const n = this.filesForGetInto(userKey, files, levels);
    return Array.from({ length: n }, (_, i) => ({ level: levels[i]!, file: files[i]! }));
  }

  /**
   * filesForGet() written to files[0..n) (and their levels to levels[0..n) if given); returns n.
   * A point read passes the same array every time, so it allocates nothing here; the user keys are
   * compared in place (compareRange up to the trailer), not through userKeyOf() subarrays.
   */
  filesForGetInto(userKey: Uint8Array, files: FileMetadata[], levels?: number[]): number {
    let count = 0;
    const n = userKey.length;
    const l0 = this.levels[0]!;
    for (let i = 0; i < l0.length; i++) {
      const file = l0[i]!;
      const s = file.smallest;
      const l = file.largest;
      if (compareRange(userKey, 0, n, s, 0, s.length - TRAILER_BYTES) >= 0 &&
        compareRange(userKey, 0, n, l, 0, l.length - TRAILER_BYTES) <= 0) {
        if (levels !== undefined) levels[count] = 0;
        files[count++] = file;
      }
    }
    for (let level = 1; level < this.numLevels; level++) {
      const inLevel = this.levels[level]!;
      // First file whose largest user key is >= userKey (files are sorted and disjoint).
      let lo = 0;
      let hi = inLevel.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const l = inLevel[mid]!.largest;
        if (compareRange(l, 0, l.length - TRAILER_BYTES, userKey, 0, n) < 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo === inLevel.length) continue;
      const file = inLevel[lo]!;
      const s = file.smallest;
      if (compareRange(userKey, 0, n, s, 0, s.length - TRAILER_BYTES) >= 0) {
        if (levels !== undefined) levels[count] = level;
        files[count++] = file;
      }
    }
    return count;
  }

  /**
   * Files of `level` whose user-key ranges meet [smallestUser, largestUser] (undefined = unbounded),
   * in level order. In L0, as leveldb's GetOverlappingInputs, the range grows to cover every file
   * picked until no other file overlaps it: a compaction that took only some of the overlapping
   * L0 files would move older versions of a key below newer ones left behind.
   */
  overlappingFiles(level: number, smallestUser?: Uint8Array, largestUser?: Uint8Array): FileMetadata[] {
    const files = this.files(level);
    if (level > 0) {
      let i = smallestUser === undefined ? 0 : findFile(files, smallestUser);
      const out: FileMetadata[] = [];
      for (; i < files.length && overlapsRange(files[i]!, undefined, largestUser); i++) out.push(files[i]!);
      return out;
    }
    let lo = smallestUser;
    let hi = largestUser;
    const taken = new Array<boolean>(files.length).fill(false);
    // Each pass either takes a file or ends, so at most files.length + 1 passes.
    for (let pass = 0; pass <= files.length; pass++) {
      let grew = false;
      for (let i = 0; i < files.length; i++) {
        const f = files[i]!;
        if (taken[i] || !overlapsRange(f, lo, hi)) continue;
        taken[i] = true;
        if (lo !== undefined && compareBytes(smallestUserKey(f), lo) < 0) {
          lo = smallestUserKey(f);
          grew = true;
        }
        if (hi !== undefined && compareBytes(largestUserKey(f), hi) > 0) {
          hi = largestUserKey(f);
          grew = true;
        }
      }
      if (!grew) break;
      assert(pass < files.length, 'L0 overlap expansion did not converge');
    }
    return files.filter((_, i) => taken[i]);
  }

  /** Data for `lsm s`: per level, its bytes and its files with key ranges and counts. */
  describe(): LevelDescription[] {
    return this.levels.map((files, level) => ({
      level,
      bytes: this.levelBytes(level),
      files: files.map((f) => ({
        number: f.number,
        size: f.size,
        smallestKey: smallestUserKey(f),
        largestKey: largestUserKey(f),
        smallestSeq: f.smallestSeq,
        largestSeq: f.largestSeq,
        entryCount: f.entryCount,
        deletionCount: f.deletionCount,
      })),
    }));
  }

  private checkInvariants(): void {
    const seen = new Set<number>();
    for (let level = 0; level < this.numLevels; level++) {
      const files = this.levels[level]!;
      for (let i = 0; i < files.length; i++) {
        const f = files[i]!;
        assert(!seen.has(f.number), () => `file ${f.number} appears twice in a version`);
        seen.add(f.number);
        if (i === 0) continue;
        const prev = files[i - 1]!;
        if (level === 0) {
          assert(compareL0NewestFirst(prev, f) < 0, () => `L0 files ${prev.number}, ${f.number} not newest first`);
        } else {
          assert(
            compareBytes(largestUserKey(prev), smallestUserKey(f)) < 0,
            () => `L${level} files ${prev.number} and ${f.number} overlap or are out of order`,
          );
        }
      }
    }
  }
}

/** Index of the first file of a sorted, disjoint level whose largest user key is >= userKey. */
function findFile(files: readonly FileMetadata[], userKey: Uint8Array): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(largestUserKey(files[mid]!), userKey) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where an edit being applied came from: a manifest record (then a bad edit is corruption). */
export interface EditSource {
  file: string;
  offset: number;
}

function editFailure(source: EditSource | undefined): (what: string) => never {
  return (what) => {
    if (source !== undefined) throw new CorruptionError(`manifest edit cannot apply: ${what}`, source.file, source.offset);
    return unreachable(`version edit cannot apply: ${what}`);
  };
}

/** Checks that the files of an L1+ level, sorted by smallest key, have disjoint user-key ranges. */
function checkDisjoint(level: number, files: readonly FileMetadata[], fail: (what: string) => never): void {
  for (let i = 1; i < files.length; i++) {
    if (compareBytes(largestUserKey(files[i - 1]!), smallestUserKey(files[i]!)) >= 0) {
      fail(`L${level} files ${files[i - 1]!.number} and ${files[i]!.number} overlap`);
    }
  }
}

/**
 * The version after `edit` (the tree's own edits, at run time): its deletions, then its
 * additions, applied to `base`. Unchanged levels share base's (frozen) arrays; a changed level
 * costs one pass over it. A deletion of a file the level lacks, a level out of range, or an L1+
 * addition that overlaps its neighbours is a bug (assertion). A number present twice is caught by
 * the INVARIANTS check of the Version constructor.
 */
export function applyEdit(base: Version, edit: VersionEdit, onUnreferenced?: (v: Version) => void): Version {
  const fail = editFailure(undefined);
  const numLevels = base.numLevels;
  const levels: FileMetadata[][] = base.levels.map((files) => files as FileMetadata[]);
  const deleted = new Map<number, Set<number>>();
  for (const d of edit.deletedFiles) {
    if (d.level >= numLevels) fail(`level ${d.level} is not below ${numLevels}`);
    let set = deleted.get(d.level);
    if (set === undefined) deleted.set(d.level, (set = new Set()));
    set.add(d.number);
  }
  for (const [level, numbers] of deleted) {
    const kept = levels[level]!.filter((f) => !numbers.has(f.number));
    if (kept.length !== levels[level]!.length - numbers.size) fail(`a deleted file of L${level} is not in it`);
    levels[level] = kept;
  }
  const added = new Map<number, FileMetadata[]>();
  for (const { level, file } of edit.newFiles) {
    if (level >= numLevels) fail(`level ${level} is not below ${numLevels}`);
    let list = added.get(level);
    if (list === undefined) added.set(level, (list = []));
    list.push(file);
  }
  for (const [level, files] of added) {
    const order = level === 0 ? compareL0NewestFirst : compareBySmallest;
    files.sort(order);
    // Merge two sorted lists: the level (already ordered) and the additions.
    const old = levels[level]!;
    const merged: FileMetadata[] = [];
    let i = 0;
    let j = 0;
    while (i < old.length || j < files.length) {
      if (j >= files.length || (i < old.length && order(old[i]!, files[j]!) <= 0)) merged.push(old[i++]!);
      else merged.push(files[j++]!);
    }
    if (level > 0) checkDisjoint(level, merged, fail);
    levels[level] = merged;
  }
  return new Version(levels, onUnreferenced);
}

/**
 * Accumulates the edits of a manifest being replayed (leveldb's VersionSet::Builder): each edit is
 * checked as it is applied, the level order and L1+ disjointness once, in build(). Anything that
 * does not apply is a CorruptionError naming the record.
 */
export class VersionBuilder {
  private readonly numLevels: number;
  private readonly levels: Map<number, FileMetadata>[] = [];

  constructor(base: Version) {
    this.numLevels = base.numLevels;
    for (const files of base.levels) this.levels.push(new Map(files.map((f) => [f.number, f])));
  }

  apply(edit: VersionEdit, source: EditSource): void {
    const fail = editFailure(source);
    for (const d of edit.deletedFiles) {
      if (d.level >= this.numLevels) fail(`level ${d.level} is not below ${this.numLevels}`);
      if (!this.levels[d.level]!.delete(d.number)) fail(`deleted file ${d.number} is not in L${d.level}`);
    }
    for (const { level, file } of edit.newFiles) {
      if (level >= this.numLevels) fail(`level ${level} is not below ${this.numLevels}`);
      for (const files of this.levels) if (files.has(file.number)) fail(`added file ${file.number} is already in the version`);
      this.levels[level]!.set(file.number, file);
    }
  }

  /** `source` names the last record, for an overlap found only now. */
  build(source: EditSource, onUnreferenced?: (v: Version) => void): Version {
    const fail = editFailure(source);
    const levels = this.levels.map((files, level) => {
      const sorted = [...files.values()].sort(level === 0 ? compareL0NewestFirst : compareBySmallest);
      if (level > 0) checkDisjoint(level, sorted, fail);
      return sorted;
    });
    return new Version(levels, onUnreferenced);
  }
}
