/**
 * The database directory LOCK: one open tree per directory (the role of leveldb's LockFile in
 * util/env_posix.cc, which uses fcntl F_SETLK). Node has no flock/fcntl locking, so:
 *
 * - inside this process, a registry of locked directories refuses a second open at once;
 * - across processes, `LOCK` holds the holder's pid. It is created atomically with its content:
 *   the pid is written and fsynced to a private temporary file, which is then hard-linked to
 *   `LOCK` (link(2) fails with EEXIST if `LOCK` exists), so no reader ever sees a half-written LOCK.
 *   A LOCK whose pid is not a live process (kill(pid, 0) fails with ESRCH) was left by a process
 *   that died without releasing it (kill -9, power loss): it is removed and the link retried.
 *
 * Caveats, inherent to pid files: (1) two processes that read the same stale pid can interleave:
 * A removes the stale LOCK and links its own; B, still acting on the stale pid it read, removes A's
 * fresh LOCK and links its own; both now believe they hold the lock. Only a concurrent takeover of
 * a stale LOCK opens this window; a live holder's LOCK is never removed. (2) After a reboot, the
 * stale pid may name an unrelated live process: the open then fails with LockedError naming that
 * pid, and the LOCK file must be removed by hand. A LOCK naming our own pid that is not in our registry is from
 * an earlier process that had our pid (containers reuse low pids) and is taken over.
 *
 * For an in-memory file system the registry alone is the lock, keyed by file system instance. A
 * CrashableMemFileSystem crash ends the "process" that held its locks: a lock taken before the
 * crash no longer counts, so a test can reopen the tree after crash().
 */
import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import * as posix from 'node:path/posix';
import { LockedError } from '../errors.js';
import type { FileSystem } from './fs.js';
import { CrashableMemFileSystem } from './mem-fs.js';
import { NodeFileSystem, throwIoError } from './node-fs.js';

export const LOCK_FILE_NAME = 'LOCK';

export interface DirLock {
  readonly dir: string;
  /** Gives the directory up. Idempotent. */
  release(): void;
}

/** Directories (real paths) this process holds a real-file-system lock on. */
const nodeLocked = new Set<string>();
/** Per in-memory file system: directory -> crash epoch at which it was locked. */
const memLocked = new WeakMap<FileSystem, Map<string, number>>();

/** Attempts to create LOCK: one removal of a stale LOCK per attempt, so few are ever needed. */
const LOCK_ATTEMPTS_MAX = 4;

export function acquireLock(fs: FileSystem | 'node', dir: string): DirLock {
  if (fs === 'node' || fs instanceof NodeFileSystem) return acquireNodeLock(dir);
  return acquireMemLock(fs, dir);
}

/** A DirLock whose release runs `releaseOnce` the first time only (release() is idempotent). */
function lockHandle(dir: string, releaseOnce: () => void): DirLock {
  let released = false;
  return {
    dir,
    release(): void {
      if (released) return;
      released = true;
      releaseOnce();
    },
  };
}

function epochOf(fs: FileSystem): number {
  return fs instanceof CrashableMemFileSystem ? fs.epoch : 0;
}

function acquireMemLock(fs: FileSystem, dir: string): DirLock {
  const key = posix.resolve('/', dir);
  let held = memLocked.get(fs);
  if (held === undefined) {
    held = new Map();
    memLocked.set(fs, held);
  }
  const lockedAt = held.get(key);
  if (lockedAt !== undefined && lockedAt === epochOf(fs)) {
    throw new LockedError(dir, 'another open tree in this process');
  }
  const epoch = epochOf(fs);
  held.set(key, epoch);
  const registry = held;
  return lockHandle(dir, () => {
    // A lock from before a crash may have been taken again since: leave that one alone.
    if (registry.get(key) === epoch) registry.delete(key);
  });
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** True unless kill(pid, 0) reports that no such process exists. EPERM: it exists, not ours. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return false;
    if (isErrno(err, 'EPERM')) return true;
    throw err;
  }
}

/** The pid a LOCK names, or undefined if it vanished meanwhile; garbage is reported. */
function readHolder(lockPath: string, dir: string): number | undefined {
  let text: string;
  try {
    text = nodeFs.readFileSync(lockPath, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throwIoError('read', lockPath, err);
  }
  const match = /^pid (\d+)\n$/.exec(text);
  if (match === null) {
    throw new LockedError(dir, `an unreadable ${lockPath} (remove it if no process uses the directory)`);
  }
  return Number(match[1]);
}

function acquireNodeLock(dir: string): DirLock {
  // The real path, so two spellings of one directory (a symlink, "a/../b") share one registry key:
  // otherwise our own LOCK, seen under another name, would look like a stale one from an earlier
  // process with our pid and be taken over.
  let resolved: string;
  try {
    resolved = nodeFs.realpathSync(dir);
  } catch (err) {
    throwIoError('resolve', dir, err);
  }
  if (nodeLocked.has(resolved)) throw new LockedError(dir, `this process (pid ${process.pid})`);
  const lockPath = nodePath.join(resolved, LOCK_FILE_NAME);
  const tmpPath = nodePath.join(resolved, `${LOCK_FILE_NAME}.${process.pid}.tmp`);
  const content = `pid ${process.pid}\n`;

  try {
    const fd = nodeFs.openSync(tmpPath, 'w');
    try {
      nodeFs.writeSync(fd, content);
      nodeFs.fsyncSync(fd);
    } finally {
      nodeFs.closeSync(fd);
    }
  } catch (err) {
    throwIoError('write', tmpPath, err);
  }
  try {
    let acquired = false;
    for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX && !acquired; attempt++) {
      try {
        nodeFs.linkSync(tmpPath, lockPath);
        acquired = true;
        break;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throwIoError('create', lockPath, err);
      }
      const holder = readHolder(lockPath, dir);
      if (holder === undefined) continue; // released meanwhile: try again
      if (holder !== process.pid && processAlive(holder)) throw new LockedError(dir, `pid ${holder}`);
      // Stale: its holder is gone (or was an earlier process with our pid).
      try {
        nodeFs.unlinkSync(lockPath);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throwIoError('remove stale', lockPath, err);
      }
    }
    if (!acquired) throw new LockedError(dir, 'processes racing for its LOCK');
  } finally {
    try {
      nodeFs.unlinkSync(tmpPath);
    } catch (err) {
      // ENOENT: someone cleaned the directory meanwhile; the temporary file is gone either way.
      if (!isErrno(err, 'ENOENT')) throwIoError('remove', tmpPath, err);
    }
  }
  // No directory fsync: a power loss kills every holder, so a LOCK that did not survive it does not
  // matter. The content was fsynced (above) so a LOCK that did survive is readable, not empty.
  nodeLocked.add(resolved);

  return lockHandle(dir, () => {
    nodeLocked.delete(resolved);
    // Remove LOCK only if it is still ours (a stale-takeover race may have replaced it).
    let text: string;
    try {
      text = nodeFs.readFileSync(lockPath, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throwIoError('read', lockPath, err);
    }
    if (text !== content) return;
    try {
      nodeFs.unlinkSync(lockPath);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throwIoError('remove', lockPath, err);
    }
  });
}
