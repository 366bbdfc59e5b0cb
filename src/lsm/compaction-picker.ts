/**
 * Leveled compaction picking, after leveldb's VersionSet::PickCompaction / SetupOtherInputs /
 * CompactRange (db/version_set.cc) and doc/impl.md "Compactions".
 *
 * - Scores: L0 scores its file count / l0CompactionTrigger (each L0 file is one more place a read
 *   must look); Ln (1 <= n < numLevels-1) scores its bytes / its target (levelTargets). The last
 *   level is never compacted out of. The highest score >= 1 is compacted (ties: lower level).
 * - Level targets, static: L1's is l1MaxBytes and each deeper level's levelSizeMultiplier times
 *   that; L0 compacts into L1 (leveldb). Dynamic (dynamicLevelBytes, after RocksDB's
 *   level_compaction_dynamic_level_bytes, VersionStorageInfo::CalculateBaseBytes in
 *   db/version_set.cc): the last level's actual size sets the targets of the levels above it,
 *   each levelSizeMultiplier times smaller, and L0 compacts into the "base level", the highest
 *   level whose target is still above l1MaxBytes / levelSizeMultiplier (so at most l1MaxBytes);
 *   the levels above it stay empty. A small tree is then one L0 and one last level (each byte is
 *   rewritten about once per level it passes, and it passes few), and ~90% of the data sits in
 *   the last level whatever the tree's size, where static targets leave a tree just past a level's
 *   target with most of its data one level up (where it is rewritten once more).
 * - Inputs of level n: in L1+, the first file after the level's compact pointer (round-robin over
 *   the key space, so every range is eventually compacted), wrapping to the first file; in L0 the
 *   oldest file, grown to every L0 file it overlaps transitively (Version.overlappingFiles).
 * - Inputs of level n+1: every file overlapping level n's inputs. Then level n's inputs grow to all
 *   files within the combined range if that adds no level n+1 file and stays under
 *   expandedCompactionBytesMax (25 target files), as leveldb does.
 * - Trivial move: one level-n file, nothing overlapping in level n+1, and at most
 *   grandparentOverlapBytesMax (10 target files) overlapping in level n+2 (so the moved file does
 *   not make a later compaction huge): the edit just moves the file down, no data is rewritten.
 * - Bottommost: no level below the output overlaps the inputs' key range, so the merge may drop
 *   tombstones that hide nothing (docs/format/sstable.md, merge rules).
 *
 * One compaction at a time: the picker does not know which files a running job holds.
 */
import { assert } from '../util/assert.js';
import { compareBytes } from '../util/bytes.js';
import { compareInternalKeys } from '../format/internal-key.js';
import type { FileMetadata } from './version-edit.js';
import { VersionEdit } from './version-edit.js';
import { largestUserKey, smallestUserKey, type Version } from './version.js';

export interface CompactionOptions {
  numLevels: number;
  /** L0 file count at which L0 scores 1. */
  l0CompactionTrigger: number;
  /** Byte target of L1; deeper levels multiply it by levelSizeMultiplier per level. */
  l1MaxBytes: number;
  levelSizeMultiplier: number;
  /** Size outputs are cut at; the expansion and grandparent limits are multiples of it. */
  targetFileSizeBytes: number;
  /** Level targets from the last level's size, L0 into the base level (see the header). */
  dynamicLevelBytes: boolean;
}

const MiB = 1024 * 1024;

export const COMPACTION_OPTIONS_DEFAULT: Readonly<CompactionOptions> = Object.freeze({
  numLevels: 7,
  l0CompactionTrigger: 4,
  l1MaxBytes: 256 * MiB,
  levelSizeMultiplier: 10,
  targetFileSizeBytes: 4 * MiB,
  dynamicLevelBytes: true,
});

/** Input bytes a compaction may grow to when it expands level n's inputs (leveldb: 25 files). */
export function expandedCompactionBytesMax(options: CompactionOptions): number {
  return 25 * options.targetFileSizeBytes;
}

/** Bytes of level n+2 a trivially moved file may overlap (leveldb: 10 files). */
export function grandparentOverlapBytesMax(options: CompactionOptions): number {
  return 10 * options.targetFileSizeBytes;
}

/** The static target of `level` (>= 1): l1MaxBytes times levelSizeMultiplier per level below L1. */
export function maxBytesForLevel(options: CompactionOptions, level: number): number {
  assert(level >= 1, 'L0 is limited by file count, not bytes');
  let bytes = options.l1MaxBytes;
  for (let l = 1; l < level; l++) bytes *= options.levelSizeMultiplier;
  return bytes;
}

