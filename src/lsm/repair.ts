/**
 * repairTree: rebuilds a tree's manifest from whatever tables and WAL records still read, after
 * leveldb's db/repair.cc (RepairDB) and RocksDB's RepairDB. It never deletes data: every file it
 * takes out of the live set is moved into `<dir>/lost/`, damaged or not.
 *
 * Steps (each file read with the checks of src/lsm/file-check.ts):
 *   1. take the directory's LOCK (no tree may have it open). A LOCK that does not read `pid N\n`,
 *      which open refuses as it cannot tell whether a process holds it, is moved into lost/ and
 *      taken over (reported in `moved`); one naming a live process is still refused;
 *   2. read the newest manifest that replays (CURRENT's first, else by number) for the counters
 *      it holds: last sequence, next file number, userMeta, and the log number below which WALs
 *      hold only flushed writes (those are archived, not replayed: an old put they hold may have
 *      been deleted since, and the tombstone compacted away);
 *   3. read every table whole (when CURRENT's manifest replays whole, only the tables it names
 *      and those holding sequences past its last sequence, whose edit it lost: the others are
 *      leftovers whose entries a compaction may have dropped with their tombstone, so they are
 *      archived, not salvaged); read every WAL from that log number on, up to its first
 *      damaged record, keeping each entry's sequence number (a WAL whose final size the manifest
 *      recorded at a clean close, docs/format/manifest.md tag 9, is damaged if its size differs or
 *      its end is torn: bytes were lost that had been synced);
 *   4. merge all of it (the newest version of each key wins, by sequence number; tombstones are
 *      applied and dropped, as nothing lies below) into new tables at the bottom level, which are
 *      disjoint by construction. A merge, not leveldb's "every table to L0", because L0 is read
 *      newest-first by largest sequence and a salvaged set of tables need not respect that order;
 *   5. write a new manifest holding one snapshot record (synced), hard-link every old table, WAL,
 *      manifest, temp file and CURRENT into lost/ and sync lost/, point CURRENT at the new
 *      manifest (temp, sync, rename, sync the directory), then unlink the old names and sync the
 *      directory again. A crash at any step leaves either the old tree or the new one, and every
 *      old file's bytes reachable (in the directory or in lost/).
 *
 * Limits: the salvaged entries are merged in memory (`salvageBytesMax`, default 1 GiB); a
 * larger tree is refused before anything is written. userMeta is the one the manifest read in step
 * 2 recorded, which may be older than the newest data a WAL replay salvaged.
 */
import { loadEngine, type EngineName } from '../engine/index.js';
import type { BlockCompression, EntryRun, HotPaths } from '../engine/types.js';
import { InvalidArgumentError, LockedError } from '../errors.js';
import { utf8 } from '../util/bytes.js';
import { checkCurrent, checkLock, checkManifest, checkTable, checkWal, recordedWalDamage, tableKeyRange, type Damage, type ManifestCheck } from './file-check.js';
import { CURRENT_FILE_NAME, joinPath, LOCK_FILE_NAME, manifestFileName, parseFileName, tableFileName, tempFileName } from './filenames.js';
import type { DirLock, FileSystem } from './fs.js';
import { trailerSequence, userKeyOf } from '../format/internal-key.js';
import { runBytes } from './jobs.js';
import { LogKind, LogWriter } from './log-format.js';
import { MemTable } from './memtable.js';
import { nodeFileSystem } from './node-fs.js';
import { writeTableFiles } from './table-file.js';
import { kindOfFile, LOST_DIR_NAME, requireTreeFiles, type TreeFileKind } from './verify.js';

export { LOST_DIR_NAME } from './verify.js';
import { NUM_LEVELS_DEFAULT } from './version.js';
import { MANIFEST_FORMAT_VERSION, VersionEdit, type FileMetadata } from './version-edit.js';

const SALVAGE_BYTES_MAX_DEFAULT = 1024 * 1024 * 1024;
/** Names tried for one file in lost/ before giving up (an earlier repair may have used the plain one). */
const LOST_NAME_ATTEMPTS_MAX = 1000;

