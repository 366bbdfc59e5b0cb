/**
 * The directory lock is the file system's (FileSystem.lock): a file system that wraps another one
 * (for logging, metrics) delegates to it, so two trees opened on one directory through wrappers
 * still exclude each other. A Proxy forwards every method; a class forwards each by hand.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import type { FileSystem } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A logging wrapper: counts calls, forwards everything (as a metrics layer would). */
function proxied(inner: FileSystem, calls: Map<string, number>): FileSystem {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A wrapper class forwarding each method by hand: not an instance of the file system it wraps. */
class CountingFileSystem implements FileSystem {
  creates = 0;
  constructor(private readonly inner: FileSystem) {}
  get reachableFromWorkers(): boolean {
    return this.inner.reachableFromWorkers;
  }
  create(path: string): ReturnType<FileSystem['create']> {
    this.creates++;
    return this.inner.create(path);
  }
  openAppend(path: string): ReturnType<FileSystem['openAppend']> {
    return this.inner.openAppend(path);
  }
  openRead(path: string): ReturnType<FileSystem['openRead']> {
    return this.inner.openRead(path);
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  fileSize(path: string): number {
    return this.inner.fileSize(path);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.inner.remove(path);
  }
  removeAsync(path: string): Promise<void> {
    return this.inner.removeAsync(path);
  }
  removeDir(dir: string): void {
    this.inner.removeDir(dir);
  }
  link(existingPath: string, newPath: string): void {
    this.inner.link(existingPath, newPath);
  }
  mkdirp(dir: string): void {
    this.inner.mkdirp(dir);
  }
  list(dir: string): string[] {
    return this.inner.list(dir);
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }
  syncDirSync(dir: string): void {
    this.inner.syncDirSync(dir);
  }
  lock(dir: string): ReturnType<FileSystem['lock']> {
    return this.inner.lock(dir);
  }
}

async function secondOpenCode(dir: string, first: FileSystem, second: FileSystem): Promise<string | undefined> {
  const options = { engine: 'js' as const, workerPool: false as const };
  const a = await LsmTree.open(dir, { ...options, fs: first });
  let code: string | undefined;
  try {
    const b = await LsmTree.open(dir, { ...options, fs: second });
    await b.close();
  } catch (err) {
    code = (err as { code?: string }).code;
  }
  await a.close();
  return code;
}

describe('the directory lock through a wrapping file system', () => {
  it('refuses a second tree on a real directory through two Proxy wrappers (LSM_ERR_LOCKED)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsm-wrap-lock-'));
    dirs.push(dir);
    const calls = new Map<string, number>();
    expect(await secondOpenCode(dir, proxied(nodeFileSystem, calls), proxied(nodeFileSystem, calls))).toBe('LSM_ERR_LOCKED');
    expect(calls.get('create')).toBeGreaterThan(0);
  });

  it('refuses a second tree on a real directory through two forwarding classes (LSM_ERR_LOCKED)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsm-wrap-lock-'));
    dirs.push(dir);
    const first = new CountingFileSystem(nodeFileSystem);
    expect(await secondOpenCode(dir, first, new CountingFileSystem(nodeFileSystem))).toBe('LSM_ERR_LOCKED');
    expect(first.creates).toBeGreaterThan(0);
  });

  it('refuses a second tree through a wrapper while the plain file system holds the lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsm-wrap-lock-'));
    dirs.push(dir);
    expect(await secondOpenCode(dir, nodeFileSystem, proxied(nodeFileSystem, new Map()))).toBe('LSM_ERR_LOCKED');
  });

  it('refuses a second tree on an in-memory file system through a wrapper', async () => {
    const mem = new CrashableMemFileSystem();
    expect(await secondOpenCode('/db', proxied(mem, new Map()), proxied(mem, new Map()))).toBe('LSM_ERR_LOCKED');
  });
});
