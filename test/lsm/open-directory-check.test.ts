/**
 * Open's check of the directory against the manifest (src/lsm/directory-check.ts): a table the
 * manifest names that is missing or of another size fails open with LSM_ERR_CORRUPTION and nothing
 * is deleted; the table of a flush that crashed before its manifest edit is a legitimate leftover
 * (its entries are in the WAL that recovery replays): open succeeds and deletes it.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };

async function openCode(fs: CrashableMemFileSystem): Promise<string | undefined> {
  try {
    await (await LsmTree.open('/db', { ...base, fs })).close();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

async function oneTableTree(fs: CrashableMemFileSystem): Promise<string> {
  const tree = await LsmTree.open('/db', { ...base, fs });
  for (let i = 0; i < 100; i++) await tree.put(`k${i}`, 'v');
  await tree.flush();
  await tree.close();
  const tables = fs.list('/db').filter((n) => n.endsWith('.sst'));
  expect(tables).toHaveLength(1);
  return `/db/${tables[0]!}`;
}

describe('open checks the directory against the manifest', () => {
  it('fails with LSM_ERR_CORRUPTION when a table the manifest names is missing, deleting nothing', async () => {
    const fs = new CrashableMemFileSystem();
    fs.remove(await oneTableTree(fs));
    const listing = fs.list('/db');
    expect({ code: await openCode(fs), listing: fs.list('/db') }).toEqual({ code: 'LSM_ERR_CORRUPTION', listing });
  });

  it('fails with LSM_ERR_CORRUPTION when a table the manifest names has another size, deleting nothing', async () => {
    const fs = new CrashableMemFileSystem();
    const table = await oneTableTree(fs);
    const bytes = fs.readFile(table);
    const shorter = fs.create(table);
    shorter.append(bytes.subarray(0, bytes.length - 1));
    shorter.close();
    const listing = fs.list('/db');
    expect({ code: await openCode(fs), listing: fs.list('/db') }).toEqual({ code: 'LSM_ERR_CORRUPTION', listing });
  });

  it('opens after a flush that crashed before its manifest edit, recovering its data and deleting its table', async () => {
    const fs = new FailingMemFileSystem();
    let failManifestSync = false;
    fs.onSync = (path) => (failManifestSync && path.includes('MANIFEST') ? 'fail' : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    for (let i = 0; i < 100; i++) await tree.put(`k${i}`, `v${i}`, { sync: i === 99 });
    const before = new Set(fs.list('/db'));
    failManifestSync = true;
    await tree.flush().then(
      () => expect.fail('the flush should fail at its manifest edit'),
      (err: unknown) => expect((err as { code?: string }).code).toBeDefined(),
    );
    const orphans = fs.list('/db').filter((n) => n.endsWith('.sst') && !before.has(n));
    expect(orphans).toHaveLength(1);
    fs.crash(); // the failed edit's record is lost with everything unsynced
    failManifestSync = false;
    const reopened = await LsmTree.open('/db', { ...base, fs });
    const values: string[] = [];
    for (let i = 0; i < 100; i++) values.push(fromUtf8(reopened.getSync(`k${i}`) ?? new Uint8Array()));
    await reopened.close();
    expect(values).toEqual(Array.from({ length: 100 }, (_, i) => `v${i}`));
    expect(fs.list('/db').filter((n) => orphans.includes(n))).toEqual([]);
  });
});
