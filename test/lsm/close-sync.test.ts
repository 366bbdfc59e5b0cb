/**
 * Every clean close fsyncs the WAL (then records its size, test/lsm/closed-wal-size.test.ts), so a
 * power loss right after close loses nothing, with or without { sync: true }; that option only
 * makes a failed fsync reject the close (docs/durability.md). The crashable file system keeps
 * only synced bytes across crash().
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };
const KEYS = 50;

async function keysAfterCloseAndCrash(close: (tree: LsmTree) => Promise<void>): Promise<number> {
  const fs = new CrashableMemFileSystem();
  const tree = await LsmTree.open('/db', { ...base, fs });
  for (let i = 0; i < KEYS; i++) await tree.put(`k${i}`, 'v');
  await close(tree);
  fs.crash();
  const reopened = await LsmTree.open('/db', { ...base, fs });
  let found = 0;
  for (let i = 0; i < KEYS; i++) if (reopened.getSync(`k${i}`) !== undefined) found++;
  await reopened.close();
  return found;
}

describe('close({ sync: true })', () => {
  it('keeps every write across a power loss right after close, as a plain close now does', async () => {
    expect(await keysAfterCloseAndCrash((t) => t.close({ sync: true }))).toBe(KEYS);
    expect(await keysAfterCloseAndCrash((t) => t.close())).toBe(KEYS);
  });

  it('rejects a bad option with LSM_ERR_INVALID_ARGUMENT and stays open', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    const code = await tree.close({ sync: 'yes' as unknown as boolean }).then(
      () => undefined,
      (err: unknown) => (err as { code?: string }).code,
    );
    expect({ code, closed: tree.closed }).toEqual({ code: 'LSM_ERR_INVALID_ARGUMENT', closed: false });
    await tree.close();
  });
});