export interface RepairOptions {
  /** Default: the real file system. */
  fs?: FileSystem;
  /** Default 'js'. */
  engine?: EngineName;
  /** Default 7 (as LsmTree). */
  numLevels?: number;
  /** Output table options; defaults as LsmTree's. */
  blockSizeBytes?: number;
  restartInterval?: number;
  bloomBitsPerKey?: number;
  targetFileSizeBytes?: number;
  /** Default 'lz4' (as LsmTree). */
  blockCompression?: BlockCompression;
  /** Refuse to repair when the salvaged entries exceed this many bytes. Default 1 GiB. */
  salvageBytesMax?: number;
}

export interface RepairedFile {
  file: string;
  kind: TreeFileKind;
  /** Where it was moved (relative to the tree's directory), e.g. `lost/000012.sst`. */
  movedTo: string;
  /** Why it left the live set: damage (with offset), or "salvaged" (its contents live on in new tables), or "obsolete". */
  reason: string;
  offset: number | undefined;
  /** Entries read from it (all of a readable table; the records before the damage of a WAL). */
  entriesSalvaged: number;
}

export interface RepairReport {
  dir: string;
  /** True when nothing was lost: no damaged table or WAL. */
  complete: boolean;
  /** The new manifest, e.g. MANIFEST-000042. */
  manifest: string;
  /** The manifest the counters came from, or undefined when none replayed. */
  counterSource: string | undefined;
  lastSequence: number;
  /** Tables the merged entries were written to. */
  tables: Array<{ file: string; level: number; entries: number; bytes: number }>;
  salvaged: { tables: number; wals: number; entries: number; bytes: number };
  /** Damage that cost data: files or parts of files unreadable. */
  lost: { files: number; bytes: number; damaged: RepairedFile[]; missing: string[] };
  /** Every file moved into lost/, damaged or not. */
  moved: RepairedFile[];
  /**
   * Key ranges of the data lost with each damaged or missing table (see tableKeyRange in
   * src/lsm/file-check.ts) or damaged WAL (whose lost records' keys are 'unknown'): an older
   * version of a key in one of them, from another table, may now be visible.
   */
  lostRanges: LostRange[];
}

export interface LostRange {
  file: string;
  /** Inclusive user keys; 'unknown' when nothing tells (then any key may be affected). */
  smallest: Uint8Array | 'unknown';
  largest: Uint8Array | 'unknown';
}

/** Rebuilds the tree in `dir` from its readable tables and WALs; see the file comment. */
export async function repairTree(dir: string, options: RepairOptions = {}): Promise<RepairReport> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir must be a non-empty string');
  const fs = options.fs ?? nodeFileSystem;
  if (!fs.exists(dir)) throw new InvalidArgumentError(`${dir} does not exist`);
  const engine = await loadEngine(options.engine ?? 'js');
  let lock: DirLock;
  let lockMoved: RepairedFile | undefined;
  try {
    lock = fs.lock(dir);
  } catch (err) {
    if (!(err instanceof LockedError)) throw err;
    lockMoved = await retireUnreadableLock(fs, dir);
    if (lockMoved === undefined) throw err;
    lock = fs.lock(dir); // still refused if a live process took it meanwhile
  }
  try {
    const report = await repairLocked(fs, dir, engine, options);
    if (lockMoved !== undefined) report.moved.unshift(lockMoved);
    return report;
  } finally {
    lock.release();
  }
}

/**
 * Moves an unreadable LOCK into lost/ (open refuses it, as it cannot tell whether a process holds
 * it; a repair is an operator's explicit action, so it takes it over). Returns undefined, moving
 * nothing, when LOCK reads `pid N\n`: its holder is then alive, or lock() would have taken it over.
 */
async function retireUnreadableLock(fs: FileSystem, dir: string): Promise<RepairedFile | undefined> {
  const path = joinPath(dir, LOCK_FILE_NAME);
  if (!fs.exists(path)) return undefined;
  const damage = checkLock(fs.readFile(path));
  if (damage === undefined) return undefined;
  const lostDir = joinPath(dir, LOST_DIR_NAME);
  fs.mkdirp(lostDir);
  const target = freeName(new Set(fs.list(lostDir)), LOCK_FILE_NAME);
  fs.link(path, joinPath(lostDir, target));
  await fs.syncDir(lostDir);
  fs.remove(path);
  await fs.syncDir(dir);
  return {
    file: LOCK_FILE_NAME, kind: 'lock', movedTo: `${LOST_DIR_NAME}/${target}`,
    reason: `taken over: unreadable (${damage.reason})`, offset: damage.offset, entriesSalvaged: 0,
  };
}

