/**
 * The directory LOCK of a tree on real files (NodeFileSystem.lock; the role of leveldb's LockFile
 * in util/env_posix.cc, which uses fcntl F_SETLK). Node 20 has no flock/fcntl locking, so:
 *
 * - inside this process, a registry of locked directories, keyed by real path (realpath(3)), refuses
 *   a second open at once, whatever spelling or file system wrapper the second open came through;
 * - across processes, `LOCK` holds the holder's pid. It is created atomically with its content:
 *   the pid is written and fsynced to a private temporary file `LOCK.<pid>.tmp`, which is then
 *   hard-linked to `LOCK` (link(2) fails with EEXIST if `LOCK` exists), so no reader ever sees a
 *   half-written LOCK. A LOCK whose pid is not a live process (kill(pid, 0) fails with ESRCH) was
 *   left by a process that died without releasing it (kill -9, power loss): it is removed and the
 *   link retried.
 *
 * The temporary file is removed whatever happens to the attempt; only a process killed between its
 * creation and its removal leaves one behind. Once the lock is held, every `LOCK.<pid>.tmp` whose
 * pid is not a live process is removed (its creator died; a live one is another process trying
 * to take the lock right now, which removes its own). So a kill during the first open of a
 * directory never bricks it.
 *
 * Caveats, inherent to pid files: (1) two processes that read the same stale pid can interleave:
 * A removes the stale LOCK and links its own; B, still acting on the stale pid it read, removes A's
 * fresh LOCK and links its own; both now believe they hold the lock. Only a concurrent takeover of
 * a stale LOCK opens this window; a live holder's LOCK is never removed. (2) After a reboot, the
 * stale pid may name an unrelated live process: the open then fails with LockedError naming that
 * pid, and the LOCK file must be removed by hand. A LOCK naming our own pid that is not in our
 * registry is from an earlier process that had our pid (containers reuse low pids) and is taken over.
 */
import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import { LockedError } from '../errors.js';
import { LOCK_FILE_NAME, lockTempFileName, parseFileName } from './filenames.js';
import type { DirLock } from './fs.js';
import { throwIoError } from './system-error.js';

export { LOCK_FILE_NAME };
export type { DirLock };

/**
 * Directories (real paths) this process holds a lock on. Kept on globalThis under a registered
 * symbol, not in a module variable: a process may load this module twice (the package's build and
 * its sources, two installed copies), and two registries would each take the other's LOCK, which
 * names our own pid, for a stale one of an earlier process.
 */
const REGISTRY_KEY = Symbol.for('lsmraft.lockedDirectories');
const nodeLocked: Set<string> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as Set<string> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] = new Set<string>());
/** Attempts to create LOCK: one removal of a stale LOCK per attempt, so few are ever needed. */
const LOCK_ATTEMPTS_MAX = 4;

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

/** Removes the `LOCK.<pid>.tmp` files of dead processes (see the header). REQUIRES: we hold LOCK. */
function removeDeadLockTempFiles(resolved: string): void {
  let names: string[];
  try {
    names = nodeFs.readdirSync(resolved);
  } catch (err) {
    throwIoError('list', resolved, err);
  }
  for (const name of names) {
    const parsed = parseFileName(name);
    if (parsed?.type !== 'lock-temp' || processAlive(parsed.number)) continue;
    try {
      nodeFs.unlinkSync(nodePath.join(resolved, name));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throwIoError('remove stale', nodePath.join(resolved, name), err);
    }
  }
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

/** Locks the real directory `dir` (see the header). */
export function lockRealDirectory(dir: string): DirLock {
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
  const tmpPath = nodePath.join(resolved, lockTempFileName(process.pid));
  const content = `pid ${process.pid}\n`;

  try {
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
  const handle = lockHandle(dir, () => {
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
  try {
    removeDeadLockTempFiles(resolved);
  } catch (err) {
    handle.release();
    throw err;
  }
  return handle;
}
