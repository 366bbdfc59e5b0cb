/**
 * Child process of test/lsm/background-stall.test.ts: a plain `for (...) await tree.put(...)` loop
 * of PUTS_TOTAL puts while one background job fails, as a script would write it. It catches
 * nothing: the loop must either finish (`done N` on stdout, exit code 0) or end in a typed error
 * (an unhandled rejection: exit code 1, the error's code on stderr), never stop silently.
 *
 * usage: node --import tsx test/lsm/put-loop-child.ts failed-table-create
 *          one table create fails (ENOSPC) while a compaction runs; in-memory file system, inline jobs
 *        node --import tsx test/lsm/put-loop-child.ts corrupt-table <dir>
 *          a table of <dir> is damaged before the tree opens, and compaction must read it; real
 *          files, the package entry's default worker pool
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LsmTree } from '../../src/index.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';

const PUTS_TOTAL = 20_000;
const [mode, dir] = process.argv.slice(2);
const small = {
  memtableBytesMax: 64 * 1024, targetFileSizeBytes: 64 * 1024, l1MaxBytes: 256 * 1024, levelSizeMultiplier: 4,
  l0CompactionTrigger: 2, l0StopWritesTrigger: 4,
};
// Large values fill a memtable in a few dozen puts, well within the first retry's backoff.
const value = 'v'.repeat(300);

let tree: LsmTree | undefined;
if (mode === 'failed-table-create') {
  const fs = new FailingMemFileSystem();
  let failed = false;
  fs.onCreate = (path) => {
    if (failed || !path.endsWith('.sst') || tree?.stats().compactions.running !== true) return 'pass';
    failed = true;
    return 'fail';
  };
  tree = await LsmTree.open('/db', { ...small, engine: 'js', fs });
} else if (mode === 'corrupt-table') {
  // Two overlapping L0 tables, then a flipped byte in the first data block of one of them.
  const setup = await LsmTree.open(dir!, { ...small, l0CompactionTrigger: 8, l0StopWritesTrigger: 20 });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 500; i++) await setup.put(`key-${String(i).padStart(6, '0')}`, `${value}-${round}`);
    await setup.flush();
  }
  await setup.close();
  const table = readdirSync(dir!).filter((n) => n.endsWith('.sst')).sort()[0]!;
  const bytes = readFileSync(join(dir!, table));
  bytes[40] = bytes[40]! ^ 0x5a;
  writeFileSync(join(dir!, table), bytes);
  tree = await LsmTree.open(dir!, small);
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}
// Keys in a scattered order (7919 is prime to PUTS_TOTAL), so tables overlap and compactions merge.
for (let i = 0; i < PUTS_TOTAL; i++) await tree.put(`key-${String((i * 7919) % PUTS_TOTAL).padStart(6, '0')}`, value);
process.stdout.write(`done ${PUTS_TOTAL}\n`);
await tree.close();
