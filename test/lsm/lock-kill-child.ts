/**
 * Child process of test/lsm/lock-leftover.test.ts: opens a new tree in <dir>, but the fsync of the
 * lock's temporary file (LOCK.<pid>.tmp, src/lsm/lock.ts) never returns: it announces `in-fsync`
 * on stdout and blocks, so the parent's kill -9 lands exactly there, as a kill during a slow fsync
 * would. The hang is installed by patching node:fs here (syncBuiltinESMExports makes the ESM
 * bindings the tree imported see it), not by any hook in the tree.
 *
 * usage: node --import tsx test/lsm/lock-kill-child.ts <dir>
 */
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { LsmTree } from '../../src/lsm/db.js';

const require = createRequire(import.meta.url);
const cjsFs = require('node:fs') as typeof fs;
const [dir] = process.argv.slice(2);

const pathsByFd = new Map<number, string>();
const openSync = cjsFs.openSync;
const fsyncSync = cjsFs.fsyncSync;
cjsFs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
  const fd = (openSync as (...args: unknown[]) => number)(path, ...rest);
  pathsByFd.set(fd, String(path));
  return fd;
}) as typeof fs.openSync;
cjsFs.fsyncSync = (fd: number) => {
  if (/LOCK\.\d+\.tmp$/.test(pathsByFd.get(fd) ?? '')) {
    process.stdout.write('in-fsync\n');
    // Blocks this thread until the parent's SIGKILL (60 s at most, then the parent has failed).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  }
  fsyncSync(fd);
};
syncBuiltinESMExports();

await LsmTree.open(dir!, { engine: 'js', workerPool: false });
process.stdout.write('opened\n');
