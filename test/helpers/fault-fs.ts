/**
 * FaultFileSystem: wraps any FileSystem (src/lsm/fs.ts) and makes chosen calls fail with EIO or
 * ENOSPC, after leveldb's db/fault_injection_test.cc and Pebble's vfs/errorfs. Where the failure
 * lands is a list of rules, each matching calls by kind (open, write, sync, rename, read, unlink,
 * ...), by path pattern, and by the Nth matching call, or at random with a probability drawn from a
 * seeded generator (the same seed replays the same faults for the same call sequence).
 *
 * A failed call does nothing to the inner file system (the fault is raised before the call), and
 * throws what NodeFileSystem throws for a system error: an IoError whose `cause` is shaped like a
 * Node system error (`code`, `errno`, `syscall`, `path`). `enabled = false` switches every rule off
 * (the disk was freed, the controller came back); `injected` records each fault raised, in order.
 */
import { IoError } from '../../src/errors.js';
import type { DirLock, FileSystem, RandomAccessFile, WritableFile } from '../../src/lsm/fs.js';
import { Rng } from './rng.js';

/** What a call does, in the words of the system calls it makes. */
export type FaultKind =
  | 'open' | 'write' | 'sync' | 'syncDir' | 'read' | 'rename' | 'unlink' | 'link' | 'mkdir' | 'rmdir' | 'list';

export const FAULT_KINDS: readonly FaultKind[] = [
  'open', 'write', 'sync', 'syncDir', 'read', 'rename', 'unlink', 'link', 'mkdir', 'rmdir', 'list',
];

export type FaultCode = 'EIO' | 'ENOSPC';

/** Linux errno values, negated as libuv reports them in `err.errno`. */
const ERRNO: Record<FaultCode, number> = { EIO: -5, ENOSPC: -28 };
const MESSAGE: Record<FaultCode, string> = { EIO: 'i/o error', ENOSPC: 'no space left on device' };
const SYSCALL: Record<FaultKind, string> = {
  open: 'open', write: 'write', sync: 'fdatasync', syncDir: 'fsync', read: 'read', rename: 'rename',
  unlink: 'unlink', link: 'link', mkdir: 'mkdir', rmdir: 'rmdir', list: 'scandir',
};

export interface FaultRule {
  /** Kinds of call this rule matches; all kinds when absent. */
  kinds?: readonly FaultKind[];
  /** Matches calls whose path (either path, for rename and link) matches; all paths when absent. */
  path?: RegExp;
  /** Fail the nth matching call (1-based); with `probability` absent and this absent, every one. */
  nth?: number;
  /** Fail each matching call with this probability (seeded); ignored when `nth` is set. */
  probability?: number;
  /** Default 'EIO'. */
  code?: FaultCode;
  /** Faults this rule raises at most; default 1 with `nth`, unlimited otherwise. */
  times?: number;
  /**
   * For writes: a seeded random prefix of the data (possibly empty, never all of it) reaches the
   * file before the error, as a short write(2) followed by ENOSPC leaves it (a torn record).
   */
  torn?: boolean;
}

export interface InjectedFault {
  /** Index of the call among all calls seen by the wrapper (0-based). */
  call: number;
  kind: FaultKind;
  /** The FileSystem method (or handle method) that failed. */
  method: string;
  path: string;
  code: FaultCode;
}

/** A Node-style system error, as node:fs throws it. */
export interface SystemErrorLike extends Error {
  code: FaultCode;
  errno: number;
  syscall: string;
  path: string;
}

