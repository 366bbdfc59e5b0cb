/**
 * verifyTree: a read-only integrity check of a tree's directory, after RocksDB's `ldb checkconsistency`
 * and `sst_dump --command=verify` and leveldb's paranoid checks. It reads every block, filter and
 * record of every table, WAL and manifest, and CURRENT and LOCK (src/lsm/file-check.ts), and
 * returns a report naming each damaged file with its kind, the byte offset (when the damage has one
 * place) and the reason. It never writes, renames or removes anything, and takes no LOCK: run it
 * on a tree no process has open, or accept that files may change under it.
 *
 * What counts as damage: a checksum or decode failure anywhere; a table the live manifest names
 * that is missing or differs from what the manifest records (size, entries, key range); a WAL whose
 * final size the live manifest recorded (a clean close synced it) that is missing, of another size,
 * or ends inside a record; CURRENT not naming an existing manifest; LOCK not reading `pid N\n`;
 * what open's directory check refuses (src/lsm/directory-check.ts: a table the manifest does not
 * name holding sequences past its last sequence that no WAL holds, an obsolete WAL holding such
 * sequences), reported as damage of the live manifest, which lost edits. What does not: a log that ends
 * inside its last record (a crash mid-append; reported in `tornTails`) when no size was recorded
 * for it, other tables no manifest names (`unreferencedTables`, leftovers of a crash before their
 * deletion), temp files.
 */
import { loadEngine, type EngineName } from '../engine/index.js';
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import { directoryProblems, type SequenceRange } from './directory-check.js';
import { checkCurrent, checkLock, checkManifest, checkTable, checkWal, recordedWalDamage, type Damage } from './file-check.js';
import { CURRENT_FILE_NAME, joinPath, logFileName, parseFileName, tableFileName } from './filenames.js';
import type { FileSystem } from './fs.js';
import { nodeFileSystem } from './node-fs.js';
import { NUM_LEVELS_DEFAULT } from './version.js';
import type { FileMetadata } from './version-edit.js';

/** Where repairTree (src/lsm/repair.ts) moves what it takes out of the live set. */
export const LOST_DIR_NAME = 'lost';

export type TreeFileKind = 'table' | 'wal' | 'manifest' | 'current' | 'lock' | 'temp' | 'unknown';

export interface DamagedFile {
  /** The file's name in the directory. */
  file: string;
  kind: TreeFileKind;
  /** Byte offset of the damage, when it has one place. */
  offset: number | undefined;
  reason: string;
  /** True when the live state needs the file (the live manifest, its tables, WALs not yet flushed). */
  live: boolean;
}

export interface VerifyReport {
  dir: string;
  /** No damaged file. */
  clean: boolean;
  /** The manifest CURRENT names, when it names one that exists. */
  manifest: string | undefined;
  damaged: DamagedFile[];
  /** Logs that end inside their last record (dropped on open as never acknowledged). */
  tornTails: Array<{ file: string; offset: number }>;
  unreferencedTables: string[];
  unknownFiles: string[];
  counts: {
    tables: number;
    tableBlocks: number;
    tableEntries: number;
    wals: number;
    walRecords: number;
    walEntries: number;
    manifests: number;
    manifestRecords: number;
    /** Bytes of every file read. */
    bytes: number;
  };
}

export interface VerifyOptions {
  /** Default: the real file system. */
  fs?: FileSystem;
  /** Hot-path twin used to decode blocks. Default 'js'. */
  engine?: EngineName;
  /** Levels of the tree (as LsmTree's VersionSet). Default 7. */
  numLevels?: number;
}

/** Throws unless `names` (a directory's entries) hold a file only a tree writes: not a tree's directory. */
export function requireTreeFiles(dir: string, names: readonly string[]): void {
  const treeKinds: ReadonlySet<TreeFileKind> = new Set(['table', 'wal', 'manifest', 'current']);
  if (!names.some((n) => treeKinds.has(kindOfFile(n)))) {
    throw new InvalidArgumentError(`${dir} holds no tree (no CURRENT, manifest, table or WAL)`);
  }
}

export function kindOfFile(name: string): TreeFileKind {
  const parsed = parseFileName(name);
  if (parsed === undefined) return 'unknown';
  if (parsed.type === 'log') return 'wal';
  if (parsed.type === 'lock-temp') return 'temp';
  return parsed.type;
}

