/**
 * Open/close cycles leak no file descriptor: close() closes the WAL, the tables and the manifest
 * writer (a manifest left open also keeps its disk space after it is deleted as obsolete).
 * Counted through /proc/self/fd (Linux only).
 */
import * as nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';

const CYCLES = 20;
const haveProcFd = nodeFs.existsSync('/proc/self/fd');
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) nodeFs.rmSync(d, { recursive: true, force: true });
});

function openFds(): number {
  return nodeFs.readdirSync('/proc/self/fd').length;
}

describe.runIf(haveProcFd)('file descriptors across open/close', () => {
  it(`are all returned after ${CYCLES} open/close cycles`, async () => {
    const dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), 'lsm-fd-'));
    dirs.push(dir);
    const options = { engine: 'js' as const, workerPool: false as const };
    // One cycle first: lazily opened process-wide handles (the engine, stdio) are not leaks.
    await (await LsmTree.open(dir, options)).close();
    const before = openFds();
    for (let i = 0; i < CYCLES; i++) {
      const tree = await LsmTree.open(dir, options);
      await tree.put(`k${i}`, 'v');
      if (i % 5 === 0) await tree.flush();
      await tree.close();
    }
    expect(openFds() - before).toBe(0);
  });
});
