/**
 * VersionSet: the tree's current Version, the counters that survive a restart, and the manifest
 * that makes both durable (after leveldb's db/version_set.cc and doc/impl.md "Manifest").
 *
 * The manifest (docs/format/manifest.md) is a log (log-format.ts, kind MANIFEST) of VersionEdit
 * records. Its first record is a full snapshot of the state; each later record is one edit. CURRENT
 * names the live manifest. logAndApply() changes the tree's state only this way:
 *
 *   1. build the next version from the current one and the edit (nothing is installed yet);
 *   2. if no manifest is open (the first edit after recover(), or the last attempt failed) or the
 *      open one exceeds manifestBytesMax, start a new manifest whose first record is a snapshot;
 *   3. append the edit's record and fsync the manifest;
 *   4. for a new manifest, point CURRENT at it: temp file, fsync, rename, fsync the directory;
 *   5. install the new version.
 *
 * Edits are applied one at a time in call order. An edit is acknowledged (its promise resolves) only
 * once durable, so recover() treats a torn final record as never acknowledged and ignores it;
 * anything else malformed is a CorruptionError naming the file and offset.
 *
 * If logAndApply() rejects, the edit's outcome is unknown until the next logAndApply() succeeds: its
 * record may be on disk in the old manifest. The next call starts a new manifest from the in-memory
 * state (without the failed edit), so once it succeeds the failed edit is certainly not applied.
 * Until then the caller must keep the failed edit's new files (they are obsolete, not garbage).
 *
 * WAL sizes (TAG_WAL_SIZE): a clean close records the final synced size of its WAL. A recorded
 * size applies to that WAL number only while it is at or above the log number: the edit that moves
 * the log number past it (the next open's) drops it, in the running set and in replay alike
 * (applyWalSizes), so a later WAL, or a later crash, is never judged by a stale size.
 *
 * Files are never deleted here: the owner deletes what obsoleteFiles() names (old manifests, old
 * WALs, tables no referenced version holds, temp files), after leveldb's RemoveObsoleteFiles.
 * After a CURRENT switch that failed part way, CURRENT may name either manifest, so both stay
 * live until a later switch succeeds.
 *
 * Cost: an edit costs one pass over the levels it touches (applyEdit); recovery replays all
 * records into one VersionBuilder and sorts once (20,000 edits over 1,000 live files: ~0.3 s).
 * The manifest's size is bounded by manifestBytesMax plus one snapshot.
 */
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';
import { fromUtf8, utf8 } from '../util/bytes.js';
import {
  CURRENT_FILE_NAME,
  joinPath,
  manifestFileName,
  parseFileName,
  tableFileName,
  tempFileName,
} from './filenames.js';
import type { FileSystem } from './fs.js';
import { SEQUENCE_MAX } from '../format/internal-key.js';
import { LogKind, LogReader, LogWriter } from './log-format.js';
import { applyEdit, NUM_LEVELS_DEFAULT, Version, VersionBuilder } from './version.js';
import { applyWalSizes, LEVEL_COUNT_MAX, MANIFEST_FORMAT_VERSION, VersionEdit } from './version-edit.js';

export interface VersionSetOptions {
  /** Levels of the tree. Default 7. Must match what the manifest holds. */
  numLevels?: number;
  /** recover(): create a new tree when the directory holds none. Default true. */
  createIfMissing?: boolean;
  /** recover(): fail with LSM_ERR_INVALID_ARGUMENT when a tree exists. Default false. */
  errorIfExists?: boolean;
  /** A manifest larger than this is replaced by a new one (a snapshot) on the next edit. Default 4 MiB. */
  manifestBytesMax?: number;
}

export const MANIFEST_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;

interface ResolvedVersionSetOptions {
  numLevels: number;
  createIfMissing: boolean;
  errorIfExists: boolean;
  manifestBytesMax: number;
}

