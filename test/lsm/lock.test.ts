import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockedError } from '../../src/errors.js';
import { LOCK_FILE_NAME, acquireLock } from '../../src/lsm/lock.js';
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
  const script = `import(${JSON.stringify(lockModule)}).then((m) => { m.acquireLock('node', ${JSON.stringify(lockDir)}); ` +
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

describe('acquireLock on real files', () => {
  it('refuses a second lock in the same process until released', () => {
    const lock = acquireLock('node', dir);
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`pid ${process.pid}\n`);
    const e = lockedCode(() => acquireLock(nodeFileSystem, join(dir, '.')));
    expect(e.code).toBe('LSM_ERR_LOCKED');
    expect(e.message).toContain(`pid ${process.pid}`);
    lock.release();
    lock.release(); // idempotent
    expect(existsSync(join(dir, LOCK_FILE_NAME))).toBe(false);
    const again = acquireLock('node', dir);
    again.release();
    expect(readdirSync(dir)).toEqual([]); // no temporary file left behind
  });

  it('knows one directory under two names (a symlink)', () => {
    const real = join(dir, 'db');
    mkdirSync(real);
    symlinkSync(real, join(dir, 'alias'));
    const lock = acquireLock('node', real);
    expect(lockedCode(() => acquireLock('node', join(dir, 'alias'))).code).toBe('LSM_ERR_LOCKED');
    lock.release();
    acquireLock('node', join(dir, 'alias')).release();
  });

  it('fails while another live process holds the lock, and takes it over after that process is killed', async () => {
    const child = await childHoldingLock(dir);
    try {
      const e = lockedCode(() => acquireLock('node', dir));
      expect(e.code).toBe('LSM_ERR_LOCKED');
      expect(e.message).toContain(`pid ${child.pid}`);
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`pid ${child.pid}\n`); // stale, left by kill -9
    const lock = acquireLock('node', dir);
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe(`pid ${process.pid}\n`);
    lock.release();
  }, 30_000);

  it('takes over a LOCK naming a dead pid or our own pid from an earlier life; refuses an unreadable one', () => {
    writeFileSync(join(dir, LOCK_FILE_NAME), `pid ${deadPid()}\n`);
    acquireLock('node', dir).release();
    writeFileSync(join(dir, LOCK_FILE_NAME), `pid ${process.pid}\n`);
    acquireLock('node', dir).release();
    writeFileSync(join(dir, LOCK_FILE_NAME), 'garbage');
    expect(lockedCode(() => acquireLock('node', dir)).code).toBe('LSM_ERR_LOCKED');
    expect(readFileSync(join(dir, LOCK_FILE_NAME), 'utf8')).toBe('garbage');
  });
});

describe('acquireLock on an in-memory file system', () => {
  it('refuses a second lock per file system and directory, and frees locks on crash', () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/db');
    const first = acquireLock(fs, '/db');
    expect(lockedCode(() => acquireLock(fs, 'db/')).code).toBe('LSM_ERR_LOCKED');
    const other = new CrashableMemFileSystem();
    acquireLock(other, '/db').release(); // another "machine"
    acquireLock(fs, '/db2').release();

    fs.crash(); // the process holding `first` is gone
    const second = acquireLock(fs, '/db');
    first.release(); // a dead holder's release must not free the new lock
    expect(lockedCode(() => acquireLock(fs, '/db')).code).toBe('LSM_ERR_LOCKED');
    second.release();
    acquireLock(fs, '/db').release();
  });
});