interface Retired {
  name: string;
  kind: TreeFileKind;
  reason: string;
  damage: Damage | undefined;
  entries: number;
  bytes: number;
}

async function repairLocked(fs: FileSystem, dir: string, engine: HotPaths, options: RepairOptions): Promise<RepairReport> {
  const numLevels = options.numLevels ?? NUM_LEVELS_DEFAULT;
  const salvageBytesMax = options.salvageBytesMax ?? SALVAGE_BYTES_MAX_DEFAULT;
  const names = fs.list(dir).filter((n) => n !== LOST_DIR_NAME);
  requireTreeFiles(dir, names);
  const retired: Retired[] = [];
  let maxNumber = 0;
  for (const n of names) maxNumber = Math.max(maxNumber, parseFileName(n)?.number ?? 0);

  // 2. Counters from the newest manifest that replays (a damaged one still yields its prefix).
  const manifests = names.filter((n) => kindOfFile(n) === 'manifest')
    .sort((a, b) => parseFileName(b)!.number - parseFileName(a)!.number);
  const current = names.includes(CURRENT_FILE_NAME) ? checkCurrent(fs.readFile(joinPath(dir, CURRENT_FILE_NAME)), names) : undefined;
  if (current?.manifest !== undefined) manifests.unshift(...manifests.splice(manifests.indexOf(current.manifest), 1));
  let counters: ManifestCheck | undefined;
  let counterSource: string | undefined;
  /** Tables of CURRENT's manifest when it replays whole: the only ones whose entries are live. */
  let liveTables: Set<number> | undefined;
  /** What a manifest recorded of each table (CURRENT's first): the key range of one that no longer reads. */
  const recorded = new Map<number, FileMetadata>();
  for (const name of manifests) {
    const m = checkManifest(fs.readFile(joinPath(dir, name)), name, numLevels);
    for (const { file } of m.version?.allFiles() ?? []) if (!recorded.has(file.number)) recorded.set(file.number, file);
    if (name === current?.manifest && m.damage === undefined && m.version !== undefined) {
      liveTables = new Set([...m.version.allFiles()].map(({ file }) => file.number));
    }
    const bytes = fs.fileSize(joinPath(dir, name));
    retired.push({ name, kind: 'manifest', reason: m.damage === undefined ? 'replaced' : 'damaged', damage: m.damage, entries: 0, bytes });
    if (counters === undefined && m.lastSequence !== undefined && m.logNumber !== undefined) {
      counters = m;
      counterSource = name;
    }
  }
  if (names.includes(CURRENT_FILE_NAME)) {
    retired.push({ name: CURRENT_FILE_NAME, kind: 'current', reason: current?.damage === undefined ? 'replaced' : 'damaged', damage: current?.damage, entries: 0, bytes: 0 });
  }
  const logNumber = counters?.logNumber ?? 0;
  const missing = [...(liveTables ?? [])].map((n) => tableFileName(n)).filter((n) => !names.includes(n));
  let lastSequence = counters?.lastSequence ?? 0;
  const lostRanges: LostRange[] = missing.map((file) => rangeOf(file, recorded.get(parseFileName(file)!.number)));

  // 3. Tables whole, WALs up to their first damage.
  const runs: EntryRun[] = [];
  const tableSeqs = new Set<number>();
  let salvagedBytes = 0;
  let salvagedTables = 0;
  let salvagedWals = 0;
  for (const name of names.filter((n) => kindOfFile(n) === 'table')) {
    const t = checkTable(fs, joinPath(dir, name), parseFileName(name)!.number, engine);
    if (liveTables !== undefined && !liveTables.has(parseFileName(name)!.number) && !pastManifest(t.run, counters?.lastSequence ?? 0)) {
      // Left by a crash before its deletion, or a job never installed: its entries may be ones a
      // later compaction dropped with their tombstone, so replaying them could resurrect deletes.
      // One holding sequences past the manifest's is the output of an edit the manifest lost
      // (src/lsm/directory-check.ts): its entries are newer than anything else and are salvaged.
      retired.push({ name, kind: 'table', reason: `unreferenced (not in ${current!.manifest})`, damage: undefined, entries: 0, bytes: t.sizeBytes });
      continue;
    }
    if (t.damage !== undefined) {
      const number = parseFileName(name)!.number;
      const range = tableKeyRange(fs, joinPath(dir, name), number, engine, recorded.get(number));
      lostRanges.push(range === 'unknown' ? rangeOf(name, undefined) : { file: name, ...range });
    }
    if (t.run !== undefined) {
      runs.push(t.run);
      salvagedTables++;
      salvagedBytes += runBytes(t.run);
      for (let i = 0; i < t.run.count; i++) tableSeqs.add(trailerSequence(t.run.data, t.run.offsets[2 * i + 1]!));
    }
    retired.push({ name, kind: 'table', reason: t.damage === undefined ? 'salvaged' : 'damaged', damage: t.damage, entries: t.entries, bytes: t.sizeBytes });
    if (salvagedBytes > salvageBytesMax) throw tooLarge(salvageBytesMax);
  }
  const mem = new MemTable();
  const walSeqs = new Set<number>();
  const wals = names.filter((n) => kindOfFile(n) === 'wal').sort((a, b) => parseFileName(a)!.number - parseFileName(b)!.number);
  for (const name of wals) {
    const bytes = fs.fileSize(joinPath(dir, name));
    if (parseFileName(name)!.number < logNumber) {
      retired.push({ name, kind: 'wal', reason: `obsolete (below the log number ${logNumber} of ${counterSource})`, damage: undefined, entries: 0, bytes });
      continue;
    }
    // Only entries no table holds already (a flush whose manifest edit was lost left both).
    const w = checkWal(fs.readFile(joinPath(dir, name)), name, (seq, kind, key, value) => {
      if (tableSeqs.has(seq) || walSeqs.has(seq)) return;
      walSeqs.add(seq);
      mem.add(seq, kind, key, value);
    });
    salvagedWals++;
    if (mem.approximateBytes + salvagedBytes > salvageBytesMax) throw tooLarge(salvageBytesMax);
    if (w.largestSeq > lastSequence) lastSequence = w.largestSeq;
    // A WAL a clean close recorded that lost synced bytes is damaged, not torn: the repair is incomplete.
    const damage = recordedWalDamage(w, bytes, counters?.walSizes.get(parseFileName(name)!.number), counterSource) ?? w.damage;
    retired.push({ name, kind: 'wal', reason: damage === undefined ? 'salvaged' : 'damaged', damage, entries: w.entries, bytes });
    if (damage !== undefined) lostRanges.push(rangeOf(name, undefined));
  }
  if (mem.entryCount > 0) {
    const walRun = mem.toRun();
    runs.push(walRun);
    salvagedBytes += runBytes(walRun);
  }
  for (const run of runs) {
    for (let i = 0; i < run.count; i++) lastSequence = Math.max(lastSequence, trailerSequence(run.data, run.offsets[2 * i + 1]!));
  }
  for (const n of names) if (kindOfFile(n) === 'temp') retired.push({ name: n, kind: 'temp', reason: 'temporary', damage: undefined, entries: 0, bytes: fs.fileSize(joinPath(dir, n)) });

  // 4. One merged run, newest version of each key, tombstones applied: written as bottom tables.
  const merged = engine.mergeRuns(runs, { snapshots: [], dropTombstones: true });
  let nextNumber = Math.max(maxNumber, counters?.nextFileNumber ?? 0) + 1;
  const table = {
    blockSizeBytes: options.blockSizeBytes ?? 4096,
    restartInterval: options.restartInterval ?? 16,
    bloomBitsPerKey: options.bloomBitsPerKey ?? 10,
    targetFileSizeBytes: options.targetFileSizeBytes ?? 4 * 1024 * 1024,
    blockCompression: options.blockCompression ?? 'lz4',
  };
  const built = merged.count === 0 ? [] : engine.buildTables(merged, table);
  const numbers = built.map(() => nextNumber++);
  const outputs = writeTableFiles(fs, dir, built, numbers);
  const level = numLevels - 1;

  // 5. The new manifest, the old files into lost/, CURRENT, then the old names go.
  const manifestNumber = nextNumber++;
  const edit = new VersionEdit();
  edit.formatVersion = MANIFEST_FORMAT_VERSION;
  edit.logNumber = nextNumber; // no WAL is left to replay: the tree starts a new one above this
  edit.lastSequence = lastSequence;
  edit.userMeta = counters?.userMeta;
  for (const o of outputs) edit.addFile(level, o);
  edit.nextFileNumber = nextNumber + 1;
  const manifestName = manifestFileName(manifestNumber);
  const writer = new LogWriter(fs.create(joinPath(dir, manifestName)), LogKind.Manifest);
  try {
    writer.addRecord(edit.encode());
    writer.syncSync();
  } finally {
    writer.close();
  }

  const lostDir = joinPath(dir, LOST_DIR_NAME);
  fs.mkdirp(lostDir);
  await fs.syncDir(dir);
  const lostNames = new Set(fs.list(lostDir));
  const moved: RepairedFile[] = retired.map((r) => {
    const target = freeName(lostNames, r.name);
    lostNames.add(target);
    fs.link(joinPath(dir, r.name), joinPath(lostDir, target));
    return {
      file: r.name, kind: r.kind, movedTo: `${LOST_DIR_NAME}/${target}`,
      reason: r.damage === undefined ? r.reason : `${r.reason}: ${r.damage.reason}`,
      offset: r.damage?.offset, entriesSalvaged: r.kind === 'table' && r.damage !== undefined ? 0 : r.entries,
    };
  });
  await fs.syncDir(lostDir);

  const tempPath = joinPath(dir, tempFileName(manifestNumber));
  const temp = fs.create(tempPath);
  try {
    temp.append(utf8(`${manifestName}\n`));
    temp.syncSync();
  } finally {
    temp.close();
  }
  fs.rename(tempPath, joinPath(dir, CURRENT_FILE_NAME));
  await fs.syncDir(dir);
  for (const r of retired) if (r.name !== CURRENT_FILE_NAME) fs.remove(joinPath(dir, r.name));
  await fs.syncDir(dir);

  // Lost data lives in tables and WALs; a damaged manifest or CURRENT costs only its counters.
  const damaged = moved.filter((m, i) => retired[i]!.damage !== undefined && (m.kind === 'table' || m.kind === 'wal'));
  let lostBytes = 0;
  for (let i = 0; i < retired.length; i++) {
    const r = retired[i]!;
    if (r.damage !== undefined && (r.kind === 'table' || r.kind === 'wal')) lostBytes += r.kind === 'table' ? r.bytes : r.bytes - (r.damage.offset ?? 0);
  }
  return {
    dir,
    complete: damaged.length === 0 && missing.length === 0,
    manifest: manifestName,
    counterSource,
    lastSequence,
    tables: outputs.map((o) => ({ file: tableFileName(o.number), level, entries: o.entryCount, bytes: o.size })),
    salvaged: { tables: salvagedTables, wals: salvagedWals, entries: runs.reduce((n, r) => n + r.count, 0), bytes: salvagedBytes },
    lost: { files: damaged.length + missing.length, bytes: lostBytes, damaged, missing },
    moved,
    lostRanges,
  };
}