function resolve(options: VersionSetOptions): ResolvedVersionSetOptions {
  const numLevels = options.numLevels ?? NUM_LEVELS_DEFAULT;
  if (!Number.isInteger(numLevels) || numLevels < 2 || numLevels > LEVEL_COUNT_MAX) {
    throw new InvalidArgumentError(`numLevels must be an integer in [2, ${LEVEL_COUNT_MAX}], got ${String(numLevels)}`);
  }
  const manifestBytesMax = options.manifestBytesMax ?? MANIFEST_BYTES_MAX_DEFAULT;
  if (!Number.isInteger(manifestBytesMax) || manifestBytesMax < 1) {
    throw new InvalidArgumentError(`manifestBytesMax must be a positive integer, got ${String(manifestBytesMax)}`);
  }
  return {
    numLevels,
    createIfMissing: options.createIfMissing ?? true,
    errorIfExists: options.errorIfExists ?? false,
    manifestBytesMax,
  };
}

/** The state a manifest records besides the files. */
interface Counters {
  logNumber: number;
  nextFileNumber: number;
  lastSequence: number;
  userMeta: Uint8Array | undefined;
  compactPointers: (Uint8Array | undefined)[];
  /** WAL number -> the final synced size a clean close recorded; only WALs >= logNumber. */
  walSizes: Map<number, number>;
}

/**
 * The file number create() gives the first manifest. A directory holding only this manifest (and
 * LOCK, temp files) is a create() that crashed before CURRENT was durable: nothing was acknowledged.
 */
const FIRST_MANIFEST_NUMBER = 1;

export class VersionSet {
  private readonly fs: FileSystem;
  private readonly dir: string;
  private readonly options: ResolvedVersionSetOptions;
  private currentVersion: Version;
  private readonly liveVersions = new Set<Version>();
  private readonly forgetVersion = (v: Version): void => {
    this.liveVersions.delete(v);
  };
  private counters: Counters;
  private manifest: LogWriter | undefined;
  private manifestNumberValue: number;
  /**
   * Manifests CURRENT may name: the live one and, after a CURRENT switch that failed part way
   * (the rename may have happened), the one it was switching to. None of these may be deleted.
   */
  private liveManifests: Set<number>;
  /** Tail of the logAndApply chain: each call runs after the previous one settles. */
  private applying: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(fs: FileSystem, dir: string, options: ResolvedVersionSetOptions, levels: Version, counters: Counters, manifestNumber: number) {
    this.fs = fs;
    this.dir = dir;
    this.options = options;
    this.counters = counters;
    this.manifestNumberValue = manifestNumber;
    this.liveManifests = new Set([manifestNumber]);
    this.currentVersion = this.adopt(new Version(levels.levels.map((files) => files.slice()), this.forgetVersion));
  }

  /** Creates a new, empty tree in `dir` (made if absent). Fails if the directory already holds one. */
  static async create(fs: FileSystem, dir: string, options: VersionSetOptions = {}): Promise<VersionSet> {
    const resolved = resolve(options);
    fs.mkdirp(dir);
    if (fs.exists(joinPath(dir, CURRENT_FILE_NAME))) throw new InvalidArgumentError(`a tree already exists in ${dir}`);
    const counters: Counters = {
      logNumber: 0,
      nextFileNumber: FIRST_MANIFEST_NUMBER + 1,
      lastSequence: 0,
      userMeta: undefined,
      compactPointers: new Array<Uint8Array | undefined>(resolved.numLevels).fill(undefined),
      walSizes: new Map(),
    };
    const vs = new VersionSet(fs, dir, resolved, Version.empty(resolved.numLevels), counters, FIRST_MANIFEST_NUMBER);
    const writer = new LogWriter(fs.create(joinPath(dir, manifestFileName(FIRST_MANIFEST_NUMBER))), LogKind.Manifest);
    writer.addRecord(vs.snapshotEdit().encode());
    await writer.sync();
    await vs.writeCurrent(FIRST_MANIFEST_NUMBER);
    vs.manifest = writer;
    return vs;
  }

