/**
 * Corrupt files give LSM_ERR_CORRUPTION naming the file, never wrong data: a flipped byte in an
 * SSTable data block, in the middle of the WAL, or in the middle of the manifest. A torn final WAL
 * record (a crash mid-append, on the crashable in-memory file system) is not corruption: it is
 * dropped and everything before it recovered.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { LsmraftError } from '../../src/errors.js';
import { fromUtf8 } from '../../src/util/bytes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-corrupt-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const options = { engine: 'js' as const, workerPool: false as const };
const k = (i: number) => `key-${String(i).padStart(6, '0')}`;
const v = (i: number) => `value-${i}-${'x'.repeat(i % 50)}`;

function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0x5a;
  writeFileSync(path, bytes);
}

function filesEnding(suffix: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith(suffix)).sort();
}

async function expectCorruption(p: Promise<unknown>, fileName: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected LSM_ERR_CORRUPTION, got success').toBeInstanceOf(LsmraftError);
  expect((err as LsmraftError).code).toBe('LSM_ERR_CORRUPTION');
  expect((err as Error).message).toContain(fileName);
}

describe('corruption', () => {
  it('a flipped byte in an SSTable data block fails reads of that block', async () => {
    const tree = await LsmTree.open(dir, options);
    for (let i = 0; i < 2000; i++) await tree.put(k(i), v(i));
    await tree.flush();
    await tree.close();
    const [table] = filesEnding('.sst');
    expect(table).toBeDefined();
    flipByte(join(dir, table!), 40); // inside the first data block (it starts at offset 0)
    const reopened = await LsmTree.open(dir, options);
    try {
      await expectCorruption(reopened.get(k(0)), table!);
      await expectCorruption((async () => {
        for await (const _ of reopened.scan()) void _;
      })(), table!);
      // Keys in other blocks still read correctly.
      expect(fromUtf8((await reopened.get(k(1999)))!)).toBe(v(1999));
    } finally {
      await reopened.close();
    }
  });

  it('a flipped byte in the middle of the WAL fails open', async () => {
    const tree = await LsmTree.open(dir, options);
    for (let i = 0; i < 3000; i++) await tree.put(k(i), v(i));
    await tree.close(); // the memtable stays in the WAL only
    const [log] = filesEnding('.log');
    const size = statSync(join(dir, log!)).size;
    expect(size).toBeGreaterThan(100_000);
    flipByte(join(dir, log!), Math.floor(size / 2));
    await expectCorruption(LsmTree.open(dir, options), log!);
  });

  it('a flipped byte in the middle of the manifest fails open', async () => {
    const tree = await LsmTree.open(dir, options);
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 200; i++) await tree.put(k(round * 1000 + i), v(i));
      await tree.flush();
    }
    await tree.close();
    const manifests = readdirSync(dir).filter((n) => n.startsWith('MANIFEST-'));
    expect(manifests).toHaveLength(1);
    const path = join(dir, manifests[0]!);
    const size = statSync(path).size;
    flipByte(path, Math.floor(size / 3));
    await expectCorruption(LsmTree.open(dir, options), manifests[0]!);
  });

  it('a torn final WAL record is dropped and everything before it recovered', async () => {
    // A crash, not a clean close: a clean close syncs the WAL and records its size, after which
    // the same torn bytes are corruption (test/lsm/closed-wal-size.test.ts).
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...options, fs });
    for (let i = 0; i < 500; i++) await tree.put(k(i), v(i), { sync: i === 499 });
    await tree.put(k(500), v(500));
    fs.crash({ keepUnsyncedBytes: (n) => n - 3 });
    const [log] = fs.list('/db').filter((n) => n.endsWith('.log')).sort();
    // And half a record header after it: what a crash in the middle of write(2) leaves.
    const file = fs.openAppend(`/db/${log!}`);
    file.append(Uint8Array.of(0x12, 0x34, 0x56));
    file.syncSync();
    file.close();
    const reopened = await LsmTree.open('/db', { ...options, fs });
    try {
      for (let i = 0; i < 500; i++) expect(fromUtf8((await reopened.get(k(i)))!)).toBe(v(i));
      expect(await reopened.get(k(500))).toBeUndefined();
    } finally {
      await reopened.close();
    }
  });
});