/** The range a manifest recorded for a lost table, or 'unknown'. */
function rangeOf(file: string, meta: FileMetadata | undefined): LostRange {
  if (meta === undefined) return { file, smallest: 'unknown', largest: 'unknown' };
  return { file, smallest: userKeyOf(meta.smallest), largest: userKeyOf(meta.largest) };
}

/** True when `run` holds a sequence number above `lastSequence`. */
function pastManifest(run: EntryRun | undefined, lastSequence: number): boolean {
  if (run === undefined) return false;
  for (let i = 0; i < run.count; i++) if (trailerSequence(run.data, run.offsets[2 * i + 1]!) > lastSequence) return true;
  return false;
}

function tooLarge(max: number): InvalidArgumentError {
  return new InvalidArgumentError(`the salvaged entries exceed salvageBytesMax (${max} bytes); nothing was changed`);
}

/** `name`, or `name.1`, `name.2`, ... : the first not yet in lost/. */
function freeName(taken: ReadonlySet<string>, name: string): string {
  if (!taken.has(name)) return name;
  for (let i = 1; i < LOST_NAME_ATTEMPTS_MAX; i++) if (!taken.has(`${name}.${i}`)) return `${name}.${i}`;
  throw new InvalidArgumentError(`${LOST_DIR_NAME}/ already holds ${LOST_NAME_ATTEMPTS_MAX} files named ${name}`);
}
