/**
 * A flush writes its table only after the fsync of the WAL its memtable came from has settled
 * (TreeCore.immWalSync). Otherwise a power loss could keep the flush's synced table but drop the
 * unsynced WAL records it was made from; open's directory check (src/lsm/directory-check.ts) would
 * then find a table outside the manifest holding sequences no WAL replays, and refuse to open a
 * tree that only crashed. The retired WAL's fsync is held open to make the window deterministic.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };
const KEYS = 100;

describe('a flush and the fsync of its WAL', () => {
  it('writes no table while that fsync is pending, so a power loss then leaves an openable tree', async () => {
    const fs = new FailingMemFileSystem();
    let held: string | undefined;
    const never = new Promise<void>(() => undefined);
    fs.onSync = (path) => (path === held ? never : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    for (let i = 0; i < KEYS; i++) await tree.put(`k${i}`, 'v'); // acknowledged, not synced
    const [wal] = fs.list('/db').filter((n) => n.endsWith('.log'));
    held = `/db/${wal!}`;
    void tree.flush().catch(() => undefined); // the "process" dies before it settles
    // Bounded: give the flush many turns to write its table if it were going to.
    for (let i = 0; i < 200; i++) await new Promise((resolve) => setImmediate(resolve));
    const tablesWhileHeld = fs.list('/db').filter((n) => n.endsWith('.sst'));
    fs.crash(); // power loss: the unsynced WAL records are gone

    let code: string | undefined;
    try {
      await (await LsmTree.open('/db', { ...base, fs })).close();
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect({ tablesWhileHeld, code }).toEqual({ tablesWhileHeld: [], code: undefined });
  });
});
