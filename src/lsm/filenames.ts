/**
 * Names of the files in a tree's directory, after leveldb's db/filename.cc:
 *
 *   NNNNNN.sst        an SSTable (docs/format/sstable.md)
 *   NNNNNN.log        a write-ahead log (docs/format/wal.md)
 *   MANIFEST-NNNNNN   a manifest: the log of version edits (docs/format/manifest.md)
 *   NNNNNN.dbtmp      a temporary file, renamed into place (CURRENT is written this way)
 *   CURRENT           the name of the live manifest followed by '\n'
 *   LOCK              held by the process that has the tree open
 *   LOCK.<pid>.tmp    LOCK being created by process <pid> (src/lsm/lock.ts)
 *
 * NNNNNN is a file number from the version set's single counter, zero-padded to at least 6 digits
 * (longer numbers are written whole). One counter for all kinds means a number names one file.
 */
import { assert } from '../util/assert.js';

export type FileType = 'table' | 'log' | 'manifest' | 'temp' | 'current' | 'lock' | 'lock-temp';

export const CURRENT_FILE_NAME = 'CURRENT';
export const LOCK_FILE_NAME = 'LOCK';
const MANIFEST_PREFIX = 'MANIFEST-';

function padded(n: number): string {
  assert(Number.isSafeInteger(n) && n >= 0, () => `file number must be a non-negative safe integer, got ${n}`);
  return String(n).padStart(6, '0');
}

export function tableFileName(n: number): string {
  return `${padded(n)}.sst`;
}

export function logFileName(n: number): string {
  return `${padded(n)}.log`;
}

export function manifestFileName(n: number): string {
  return `${MANIFEST_PREFIX}${padded(n)}`;
}

export function tempFileName(n: number): string {
  return `${padded(n)}.dbtmp`;
}

/** The temporary file process `pid` writes LOCK's content to before linking it (src/lsm/lock.ts). */
export function lockTempFileName(pid: number): string {
  assert(Number.isSafeInteger(pid) && pid > 0, () => `pid must be a positive safe integer, got ${pid}`);
  return `${LOCK_FILE_NAME}.${pid}.tmp`;
}

const LOCK_TEMP = /^LOCK\.([0-9]{1,10})\.tmp$/;

/** `dir/name`; both file systems take '/'-separated paths. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

export interface ParsedFileName {
  type: FileType;
  /** The file number; 0 for CURRENT and LOCK, which have none; the pid for a lock temp file. */
  number: number;
}

const DIGITS = /^[0-9]{1,16}$/;

function parseNumber(s: string): number | undefined {
  if (!DIGITS.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The type and number of a file of a tree's directory, or undefined for a name lsmraft never writes. */
export function parseFileName(name: string): ParsedFileName | undefined {
  if (name === CURRENT_FILE_NAME) return { type: 'current', number: 0 };
  if (name === LOCK_FILE_NAME) return { type: 'lock', number: 0 };
  const lockTemp = LOCK_TEMP.exec(name);
  if (lockTemp !== null) return { type: 'lock-temp', number: Number(lockTemp[1]) };
  if (name.startsWith(MANIFEST_PREFIX)) {
    const n = parseNumber(name.slice(MANIFEST_PREFIX.length));
    return n === undefined ? undefined : { type: 'manifest', number: n };
  }
  const dot = name.indexOf('.');
  if (dot <= 0) return undefined;
  const n = parseNumber(name.slice(0, dot));
  if (n === undefined) return undefined;
  switch (name.slice(dot + 1)) {
    case 'sst':
      return { type: 'table', number: n };
    case 'log':
      return { type: 'log', number: n };
    case 'dbtmp':
      return { type: 'temp', number: n };
    default:
      return undefined;
  }
}
