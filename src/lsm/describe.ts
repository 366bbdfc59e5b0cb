/**
 * The tree's structure as data and as a printable tree: levels, files, sizes, key ranges and entry
 * counts (what the CLI's `lsm s` prints, after the seed's LSM tree dump). Keys print as text when
 * they are printable UTF-8, else as hex, so binary keys (Raft log indexes) stay readable.
 */
import type { EngineName } from '../engine/types.js';
import { userKeyOf } from '../format/internal-key.js';
import type { BackgroundStatus } from './error-handler.js';
import type { Version } from './version.js';

export interface FileDescription {
  number: number;
  sizeBytes: number;
  entries: number;
  deletions: number;
  smallestKey: string;
  largestKey: string;
  smallestSeq: number;
  largestSeq: number;
}

export interface LevelDescription {
  level: number;
  bytes: number;
  files: FileDescription[];
}

export interface TreeDescription {
  dir: string;
  engine: EngineName;
  lastSequence: number;
  memtable: { entries: number; bytes: number };
  immutable: { entries: number; bytes: number } | undefined;
  levels: LevelDescription[];
  /** Background work: ok, retrying a failure, or read-only after one (src/lsm/error-handler.ts). */
  background: BackgroundStatus;
  toString(): string;
}

const PRINTABLE = /^[\x20-\x7e]*$/;

/** A key as text if it is printable ASCII, else as `0x` hex. */
export function printableKey(key: Uint8Array): string {
  const text = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
  if (PRINTABLE.test(text)) return text;
  return `0x${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function describeTree(input: {
  /** How a file's key range prints; default printableKey (an embedding store may strip its prefixes). */
  formatKey?: ((key: Uint8Array) => string) | undefined;
  dir: string;
  engine: EngineName;
  lastSequence: number;
  memtable: { entries: number; bytes: number };
  immutable: { entries: number; bytes: number } | undefined;
  version: Version;
  background: BackgroundStatus;
}): TreeDescription {
  const formatKey = input.formatKey ?? printableKey;
  const levels: LevelDescription[] = [];
  for (let level = 0; level < input.version.levelCount; level++) {
    const files = input.version.files(level).map((f) => ({
      number: f.number,
      sizeBytes: f.size,
      entries: f.entryCount,
      deletions: f.deletionCount,
      smallestKey: formatKey(userKeyOf(f.smallest)),
      largestKey: formatKey(userKeyOf(f.largest)),
      smallestSeq: f.smallestSeq,
      largestSeq: f.largestSeq,
    }));
    levels.push({ level, bytes: input.version.levelBytes(level), files });
  }
  const description: TreeDescription = {
    dir: input.dir,
    engine: input.engine,
    lastSequence: input.lastSequence,
    memtable: input.memtable,
    immutable: input.immutable,
    levels,
    background: input.background,
    toString: () => formatDescription(description),
  };
  return description;
}

function formatBackground(b: BackgroundStatus): string {
  if (b.state === 'ok') return 'ok';
  const cause = `${b.cause.code}: ${b.cause.message}`;
  if (b.state === 'read-only') return `read-only (${cause})`;
  const next = b.nextRetryAt === undefined ? 'retry running' : `next retry in ${Math.max(0, b.nextRetryAt - Date.now())} ms`;
  return `retrying (${cause}; ${b.attempts} failed attempt${b.attempts === 1 ? '' : 's'}, ${next})`;
}

function formatDescription(d: TreeDescription): string {
  const lines: string[] = [];
  lines.push(`lsm tree ${d.dir} (engine ${d.engine}, last sequence ${d.lastSequence})`);
  const rows: string[] = [`background: ${formatBackground(d.background)}`];
  rows.push(`memtable: ${d.memtable.entries} entries, ${formatBytes(d.memtable.bytes)}`);
  if (d.immutable !== undefined) rows.push(`immutable memtable: ${d.immutable.entries} entries, ${formatBytes(d.immutable.bytes)} (flushing)`);
  const nonEmpty = d.levels.filter((l) => l.files.length > 0);
  rows.forEach((row, i) => {
    const last = i === rows.length - 1 && nonEmpty.length === 0;
    lines.push(`${last ? '└─' : '├─'} ${row}`);
  });
  nonEmpty.forEach((level, li) => {
    const lastLevel = li === nonEmpty.length - 1;
    const entries = level.files.reduce((n, f) => n + f.entries, 0);
    lines.push(`${lastLevel ? '└─' : '├─'} L${level.level}: ${level.files.length} file${level.files.length === 1 ? '' : 's'}, ${formatBytes(level.bytes)}, ${entries} entries`);
    level.files.forEach((f, fi) => {
      const branch = fi === level.files.length - 1 ? '└─' : '├─';
      const indent = lastLevel ? '   ' : '│  ';
      lines.push(
        `${indent}${branch} #${f.number} ${formatBytes(f.sizeBytes)} ${f.entries} entries (${f.deletions} deletes) ` +
          `[${f.smallestKey} .. ${f.largestKey}] seq ${f.smallestSeq}..${f.largestSeq}`,
      );
    });
  });
  if (nonEmpty.length === 0) lines.push('   (no tables)');
  return lines.join('\n');
}