  /**
   * Opens the tree in `dir`: reads CURRENT and replays the manifest it names. A missing or empty
   * directory becomes a new tree when createIfMissing; a directory with files but no CURRENT is
   * corrupt (CURRENT is never absent once create() returned).
   */
  static async recover(fs: FileSystem, dir: string, options: VersionSetOptions = {}): Promise<VersionSet> {
    const resolved = resolve(options);
    const currentPath = joinPath(dir, CURRENT_FILE_NAME);
    if (!fs.exists(dir) || !fs.exists(currentPath)) {
      const names = fs.exists(dir) ? fs.list(dir) : [];
      const leftovers = names.filter((name) => {
        const parsed = parseFileName(name);
        if (parsed === undefined) return true;
        if (parsed.type === 'lock' || parsed.type === 'lock-temp' || parsed.type === 'temp') return false;
        return !(parsed.type === 'manifest' && parsed.number === FIRST_MANIFEST_NUMBER);
      });
      if (leftovers.length > 0) {
        throw new CorruptionError(`${CURRENT_FILE_NAME} is missing but the directory holds ${leftovers.slice(0, 5).join(', ')}`, currentPath);
      }
      if (!resolved.createIfMissing) throw new InvalidArgumentError(`no tree exists in ${dir} (createIfMissing is false)`);
      return VersionSet.create(fs, dir, options);
    }
    if (resolved.errorIfExists) throw new InvalidArgumentError(`a tree already exists in ${dir} (errorIfExists is true)`);

    const current = fs.readFile(currentPath);
    const text = fromUtf8(current);
    const manifestName = text.endsWith('\n') ? text.slice(0, -1) : '';
    const parsed = parseFileName(manifestName);
    if (parsed === undefined || parsed.type !== 'manifest' || manifestFileName(parsed.number) !== manifestName) {
      throw new CorruptionError(`${CURRENT_FILE_NAME} does not hold a manifest name and a newline`, currentPath, 0);
    }
    const manifestPath = joinPath(dir, manifestName);
    if (!fs.exists(manifestPath)) throw new CorruptionError(`${CURRENT_FILE_NAME} names ${manifestName}, which does not exist`, currentPath, 0);
    const { version, counters } = replayManifest(fs.readFile(manifestPath), manifestPath, resolved.numLevels);

    // The counter must stay above every number in use, whatever the manifest recorded.
    let next = Math.max(counters.nextFileNumber, parsed.number + 1, counters.logNumber + 1);
    for (const { file } of version.allFiles()) next = Math.max(next, file.number + 1);
    counters.nextFileNumber = next;
    // No manifest is open: the first logAndApply() starts a new one, leaving any torn tail behind.
    return new VersionSet(fs, dir, resolved, version, counters, parsed.number);
  }

  /** The usual entry point: recover(), which creates a tree when createIfMissing allows. */
  static open(fs: FileSystem, dir: string, options: VersionSetOptions = {}): Promise<VersionSet> {
    return VersionSet.recover(fs, dir, options);
  }

  /** The newest version. Callers that keep it across an await ref() it. */
  current(): Version {
    return this.currentVersion;
  }

  get numLevels(): number {
    return this.options.numLevels;
  }

  get logNumber(): number {
    return this.counters.logNumber;
  }

  get lastSequence(): number {
    return this.counters.lastSequence;
  }

  /** Advanced by the write path as batches are sequenced; persisted with the next edit. */
  set lastSequence(sequence: number) {
    assert(Number.isSafeInteger(sequence) && sequence <= SEQUENCE_MAX, () => `sequence ${sequence} out of range`);
    assert(sequence >= this.counters.lastSequence, () => `last sequence going back from ${this.counters.lastSequence} to ${sequence}`);
    this.counters.lastSequence = sequence;
  }

  get userMeta(): Uint8Array | undefined {
    return this.counters.userMeta;
  }

  /**
   * The final size a clean close recorded for WAL `number` (synced, nothing appended after), or
   * undefined: a WAL without one may end in a torn tail. Only WALs at or above the log number.
   */
  recordedWalSize(number: number): number | undefined {
    return this.counters.walSizes.get(number);
  }

  /** The WALs with a recorded size (see recordedWalSize), ascending by number. */
  recordedWalNumbers(): number[] {
    return [...this.counters.walSizes.keys()].sort((a, b) => a - b);
  }