export async function verifyTree(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir must be a non-empty string');
  const fs = options.fs ?? nodeFileSystem;
  if (!fs.exists(dir)) throw new InvalidArgumentError(`${dir} does not exist`);
  const engine = await loadEngine(options.engine ?? 'js');
  const numLevels = options.numLevels ?? NUM_LEVELS_DEFAULT;
  const names = fs.list(dir);
  requireTreeFiles(dir, names);
  const report: VerifyReport = {
    dir, clean: true, manifest: undefined, damaged: [], tornTails: [], unreferencedTables: [], unknownFiles: [],
    counts: { tables: 0, tableBlocks: 0, tableEntries: 0, wals: 0, walRecords: 0, walEntries: 0, manifests: 0, manifestRecords: 0, bytes: 0 },
  };
  const damaged = (file: string, kind: TreeFileKind, d: Damage, live: boolean): void => {
    report.damaged.push({ file, kind, offset: d.offset, reason: d.reason, live });
  };
  const read = (name: string): Uint8Array => {
    const data = fs.readFile(joinPath(dir, name));
    report.counts.bytes += data.length;
    return data;
  };

  // CURRENT, then the manifests: the live one decides which tables and WALs are live.
  if (names.includes(CURRENT_FILE_NAME)) {
    const c = checkCurrent(read(CURRENT_FILE_NAME), names);
    if (c.damage !== undefined) damaged(CURRENT_FILE_NAME, 'current', c.damage, true);
    report.manifest = c.manifest;
  } else if (names.some((n) => kindOfFile(n) !== 'lock' && kindOfFile(n) !== 'unknown')) {
    damaged(CURRENT_FILE_NAME, 'current', { offset: undefined, reason: `${CURRENT_FILE_NAME} is missing` }, true);
  }
  let liveTables = new Map<number, FileMetadata>();
  let logNumber = 0;
  let walSizes = new Map<number, number>();
  let liveCounters: { lastSequence: number; logNumber: number } | undefined;
  for (const name of names.filter((n) => kindOfFile(n) === 'manifest')) {
    const m = checkManifest(read(name), name, numLevels);
    report.counts.manifests++;
    report.counts.manifestRecords += m.records;
    const live = name === report.manifest;
    if (m.damage !== undefined) damaged(name, 'manifest', m.damage, live);
    if (m.tornTailOffset !== undefined) report.tornTails.push({ file: name, offset: m.tornTailOffset });
    if (live && m.version !== undefined) {
      liveTables = new Map([...m.version.allFiles()].map(({ file }) => [file.number, file]));
      logNumber = m.logNumber ?? 0;
      walSizes = m.walSizes;
      if (m.lastSequence !== undefined && m.logNumber !== undefined) liveCounters = { lastSequence: m.lastSequence, logNumber: m.logNumber };
    }
  }

  /** Sequences the WALs open replays hold, as ranges (for the directory check). */
  const replayed: SequenceRange[] = [];
  const noteReplayed = (seq: number): void => {
    const last = replayed[replayed.length - 1];
    if (last !== undefined && last.last + 1 === seq) last.last = seq;
    else replayed.push({ first: seq, last: seq });
  };
  for (const name of names) {
    const kind = kindOfFile(name);
    const parsed = parseFileName(name);
    switch (kind) {
      case 'table': {
        const number = parsed!.number;
        const meta = liveTables.get(number);
        const t = checkTable(fs, joinPath(dir, name), number, engine, meta);
        report.counts.tables++;
        report.counts.tableBlocks += t.blocks;
        report.counts.tableEntries += t.entries;
        report.counts.bytes += t.sizeBytes;
        if (t.damage !== undefined) damaged(name, 'table', t.damage, meta !== undefined);
        if (meta === undefined) report.unreferencedTables.push(name);
        break;
      }
      case 'wal': {
        const data = read(name);
        const w = checkWal(data, name, parsed!.number >= logNumber ? noteReplayed : undefined);
        report.counts.wals++;
        report.counts.walRecords += w.records;
        report.counts.walEntries += w.entries;
        const live = parsed!.number >= logNumber;
        const damage = recordedWalDamage(w, data.length, walSizes.get(parsed!.number), report.manifest) ?? w.damage;
        if (damage !== undefined) damaged(name, 'wal', damage, live);
        else if (w.tornTailOffset !== undefined) report.tornTails.push({ file: name, offset: w.tornTailOffset });
        break;
      }
      case 'lock': {
        const d = checkLock(read(name));
        if (d !== undefined) damaged(name, 'lock', d, false);
        break;
      }
      case 'unknown':
        if (name !== LOST_DIR_NAME) report.unknownFiles.push(name);
        break;
      case 'manifest':
      case 'current':
      case 'temp':
        break;
    }
  }
  for (const number of walSizes.keys()) {
    const name = logFileName(number);
    if (!names.includes(name)) damaged(name, 'wal', { offset: undefined, reason: `recorded by ${report.manifest} at a clean close but missing` }, true);
  }
  for (const number of liveTables.keys()) {
    const name = tableFileName(number);
    if (!names.includes(name)) {
      damaged(name, 'table', { offset: undefined, reason: `named by ${report.manifest} but missing` }, true);
    }
  }
  // What open refuses because the directory and the live manifest disagree (src/lsm/directory-check.ts).
  if (liveCounters !== undefined && report.manifest !== undefined) {
    const view = { tables: liveTables.values(), ...liveCounters };
    try {
      // A tree without a WAL (option wal: false) has no WAL file; open skips the orphan check then.
      const wals = report.counts.wals > 0 ? replayed : undefined;
      for (const p of directoryProblems(fs, dir, view, engine, wals, new Set())) {
        // A missing or resized table is already reported as the table's own damage.
        if (!report.damaged.some((d) => d.file === p.file)) damaged(report.manifest, 'manifest', { offset: undefined, reason: p.reason }, true);
      }
    } catch (err) {
      // An obsolete WAL that does not read: its damage is reported with the WAL.
      if (!(err instanceof CorruptionError)) throw err;
    }
  }
  report.clean = report.damaged.length === 0;
  return report;
}