export interface LevelTargets {
  /** The level L0 compacts into; every level between L0 and it is empty. */
  baseLevel: number;
  /** Byte target per level (index = level); Infinity for L0 and for the levels above baseLevel. */
  bytes: number[];
}

/**
 * The byte targets of the levels and the level L0 compacts into (see the header). Dynamic: with
 * S the size of the largest level below L0 (the last one, once data has reached it) and m the
 * multiplier, level n's target is S / m^(last - n), at least l1MaxBytes; the base level is the
 * highest level, not below the first non-empty one, whose target is above l1MaxBytes / m (L1 at
 * the highest). With no data below L0 the base level is the last one.
 */
export function levelTargets(version: Version, options: CompactionOptions): LevelTargets {
  const numLevels = options.numLevels;
  const last = numLevels - 1;
  const bytes: number[] = new Array<number>(numLevels).fill(Infinity);
  if (!options.dynamicLevelBytes) {
    for (let level = 1; level < numLevels; level++) bytes[level] = maxBytesForLevel(options, level);
    return { baseLevel: 1, bytes };
  }
  const m = options.levelSizeMultiplier;
  const baseBytesMax = options.l1MaxBytes;
  const baseBytesMin = baseBytesMax / m;
  let firstNonEmpty = -1;
  let largest = 0;
  for (let level = 1; level < numLevels; level++) {
    const b = version.levelBytes(level);
    if (b > 0 && firstNonEmpty < 0) firstNonEmpty = level;
    if (b > largest) largest = b;
  }
  if (firstNonEmpty < 0) return { baseLevel: last, bytes: fillTargets(bytes, last, baseBytesMax, m, baseBytesMax) };
  // What the first non-empty level's target is when the last level's is the largest level's size.
  let size = largest;
  for (let level = last - 1; level >= firstNonEmpty; level--) size /= m;
  let baseLevel = firstNonEmpty;
  let baseBytes: number;
  if (size <= baseBytesMin) {
    // The levels down to the last cannot all be m times apart: the first non-empty one takes the
    // floor, and the ones below it their multiples (more data above the last level than ideal).
    baseBytes = baseBytesMin;
  } else {
    // Each step up divides by m > 1 and stops at L1: bounded by the level count.
    while (baseLevel > 1 && size > baseBytesMax) {
      baseLevel--;
      size /= m;
    }
    baseBytes = Math.min(size, baseBytesMax);
  }
  return { baseLevel, bytes: fillTargets(bytes, baseLevel, baseBytes, m, baseBytesMax) };
}

/** Targets from baseLevel down: baseBytes times m per level, none below `floor`. */
function fillTargets(bytes: number[], baseLevel: number, baseBytes: number, m: number, floor: number): number[] {
  let size = baseBytes;
  for (let level = baseLevel; level < bytes.length; level++) {
    if (level > baseLevel) size *= m;
    bytes[level] = Math.max(size, floor);
  }
  return bytes;
}

export interface LevelScore {
  level: number;
  score: number;
}

/** Scores of L0 .. L(numLevels-2), in level order. */
export function levelScores(version: Version, options: CompactionOptions, targets = levelTargets(version, options)): LevelScore[] {
  assert(version.numLevels === options.numLevels, () => `version has ${version.numLevels} levels, options ${options.numLevels}`);
  const out: LevelScore[] = [{ level: 0, score: version.fileCount(0) / options.l0CompactionTrigger }];
  for (let level = 1; level < options.numLevels - 1; level++) {
    out.push({ level, score: version.levelBytes(level) / targets.bytes[level]! });
  }
  return out;
}

function totalBytes(files: readonly FileMetadata[]): number {
  let n = 0;
  for (const f of files) n += f.size;
  return n;
}

/** The user-key range covering all `files` (non-empty). */
function userKeyRange(files: readonly FileMetadata[]): { smallest: Uint8Array; largest: Uint8Array } {
  assert(files.length > 0, 'key range of no files');
  let smallest = smallestUserKey(files[0]!);
  let largest = largestUserKey(files[0]!);
  for (const f of files) {
    if (compareBytes(smallestUserKey(f), smallest) < 0) smallest = smallestUserKey(f);
    if (compareBytes(largestUserKey(f), largest) > 0) largest = largestUserKey(f);
  }
  return { smallest, largest };
}

