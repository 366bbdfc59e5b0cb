/**
 * A process killed while it takes the directory lock leaves its temporary file LOCK.<pid>.tmp
 * (src/lsm/lock.ts). That leftover must not brick the directory: the next open recognizes it as a
 * lock temp file of a dead process, removes it, and opens (creating the tree the killed open never
 * finished). Real kill -9 of a child process blocked in the fsync of that file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';

const CHILD = fileURLToPath(new URL('./lock-kill-child.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the child until it is inside the lock temp file's fsync, then kill -9s it. */
function killDuringLockFsync(dir: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not reach the lock fsync within 20 s: ${err}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('in-fsync\n')) child.kill('SIGKILL');
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && out.includes('in-fsync\n')) resolve();
      else reject(new Error(`child exited (${code}, ${signal}) before the lock fsync: ${out} ${err}`));
    });
  });
}

describe('a kill -9 while taking the lock of a new tree', () => {
  it('leaves a LOCK.<pid>.tmp that the next open removes, then opens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsm-lock-kill-'));
    dirs.push(dir);
    await killDuringLockFsync(dir);
    const leftover = readdirSync(dir).filter((n) => /^LOCK\.\d+\.tmp$/.test(n));
    expect(leftover).toHaveLength(1);

    let openError: string | undefined;
    let tree: LsmTree | undefined;
    try {
      tree = await LsmTree.open(dir, { engine: 'js', workerPool: false });
    } catch (err) {
      openError = `${(err as { code?: string }).code}: ${(err as Error).message}`;
    }
    expect(openError).toBeUndefined();
    await tree!.put('k', 'v');
    expect(await tree!.get('k')).toEqual(new TextEncoder().encode('v'));
    await tree!.close();
    expect(readdirSync(dir).filter((n) => n.startsWith('LOCK'))).toEqual([]);
  }, 30_000);
});
