/**
 * Child process of the kill -9 crash test (test/lsm/crash.test.ts): writes synced batches to a tree
 * until it is killed, announcing on stdout each batch before it is issued (`start N`) and after it
 * is acknowledged (`ack N`). Small memtables and tables keep flushes and compactions running, so
 * the kill lands in the middle of them too.
 *
 * usage: node --import tsx test/lsm/crash-child.ts <dir> <engine> <firstBatch> <writers>
 */
import { LsmTree } from '../../src/lsm/db.js';
import { batchKeys } from './crash-batches.js';
import type { EngineName } from '../../src/engine/types.js';

const [dir, engine, firstArg, writersArg] = process.argv.slice(2);
const first = Number(firstArg);
const writers = Number(writersArg);

const tree = await LsmTree.open(dir!, {
  engine: engine as EngineName,
  memtableBytesMax: 64 * 1024,
  targetFileSizeBytes: 64 * 1024,
  l1MaxBytes: 256 * 1024,
  levelSizeMultiplier: 4,
  l0CompactionTrigger: 2,
});
process.stdout.write('open\n');

let next = first;
async function writer(): Promise<void> {
  // Runs until the parent kills the process (bounded there by a timeout); 1e6 batches at most.
  for (let i = 0; i < 1_000_000; i++) {
    const id = next++;
    const ops = batchKeys(id).map(([key, value]) => ({ type: 'put' as const, key, value }));
    process.stdout.write(`start ${id}\n`);
    await tree.batch(ops, { sync: true });
    process.stdout.write(`ack ${id}\n`);
  }
}
await Promise.all(Array.from({ length: writers }, () => writer()));