export class Compaction {
  readonly level: number;
  readonly outputLevel: number;
  /** [files of level, files of outputLevel], each in the version's order. */
  readonly inputs: readonly [readonly FileMetadata[], readonly FileMetadata[]];
  /** Files of outputLevel + 1 overlapping the inputs (for cutting outputs; for the move check). */
  readonly grandparents: readonly FileMetadata[];
  /** User-key range of all inputs. */
  readonly smallestUser: Uint8Array;
  readonly largestUser: Uint8Array;
  /** No file below outputLevel overlaps the range: tombstones that hide nothing may be dropped. */
  readonly isBottommost: boolean;
  /** The whole compaction is moving inputs[0][0] to outputLevel: apply toEdit([]), write nothing. */
  readonly isTrivialMove: boolean;
  readonly isManual: boolean;
  /**
   * For a full compaction (several levels into outputLevel at once): the level of each file of
   * inputs[0], which then holds the files of every level from `level` to outputLevel - 1.
   */
  private readonly upperLevels: readonly number[] | undefined;

  /**
   * `upper.outputLevel` defaults to level + 1; an L0 compaction into a deeper base level
   * (dynamicLevelBytes) passes it alone, with the levels between empty. A full compaction also
   * passes `upper.levels`, the level of each file of inputs0, and `move` when its one input file
   * is to move down unchanged (pickFullCompaction says when that is allowed).
   */
  constructor(
    version: Version, options: CompactionOptions, level: number, inputs0: FileMetadata[], inputs1: FileMetadata[], isManual: boolean,
    upper?: { outputLevel: number; levels?: readonly number[]; move?: boolean },
  ) {
    assert(level >= 0 && level + 1 < version.numLevels, () => `cannot compact out of level ${level}`);
    assert(inputs0.length > 0, 'a compaction needs input files');
    assert(upper === undefined || (upper.outputLevel > level && upper.outputLevel < version.numLevels),
      () => `cannot compact L${level} into L${upper?.outputLevel}`);
    assert(upper?.levels === undefined || upper.levels.length === inputs0.length, 'a full compaction names the level of each upper input');
    this.level = level;
    this.outputLevel = upper?.outputLevel ?? level + 1;
    this.upperLevels = upper?.levels;
    if (this.upperLevels === undefined) {
      // Skipping a level that holds data would move keys below older versions of them.
      for (let l = level + 1; l < this.outputLevel; l++) assert(version.fileCount(l) === 0, () => `L${level} -> L${this.outputLevel} skips non-empty L${l}`);
    }
    this.inputs = [inputs0, inputs1];
    this.isManual = isManual;
    const range = userKeyRange([...inputs0, ...inputs1]);
    this.smallestUser = range.smallest;
    this.largestUser = range.largest;
    this.grandparents = this.outputLevel + 1 < version.numLevels ? version.overlappingFiles(this.outputLevel + 1, range.smallest, range.largest) : [];
    let bottommost = true;
    for (let l = this.outputLevel + 1; l < version.numLevels && bottommost; l++) {
      bottommost = version.overlappingFiles(l, range.smallest, range.largest).length === 0;
    }
    this.isBottommost = bottommost;
    assert(upper?.move !== true || (inputs0.length === 1 && inputs1.length === 0), 'only a lone file meeting nothing below moves');
    this.isTrivialMove = upper?.move === true ||
      (!isManual && this.upperLevels === undefined && inputs0.length === 1 && inputs1.length === 0 && totalBytes(this.grandparents) <= grandparentOverlapBytesMax(options));
  }

  inputBytes(): number {
    return totalBytes(this.inputs[0]) + totalBytes(this.inputs[1]);
  }

  /** Input files, each with its level, in input order. */
  inputFiles(): { level: number; file: FileMetadata }[] {
    return [
      ...this.inputs[0].map((file, i) => ({ level: this.upperLevels?.[i] ?? this.level, file })),
      ...this.inputs[1].map((file) => ({ level: this.outputLevel, file })),
    ];
  }

  /**
   * The edit installing the compaction: inputs out, `outputs` into outputLevel. For a trivial move
   * `outputs` must be empty and the edit moves the input file down unchanged.
   */
  toEdit(outputs: readonly FileMetadata[]): VersionEdit {
    if (this.isTrivialMove) {
      assert(outputs.length === 0, 'a trivial move writes no outputs');
      return this.moveEdit();
    }
    const edit = new VersionEdit();
    for (const { level, file } of this.inputFiles()) edit.deleteFile(level, file.number);
    for (const file of outputs) edit.addFile(this.outputLevel, file);
    // A full compaction empties the levels above its output: no round-robin position to keep.
    if (this.upperLevels === undefined) edit.setCompactPointer(this.level, this.largestInputKey());
    return edit;
  }