  /** Number of the live manifest (the one CURRENT names). */
  get manifestNumber(): number {
    return this.manifestNumberValue;
  }

  /** The next number newFileNumber() will hand out. */
  get nextFileNumber(): number {
    return this.counters.nextFileNumber;
  }

  /** Per level, the largest key of the last compaction out of it (round-robin), if any. */
  get compactPointers(): readonly (Uint8Array | undefined)[] {
    return this.counters.compactPointers;
  }

  /** A fresh file number. It is persisted with the next edit (every edit records the counter). */
  newFileNumber(): number {
    return this.counters.nextFileNumber++;
  }

  reserveFileNumbers(count: number): number[] {
    assert(Number.isInteger(count) && count >= 0, () => `cannot reserve ${count} file numbers`);
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(this.counters.nextFileNumber++);
    return out;
  }

  /** Keeps the counter above `number` (a WAL found on disk at recovery). */
  markFileNumberUsed(number: number): void {
    if (this.counters.nextFileNumber <= number) this.counters.nextFileNumber = number + 1;
  }

  /**
   * Makes `edit` durable, then installs the version it leads to. The edit is completed in place
   * with the counters: the next file number, the last sequence (the larger of the edit's and the
   * set's), and the log number if it has none.
   * REQUIRES: the edit is valid against the version current when its turn comes (bug otherwise).
   */
  logAndApply(edit: VersionEdit): Promise<void> {
    assert(!this.closed, 'logAndApply() on a closed version set');
    const run = this.applying.then(() => this.applyNow(edit));
    // The chain continues after a failure; the caller sees the failure through `run`.
    this.applying = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async applyNow(edit: VersionEdit): Promise<void> {
    assert(edit.formatVersion === undefined, 'an edit may not set the format version');
    if (edit.logNumber === undefined) edit.logNumber = this.counters.logNumber;
    assert(edit.logNumber >= this.counters.logNumber, () => `log number going back from ${this.counters.logNumber} to ${edit.logNumber}`);
    assert(edit.logNumber < this.counters.nextFileNumber, () => `log number ${edit.logNumber} was never handed out`);
    // The write path may have sequenced past the edit's data (it advances lastSequence while a
    // flush runs): the recorded value is the larger, as it must cover everything written.
    edit.lastSequence = Math.max(edit.lastSequence ?? 0, this.counters.lastSequence);
    for (const { file } of edit.newFiles) {
      assert(file.number < this.counters.nextFileNumber, () => `file ${file.number} was never handed out`);
    }
    for (const w of edit.walSizes) {
      assert(w.number >= edit.logNumber && w.number < this.counters.nextFileNumber, () => `WAL ${w.number} is not live`);
    }
    const next = applyEdit(this.currentVersion, edit, this.forgetVersion);

    let startedManifest: number | undefined;
    try {
      if (this.manifest === undefined || this.manifest.size() >= this.options.manifestBytesMax) {
        const previous = this.manifest;
        this.manifest = undefined;
        previous?.close();
        const number = this.newFileNumber();
        const writer = new LogWriter(this.fs.create(joinPath(this.dir, manifestFileName(number))), LogKind.Manifest);
        startedManifest = number;
        this.liveManifests.add(number);
        this.manifest = writer;
        writer.addRecord(this.snapshotEdit().encode());
      }
      edit.nextFileNumber = this.counters.nextFileNumber;
      this.manifest.addRecord(edit.encode());
      await this.manifest.sync();
      if (startedManifest !== undefined) {
        await this.writeCurrent(startedManifest);
        this.manifestNumberValue = startedManifest;
        this.liveManifests = new Set([startedManifest]);
      }
    } catch (err) {
      // The manifest may end in a partial record: never append to it again (see the header).
      const failed = this.manifest;
      this.manifest = undefined;
      failed?.close();
      throw err;
    }
    this.install(next, edit);
  }

  /** Updates the counters from a durable edit and makes `next` current. */
  private install(next: Version, edit: VersionEdit): void {
    if (edit.logNumber !== undefined) this.counters.logNumber = edit.logNumber;
    // Writes sequenced during the manifest write already moved the counter further.
    if (edit.lastSequence !== undefined) this.counters.lastSequence = Math.max(this.counters.lastSequence, edit.lastSequence);
    if (edit.userMeta !== undefined) this.counters.userMeta = edit.userMeta;
    for (const p of edit.compactPointers) this.counters.compactPointers[p.level] = p.key;
    applyWalSizes(this.counters.walSizes, edit, this.counters.logNumber);
    const previous = this.currentVersion;
    this.currentVersion = this.adopt(next);
    previous.unref();
  }

  /** Takes the version set's own reference on `v` (built with forgetVersion) and tracks it. */
  private adopt(v: Version): Version {
    v.ref();
    this.liveVersions.add(v);
    return v;
  }

  /** An edit that recreates the whole current state from nothing: a new manifest's first record. */
  private snapshotEdit(): VersionEdit {
    const edit = new VersionEdit();
    edit.formatVersion = MANIFEST_FORMAT_VERSION;
    edit.logNumber = this.counters.logNumber;
    edit.nextFileNumber = this.counters.nextFileNumber;
    edit.lastSequence = this.counters.lastSequence;
    edit.userMeta = this.counters.userMeta;
    this.counters.compactPointers.forEach((key, level) => {
      if (key !== undefined) edit.setCompactPointer(level, key);
    });
    for (const { level, file } of this.currentVersion.allFiles()) edit.addFile(level, file);
    for (const [number, sizeBytes] of this.counters.walSizes) edit.recordWalSize(number, sizeBytes);
    return edit;
  }

  /** Points CURRENT at MANIFEST-`number` atomically and durably (leveldb's SetCurrentFile). */
  private async writeCurrent(number: number): Promise<void> {
    const tempPath = joinPath(this.dir, tempFileName(number));
    const temp = this.fs.create(tempPath);
    temp.append(utf8(`${manifestFileName(number)}\n`));
    await temp.sync();
    temp.close();
    this.fs.rename(tempPath, joinPath(this.dir, CURRENT_FILE_NAME));
    await this.fs.syncDir(this.dir);
  }

  /**
   * Writes a checkpoint of the current version into `targetDir` (which must not hold a tree): a hard
   * link of every live table, a first manifest holding one snapshot record of this version, and
   * CURRENT, all durable (tables and manifest synced, then the directory). The result opens as a
   * tree of its own with no WAL to replay (its log number is 0), the same last sequence and
   * userMeta. The caller keeps `version` referenced while this runs, so no table vanishes under it.
   */
  async writeCheckpoint(targetDir: string, version: Version, lastSequence: number, userMeta: Uint8Array | undefined): Promise<void> {
    this.fs.mkdirp(targetDir);
    if (this.fs.exists(joinPath(targetDir, CURRENT_FILE_NAME))) throw new InvalidArgumentError(`a tree already exists in ${targetDir}`);
    let next = FIRST_MANIFEST_NUMBER + 1;
    const edit = new VersionEdit();
    edit.formatVersion = MANIFEST_FORMAT_VERSION;
    edit.logNumber = 0;
    edit.lastSequence = lastSequence;
    edit.userMeta = userMeta;
    for (const { level, file } of version.allFiles()) {
      const name = tableFileName(file.number);
      this.fs.link(joinPath(this.dir, name), joinPath(targetDir, name));
      edit.addFile(level, file);
      next = Math.max(next, file.number + 1);
    }
    edit.nextFileNumber = next;
    const writer = new LogWriter(this.fs.create(joinPath(targetDir, manifestFileName(FIRST_MANIFEST_NUMBER))), LogKind.Manifest);
    try {
      writer.addRecord(edit.encode());
      await writer.sync();
    } finally {
      writer.close();
    }
    const tempPath = joinPath(targetDir, tempFileName(FIRST_MANIFEST_NUMBER));
    const temp = this.fs.create(tempPath);
    temp.append(utf8(`${manifestFileName(FIRST_MANIFEST_NUMBER)}\n`));
    await temp.sync();
    temp.close();
    this.fs.rename(tempPath, joinPath(targetDir, CURRENT_FILE_NAME));
    await this.fs.syncDir(targetDir);
  }

  /** Numbers of the table files some referenced version holds: these must not be deleted. */
  liveFileNumbers(): Set<number> {
    const live = new Set<number>();
    for (const v of this.liveVersions) for (const { file } of v.allFiles()) live.add(file.number);
    return live;
  }

  /**
   * Of the directory entries `names`, those the tree no longer needs: tables no referenced version
   * holds (unless `pending`, outputs of a job not yet installed), WALs older than logNumber,
   * manifests CURRENT cannot name, temp files. CURRENT, LOCK and unknown names are kept.
   * Safe to call while a logAndApply() is in flight: a manifest being started and the CURRENT
   * temp file pointing at it count as live from the moment they are created.
   * REQUIRES: called between logAndApply() calls that could change the answer (the owner serializes).
   */
  obsoleteFiles(names: readonly string[], pending: ReadonlySet<number> = new Set()): string[] {
    const live = this.liveFileNumbers();
    return names.filter((name) => {
      const parsed = parseFileName(name);
      if (parsed === undefined) return false;
      switch (parsed.type) {
        case 'table':
          return !live.has(parsed.number) && !pending.has(parsed.number);
        case 'log':
          return parsed.number < this.counters.logNumber;
        case 'manifest':
          return !this.liveManifests.has(parsed.number);
        case 'temp':
          // A temp file numbered like a live manifest may be CURRENT being switched right now.
          return !pending.has(parsed.number) && !this.liveManifests.has(parsed.number);
        case 'current':
        case 'lock':
        case 'lock-temp':
          return false;
      }
    });
  }

  /** Waits for edits in flight, then closes the manifest. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.applying;
    this.manifest?.close();
    this.manifest = undefined;
  }
}

/** Replays a manifest into a version and counters; see docs/format/manifest.md. */
function replayManifest(data: Uint8Array, manifestPath: string, numLevels: number): { version: Version; counters: Counters } {
  const reader = new LogReader(data, manifestPath, LogKind.Manifest, 'torn-final-record');
  const builder = new VersionBuilder(Version.empty(numLevels));
  let lastRecord = { file: manifestPath, offset: 0 };
  let logNumber: number | undefined;
  let nextFileNumber: number | undefined;
  let lastSequence: number | undefined;
  let userMeta: Uint8Array | undefined;
  const compactPointers = new Array<Uint8Array | undefined>(numLevels).fill(undefined);
  const walSizes = new Map<number, number>();
  // Every record is at least a few bytes, so a manifest holds fewer records than bytes.
  for (let index = 0; index <= data.length; index++) {
    const payload = reader.next();
    if (payload === null) break;
    const recordOffset = reader.recordOffset;
    const edit = VersionEdit.decode(payload, manifestPath, recordOffset);
    if (index === 0 && edit.formatVersion === undefined) {
      throw new CorruptionError('the first record is not a snapshot (no format version)', manifestPath, recordOffset);
    }
    for (const p of edit.compactPointers) {
      if (p.level >= numLevels) throw new CorruptionError(`compact pointer at level ${p.level} of ${numLevels}`, manifestPath, recordOffset);
    }
    lastRecord = { file: manifestPath, offset: recordOffset };
    builder.apply(edit, lastRecord);
    if (edit.logNumber !== undefined) logNumber = edit.logNumber;
    if (edit.nextFileNumber !== undefined) nextFileNumber = edit.nextFileNumber;
    if (edit.lastSequence !== undefined) lastSequence = edit.lastSequence;
    if (edit.userMeta !== undefined) userMeta = edit.userMeta;
    for (const p of edit.compactPointers) compactPointers[p.level] = p.key;
    applyWalSizes(walSizes, edit, logNumber ?? 0);
  }
  if (logNumber === undefined || nextFileNumber === undefined || lastSequence === undefined) {
    throw new CorruptionError('the manifest records no log number, next file number or last sequence', manifestPath);
  }
  return { version: builder.build(lastRecord), counters: { logNumber, nextFileNumber, lastSequence, userMeta, compactPointers, walSizes } };
}

