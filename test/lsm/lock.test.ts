import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockedError } from '../../src/errors.js';
import { LOCK_FILE_NAME } from '../../src/lsm/lock.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';

const lockModule = fileURLToPath(new URL('../../src/lsm/lock.ts', import.meta.url));

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function lockedCode(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LockedError);
    return { code: (err as LockedError).code, message: (err as LockedError).message };
  }
  throw new Error('expected a LockedError');
}

/** A pid that belonged to a process that has exited (its number is not reused this fast). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(r.status).toBe(0);
  return r.pid!;
}

/** Starts a child process that takes the lock and sleeps; resolves once it holds it. */
function childHoldingLock(lockDir: string): Promise<ChildProcess> {
  const script = `import(${JSON.stringify(lockModule)}).then((m) => { m.lockRealDirectory(${JSON.stringify(lockDir)}); ` +
    `process.stdout.write('locked\\n'); setTimeout(() => {}, 60000); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not take the lock within 20 s: ${err}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked\n')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code} before locking: ${err}`));
    });
  });
}

describe('NodeFileSystem.lock', () => {
  it('refuses a second lock in the same process until released', () => {
    const lock = nodeFileSystem.lock(dir);
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`pid ${process.pid}\n`);
    const e = lockedCode(() => nodeFileSystem.lock(join(dir, '.')));
    expect(e.code).toBe('LSM_ERR_LOCKED');
    expect(e.message).toContain(`pid ${process.pid}`);
    lock.release();
    lock.release(); // idempotent
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
    const again = nodeFileSystem.lock(dir);
    again.release();
    expect(readdirSync(dir)).toEqual([]); // no temporary file left behind
  });

  it('refuses a second lock taken through a second copy of the lock module (one registry per process)', async () => {
    // A second module instance, as when a process loads both the package build and its sources.
    const copy = (await import(/* @vite-ignore */ `${lockModule}?second-copy`)) as typeof import('../../src/lsm/lock.js');
    const lock = nodeFileSystem.lock(dir);
    try {
      expect(lockedCode(() => copy.lockRealDirectory(dir)).code).toBe('LSM_ERR_LOCKED');
    } finally {
      lock.release();
    }
    copy.lockRealDirectory(dir).release();
  });

  it('knows one directory under two names (a symlink)', () => {
    const real = join(dir, 'db');
    mkdirSync(real);
    symlinkSync(real, join(dir, 'alias'));
    const lock = nodeFileSystem.lock(real);
    expect(lockedCode(() => nodeFileSystem.lock(join(dir, 'alias'))).code).toBe('LSM_ERR_LOCKED');
    lock.release();
    nodeFileSystem.lock(join(dir, 'alias')).release();
  });

  it('fails while another live process holds the lock, and takes it over after that process is killed', async () => {
    const child = await childHoldingLock(dir);
    try {
      const e = lockedCode(() => nodeFileSystem.lock(dir));
      expect(e.code).toBe('LSM_ERR_LOCKED');
      expect(e.message).toContain(`pid ${child.pid}`);
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`pid ${child.pid}\n`); // stale, left by kill -9
    const lock = nodeFileSystem.lock(dir);
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`pid ${process.pid}\n`);
    lock.release();
  }, 30_000);

  it('takes over a LOCK naming a dead pid or our own pid from an earlier life; refuses an unreadable one', () => {
    writeFileSync(join(dir, LOCK_FILE_NAME), `pid ${deadPid()}\n`);
    nodeFileSystem.lock(dir).release();
    writeFileSync(join(dir, LOCK_FILE_NAME), `pid ${process.pid}\n`);
    nodeFileSystem.lock(dir).release();
    writeFileSync(join(dir, LOCK_FILE_NAME), 'garbage');
    expect(lockedCode(() => nodeFileSystem.lock(dir)).code).toBe('LSM_ERR_LOCKED');
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe('garbage');
  });
});

describe('CrashableMemFileSystem.lock', () => {
  it('refuses a second lock per file system and directory, and frees locks on crash', () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/db');
    const first = fs.lock('/db');
    expect(lockedCode(() => fs.lock('db/')).code).toBe('LSM_ERR_LOCKED');
    const other = new CrashableMemFileSystem();
    other.lock('/db').release(); // another "machine"
    fs.lock('/db2').release();

    fs.crash(); // the process holding `first` is gone
    const second = fs.lock('/db');
    first.release(); // a dead holder's release must not free the new lock
    expect(lockedCode(() => fs.lock('/db')).code).toBe('LSM_ERR_LOCKED');
    second.release();
    fs.lock('/db').release();
  });
});