  /** The edit of a trivial move: the one input file, unchanged, one level down. */
  private moveEdit(): VersionEdit {
    const file = this.inputs[0][0]!;
    const edit = new VersionEdit();
    edit.deleteFile(this.level, file.number);
    edit.addFile(this.outputLevel, file);
    edit.setCompactPointer(this.level, this.largestInputKey());
    return edit;
  }

  /** One line: `L0 -> L1 inputs [1 2] [5] bottommost=false` (numbers ascending), plus ` move`. */
  describe(): string {
    const nums = (files: readonly FileMetadata[]): string => files.map((f) => f.number).sort((a, b) => a - b).join(' ');
    const from = this.upperLevels === undefined || this.outputLevel === this.level + 1 ? `L${this.level}` : `L${this.level}..L${this.outputLevel - 1}`;
    return (
      `${from} -> L${this.outputLevel} inputs [${nums(this.inputs[0])}] [${nums(this.inputs[1])}] ` +
      `bottommost=${this.isBottommost}${this.isTrivialMove ? ' move' : ''}`
    );
  }

  /** Largest internal key of level-n inputs: where the next round-robin pick starts. */
  private largestInputKey(): Uint8Array {
    let largest = this.inputs[0][0]!.largest;
    for (const f of this.inputs[0]) if (compareInternalKeys(f.largest, largest) > 0) largest = f.largest;
    return largest;
  }
}

/**
 * Output level inputs for `inputs0`, then leveldb's expansion of level n's inputs when it adds no
 * output level file and stays under the byte limit. The output level is level + 1, or the base
 * level for L0 (levelTargets).
 */
function setupOtherInputs(
  version: Version, options: CompactionOptions, level: number, inputs0: FileMetadata[], isManual: boolean, outputLevel = level + 1,
): Compaction {
  const upper = outputLevel === level + 1 ? undefined : { outputLevel };
  const r0 = userKeyRange(inputs0);
  const inputs1 = version.overlappingFiles(outputLevel, r0.smallest, r0.largest);
  if (inputs1.length > 0) {
    const all = userKeyRange([...inputs0, ...inputs1]);
    const expanded0 = version.overlappingFiles(level, all.smallest, all.largest);
    if (expanded0.length > inputs0.length && totalBytes(expanded0) + totalBytes(inputs1) < expandedCompactionBytesMax(options)) {
      const re = userKeyRange(expanded0);
      const expanded1 = version.overlappingFiles(outputLevel, re.smallest, re.largest);
      if (expanded1.length === inputs1.length) {
        return new Compaction(version, options, level, expanded0, expanded1, isManual, upper);
      }
    }
  }
  return new Compaction(version, options, level, inputs0, inputs1, isManual, upper);
}

/**
 * The compaction the tree most needs, or null when every level is within its target.
 * `compactPointers[level]` is the largest internal key of the last compaction out of that level
 * (VersionSet.compactPointers()).
 */
export function pickCompaction(
  version: Version,
  options: CompactionOptions,
  compactPointers: readonly (Uint8Array | undefined)[] = [],
): Compaction | null {
  const targets = levelTargets(version, options);
  let best: LevelScore | undefined;
  for (const s of levelScores(version, options, targets)) if (best === undefined || s.score > best.score) best = s;
  if (best === undefined || best.score < 1) return null;
  const level = best.level;
  const files = version.files(level);
  assert(files.length > 0, () => `L${level} scores ${best.score} with no files`);
  let inputs0: FileMetadata[];
  if (level === 0) {
    // Oldest L0 file first: it holds the data that has waited longest to move down.
    const oldest = files[files.length - 1]!;
    inputs0 = version.overlappingFiles(0, smallestUserKey(oldest), largestUserKey(oldest));
  } else {
    const pointer = compactPointers[level];
    const start = pointer === undefined ? undefined : files.find((f) => compareInternalKeys(f.largest, pointer) > 0);
    inputs0 = [start ?? files[0]!];
  }
  return setupOtherInputs(version, options, level, inputs0, false, level === 0 ? targets.baseLevel : level + 1);
}

/**
 * A compaction of the files of `level` overlapping [range.smallest, range.largest] (user keys;
 * an absent bound is unbounded) into level + 1 (L0: into the base level, levelTargets), or null
 * when none overlaps. Never a trivial move, so tombstones reaching the bottom are dropped. In L1+
 * one call takes a run of files up to expandedCompactionBytesMax, starting from the first
 * overlapping one; once applied, the next call takes the rest.
 *
 * Without `level`, one step of a full compaction (pickFullCompaction): every level above
 * manualCompactionLastLevel(version) into it at once. A full compact() calls it on the then-current
 * version, runs and installs what it returns, and repeats until it returns null (files flushed
 * meanwhile make another step); all data (in the range) then sits in one level.
 */