export function systemError(code: FaultCode, kind: FaultKind, path: string): SystemErrorLike {
  const syscall = SYSCALL[kind];
  const err = new Error(`${code}: ${MESSAGE[code]}, ${syscall} '${path}'`) as SystemErrorLike;
  err.code = code;
  err.errno = ERRNO[code];
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** The code of an injected fault inside `err` (an IoError over a system error), or undefined. */
export function injectedCode(err: unknown): FaultCode | undefined {
  if (!(err instanceof IoError)) return undefined;
  const cause = err.cause as Partial<SystemErrorLike> | undefined;
  return cause?.code === 'EIO' || cause?.code === 'ENOSPC' ? cause.code : undefined;
}

interface RuleState {
  rule: FaultRule;
  matched: number;
  raised: number;
}

export class FaultFileSystem implements FileSystem {
  /** Jobs run inline: a worker thread would open the files by path, past the injected faults. */
  readonly reachableFromWorkers = false;
  /** False: every call goes straight through (the disk was freed). */
  enabled = true;
  readonly injected: InjectedFault[] = [];
  /** Calls seen, per kind, whether or not they failed. */
  readonly calls: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  private readonly rules: RuleState[] = [];
  private readonly rng: Rng;
  private callCount = 0;

  constructor(readonly inner: FileSystem, options: { seed?: number; rules?: readonly FaultRule[] } = {}) {
    this.rng = new Rng(options.seed ?? 1);
    for (const r of options.rules ?? []) this.addRule(r);
  }
  /** The wrapped file system's lock: a wrapper must never weaken it (src/lsm/fs.ts). */
  lock(dir: string): DirLock {
    return this.inner.lock(dir);
  }


  addRule(rule: FaultRule): void {
    if (rule.nth !== undefined && (!Number.isInteger(rule.nth) || rule.nth < 1)) throw new RangeError(`nth must be a positive integer, got ${rule.nth}`);
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`probability must be in [0, 1], got ${rule.probability}`);
    }
    this.rules.push({ rule, matched: 0, raised: 0 });
  }

  clearRules(): void {
    this.rules.length = 0;
  }

  /**
   * Raises the fault due for this call, if any. Every call passes here before the inner one.
   * `tear` writes the first n bytes of a write's data, for rules with `torn`.
   */
  private check(kind: FaultKind, method: string, path: string, otherPath?: string, tear?: { bytes: number; write: (n: number) => void }): void {
    const call = this.callCount++;
    this.calls[kind]++;
    if (!this.enabled) return;
    for (const s of this.rules) {
      const r = s.rule;
      if (r.kinds !== undefined && !r.kinds.includes(kind)) continue;
      if (r.path !== undefined && !r.path.test(path) && (otherPath === undefined || !r.path.test(otherPath))) continue;
      s.matched++;
      const limit = r.times ?? (r.nth !== undefined ? 1 : Infinity);
      if (s.raised >= limit) continue;
      let fire: boolean;
      if (r.nth !== undefined) fire = s.matched >= r.nth;
      else if (r.probability !== undefined) fire = this.rng.chance(r.probability);
      else fire = true;
      if (!fire) continue;
      s.raised++;
      const code = r.code ?? 'EIO';
      this.injected.push({ call, kind, method, path, code });
      if (r.torn === true && tear !== undefined && tear.bytes > 0) tear.write(this.rng.int(tear.bytes));
      const cause = systemError(code, kind, path);
      throw new IoError(`${method} ${path}: ${cause.message}`, cause);
    }
  }

  private wrapWritable(f: WritableFile): WritableFile {
    return {
      path: f.path,
      append: (data) => {
        this.check('write', 'append', f.path, undefined, { bytes: data.length, write: (n) => f.append(data.subarray(0, n)) });
        f.append(data);
      },
      sync: async () => {
        this.check('sync', 'sync', f.path);
        await f.sync();
      },
      syncSync: () => {
        this.check('sync', 'syncSync', f.path);
        f.syncSync();
      },
      size: () => f.size(),
      close: () => f.close(),
    };
  }

  private wrapReadable(f: RandomAccessFile): RandomAccessFile {
    return {
      path: f.path,
      read: (position, length) => {
        this.check('read', 'read', f.path);
        return f.read(position, length);
      },
      size: () => f.size(),
      close: () => f.close(),
    };
  }

  create(path: string): WritableFile {
    this.check('open', 'create', path);
    return this.wrapWritable(this.inner.create(path));
  }
  openAppend(path: string): WritableFile {
    this.check('open', 'openAppend', path);
    return this.wrapWritable(this.inner.openAppend(path));
  }
  openRead(path: string): RandomAccessFile {
    this.check('open', 'openRead', path);
    return this.wrapReadable(this.inner.openRead(path));
  }
  readFile(path: string): Uint8Array {
    this.check('read', 'readFile', path);
    return this.inner.readFile(path);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  fileSize(path: string): number {
    return this.inner.fileSize(path);
  }
  rename(from: string, to: string): void {
    this.check('rename', 'rename', from, to);
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.check('unlink', 'remove', path);
    this.inner.remove(path);
  }
  async removeAsync(path: string): Promise<void> {
    this.check('unlink', 'removeAsync', path);
    await this.inner.removeAsync(path);
  }
  removeDir(dir: string): void {
    this.check('rmdir', 'removeDir', dir);
    this.inner.removeDir(dir);
  }
  link(existingPath: string, newPath: string): void {
    this.check('link', 'link', existingPath, newPath);
    this.inner.link(existingPath, newPath);
  }
  mkdirp(dir: string): void {
    this.check('mkdir', 'mkdirp', dir);
    this.inner.mkdirp(dir);
  }
  list(dir: string): string[] {
    this.check('list', 'list', dir);
    return this.inner.list(dir);
  }
  async syncDir(dir: string): Promise<void> {
    this.check('syncDir', 'syncDir', dir);
    await this.inner.syncDir(dir);
  }
  syncDirSync(dir: string): void {
    this.check('syncDir', 'syncDirSync', dir);
    this.inner.syncDirSync(dir);
  }
}
