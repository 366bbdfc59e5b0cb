/**
 * The WAL on a real disk is preallocated (src/lsm/fs.ts CreateOptions, WAL_PREALLOCATE_BYTES in
 * src/lsm/log-format.ts): while the tree is open its file is a step of zeros longer than its
 * records, so a synced put's fdatasync(2) changes no file size; a switch and a clean close give
 * the zeros back before the fsync that makes the size durable, so the size a close records is the
 * size on disk. (Recovery from the zero tail a kill -9 leaves: test/lsm/crash.test.ts.)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { LogKind, LogReader, WAL_PREALLOCATE_BYTES } from '../../src/lsm/log-format.js';
import { fromUtf8 } from '../../src/util/bytes.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-wal-prealloc-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const logs = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.log')).sort();

/** Records in the WAL `name`, read strictly up to `end` bytes. */
function recordCount(name: string, end: number): number {
  const r = new LogReader(readFileSync(join(dir, name)).subarray(0, end), name, LogKind.Wal, 'strict');
  let n = 0;
  while (r.next() !== null) n++;
  return n;
}

describe('WAL preallocation', () => {
  it('keeps the WAL a step of zeros long while open and ends it at its records on close', async () => {
    const tree = await LsmTree.open(dir, { engine: 'js', workerPool: false });
    for (let i = 0; i < 50; i++) await tree.put(`k${i}`, 'v'.repeat(100), { sync: true });
    const [wal] = logs();
    expect(logs()).toHaveLength(1);
    expect(statSync(join(dir, wal!)).size).toBe(WAL_PREALLOCATE_BYTES);
    const bytes = readFileSync(join(dir, wal!));
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    expect(end).toBeGreaterThan(50 * 100);
    expect(recordCount(wal!, end)).toBe(50);
    await tree.close();
    // The size recorded at close is the size on disk: a strict read of the whole file.
    expect(statSync(join(dir, wal!)).size).toBe(end);
    expect(recordCount(wal!, end)).toBe(50);
    const again = await LsmTree.open(dir, { engine: 'js', workerPool: false });
    expect(fromUtf8((await again.get('k49'))!)).toBe('v'.repeat(100));
    await again.close();
  });
});