export function pickManualCompaction(
  version: Version,
  options: CompactionOptions,
  level?: number,
  range: { smallest?: Uint8Array; largest?: Uint8Array } = {},
  holdsOneVersionPerKey: (file: FileMetadata) => boolean = () => false,
): Compaction | null {
  if (level === undefined) return pickFullCompaction(version, options, range, holdsOneVersionPerKey);
  assert(level >= 0 && level + 1 < version.numLevels, () => `cannot compact out of level ${level}`);
  const overlapping = version.overlappingFiles(level, range.smallest, range.largest);
  if (overlapping.length === 0) return null;
  let inputs0 = overlapping;
  if (level > 0) {
    // Bound the step; level n files are disjoint, so a prefix of them is a valid input set.
    const limit = expandedCompactionBytesMax(options);
    let bytes = 0;
    let count = 0;
    while (count < overlapping.length && (count === 0 || bytes + overlapping[count]!.size <= limit)) {
      bytes += overlapping[count]!.size;
      count++;
    }
    inputs0 = overlapping.slice(0, count);
  }
  return setupOtherInputs(version, options, level, inputs0, true, level === 0 ? levelTargets(version, options).baseLevel : level + 1);
}

/**
 * One step of a full compaction: every file of the levels above manualCompactionLastLevel(version)
 * that overlaps the range, and the files of that level they overlap, merged into it in one job,
 * so each key range is read and written once rather than once per level (RocksDB's
 * CompactRange with bottommost output does the same per range). The outputs are cut at
 * targetFileSizeBytes like any compaction's, and the merge keeps what live snapshots see.
 *
 * What must hold: a version of a user key is never moved below an older version of it left in a
 * level between. So the key range grows to every file any level above the output overlaps, until
 * no level adds a file (each pass adds a file or stops: bounded by the file count).
 *
 * A lone file that meets nothing in the output level, holds no tombstone and one version per key
 * (`holdsOneVersionPerKey`: the tree knows which of its tables were written with no snapshot to
 * keep older versions for) moves down unchanged: a rewrite would write the same entries (RocksDB's
 * CompactRange moves such a file too). A tree just flushed into a lone L0 table then compacts
 * without writing it twice.
 */
function pickFullCompaction(
  version: Version, options: CompactionOptions, range: { smallest?: Uint8Array; largest?: Uint8Array },
  holdsOneVersionPerKey: (file: FileMetadata) => boolean,
): Compaction | null {
  const last = manualCompactionLastLevel(version, options);
  if (last < 0) return null;
  let smallest = range.smallest;
  let largest = range.largest;
  let upper: { level: number; file: FileMetadata }[] = [];
  // Each pass adds a file or ends: bounded by the file count.
  for (let pass = 0; ; pass++) {
    assert(pass <= upper.length + 1, 'full compaction range converges');
    const next: { level: number; file: FileMetadata }[] = [];
    for (let l = 0; l < last; l++) for (const file of version.overlappingFiles(l, smallest, largest)) next.push({ level: l, file });
    if (next.length === 0) return null;
    // The range only grows, so the file set only grows: the same count is the same set.
    if (next.length === upper.length) break;
    upper = next;
    if (smallest === undefined && largest === undefined) break; // unbounded: every file already
    const r = userKeyRange(next.map((f) => f.file));
    if (smallest !== undefined && compareBytes(r.smallest, smallest) < 0) smallest = r.smallest;
    if (largest !== undefined && compareBytes(r.largest, largest) > 0) largest = r.largest;
  }
  const r = userKeyRange(upper.map((f) => f.file));
  const lower = version.overlappingFiles(last, r.smallest, r.largest);
  const lone = upper.length === 1 ? upper[0]!.file : undefined;
  const move = lone !== undefined && lower.length === 0 && lone.deletionCount === 0 && holdsOneVersionPerKey(lone);
  return new Compaction(version, options, upper[0]!.level, upper.map((f) => f.file), lower, true,
    { outputLevel: last, levels: upper.map((f) => f.level), move });
}

/**
 * The level a full compaction gathers all data into: the deepest non-empty one, and at least L1
 * (L0 files overlap, so data in L0 alone is compacted into L1); with dynamicLevelBytes the last
 * level, where that sizing keeps most data anyway. -1 when the version is empty.
 */
export function manualCompactionLastLevel(version: Version, options?: CompactionOptions): number {
  const last = version.lastNonEmptyLevel();
  if (last < 0) return -1;
  return options?.dynamicLevelBytes === true ? version.numLevels - 1 : Math.max(last, 1);
}
