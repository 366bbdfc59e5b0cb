/**
 * etcd's alarms in the MVCC store (src/mvcc/alarms.ts): an alarm command activates or deactivates
 * a member's alarm; while any NOSPACE alarm is active, writes that take space fail with
 * MVCC_ERR_NO_SPACE and change nothing, while reads and writes that free space still run; the
 * alarm set survives a reopen. Also etcd's Hash of the store (the whole state tree).
 */
import { describe, expect, it } from 'vitest';
import { MvccError } from '../../src/mvcc/errors.js';
import type { MvccWrite } from '../../src/mvcc/requests.js';
import { utf8 } from '../../src/util/bytes.js';
import { openMvcc, type MvccHarness } from './mvcc-harness.js';

const put = (k: string, v: string): MvccWrite => ({ type: 'put', put: { key: utf8(k), value: utf8(v) } });
const alarm = (action: 'activate' | 'deactivate', memberId: bigint, type: 'NOSPACE' | 'CORRUPT' = 'NOSPACE'): MvccWrite => ({ type: 'alarm', action, member: { memberId, alarm: type } });

async function codeOf(h: MvccHarness, w: MvccWrite): Promise<string> {
  const r = await h.write(w);
  return r instanceof MvccError ? r.code : 'ok';
}

describe('alarms', () => {
  it('cap the store while a NOSPACE alarm is active: writes that take space fail, the others run', async () => {
    const h = await openMvcc();
    await h.write(put('a', '1'));
    await h.write({ type: 'leaseGrant', id: 7n, ttlSeconds: 60 });
    expect(await h.write(alarm('activate', 2n))).toMatchObject({ response: { type: 'alarm', alarms: [{ memberId: 2n, alarm: 'NOSPACE' }] } });
    expect(h.store.noSpaceAlarm).toBe(true);
    const rev = h.store.revision;
    const txnPut: MvccWrite = { type: 'txn', txn: { compare: [], success: [{ txn: { compare: [], success: [], failure: [{ put: { key: utf8('n'), value: utf8('1') } }] } }], failure: [] } };
    const refused = [put('b', '2'), txnPut, { type: 'leaseGrant', id: 8n, ttlSeconds: 60 } as MvccWrite];
    for (const w of refused) expect(await codeOf(h, w), w.type).toBe('MVCC_ERR_NO_SPACE');
    expect(h.store.revision).toBe(rev);
    expect(h.store.range({ key: utf8('b') }).response.count).toBe(0);
    expect(h.store.leases().map((l) => l.id)).toEqual([7n]);
    // Reads, read-only txns, deletes, compactions and revokes still run.
    expect(h.store.range({ key: utf8('a') }).response.count).toBe(1);
    const readTxn: MvccWrite = { type: 'txn', txn: { compare: [], success: [{ range: { key: utf8('a') } }], failure: [] } };
    const delTxn: MvccWrite = { type: 'txn', txn: { compare: [], success: [{ deleteRange: { key: utf8('zz') } }], failure: [] } };
    for (const w of [readTxn, delTxn, { type: 'deleteRange', deleteRange: { key: utf8('a') } } as MvccWrite, { type: 'compact', revision: rev } as MvccWrite, { type: 'leaseRevoke', id: 7n } as MvccWrite]) {
      expect(await codeOf(h, w), w.type).toBe('ok');
    }
    // Activating again answers the alarm; a CORRUPT alarm does not cap; every member's NOSPACE must go.
    expect(await h.write(alarm('activate', 2n))).toMatchObject({ response: { alarms: [{ memberId: 2n }] } });
    await h.write(alarm('activate', 3n));
    await h.write(alarm('activate', 1n, 'CORRUPT'));
    expect(h.store.alarms()).toEqual([
      { memberId: 2n, alarm: 'NOSPACE' },
      { memberId: 3n, alarm: 'NOSPACE' },
      { memberId: 1n, alarm: 'CORRUPT' },
    ]);
    expect(await h.write(alarm('deactivate', 2n))).toMatchObject({ response: { alarms: [{ memberId: 2n, alarm: 'NOSPACE' }] } });
    expect(await codeOf(h, put('b', '2'))).toBe('MVCC_ERR_NO_SPACE');
    expect(await h.write(alarm('deactivate', 2n))).toMatchObject({ response: { alarms: [] } });
    await h.write(alarm('deactivate', 3n));
    expect(h.store.noSpaceAlarm).toBe(false);
    expect(await codeOf(h, put('b', '2'))).toBe('ok');
    expect(h.store.revision).toBe(rev + 2);
  });

  it('decide within one batch and survive a reopen of the tree', async () => {
    const h = await openMvcc();
    // One batch: the activation caps the put after it (the state machine applies many entries per batch).
    const batch = h.store.beginBatch();
    batch.apply(alarm('activate', 5n));
    expect(() => batch.apply(put('x', '1'))).toThrow(expect.objectContaining({ code: 'MVCC_ERR_NO_SPACE' }));
    await h.tree.batch(batch.takeOps());
    h.store.publish(batch);
    await h.tree.flush();
    await h.tree.close();
    const again = await openMvcc(h.fs);
    expect(again.store.noSpaceAlarm).toBe(true);
    expect(again.store.alarms()).toEqual([{ memberId: 5n, alarm: 'NOSPACE' }]);
    expect(await codeOf(again, put('x', '1'))).toBe('MVCC_ERR_NO_SPACE');
  });
});

describe('hash', () => {
  it('is equal on stores that applied the same writes, and changes with any write, alarms included', async () => {
    const [a, b] = [await openMvcc(), await openMvcc()];
    const writes = [put('a', '1'), put('b', '2'), { type: 'deleteRange', deleteRange: { key: utf8('a') } } as MvccWrite, { type: 'leaseGrant', id: 3n, ttlSeconds: 9 } as MvccWrite];
    for (const w of writes) {
      await a.write(w);
      await b.write(w);
    }
    const h = a.store.hash();
    expect(b.store.hash()).toEqual(h);
    expect(h.revision).toBe(a.store.revision);
    const seen = new Set([h.hash]);
    for (const w of [put('b', '2'), alarm('activate', 1n)]) {
      await a.write(w);
      const next = a.store.hash();
      expect(seen.has(next.hash), w.type).toBe(false);
      seen.add(next.hash);
    }
    // HashKV covers the history only: an alarm leaves it as it was.
    const kv = a.store.hashKv(0);
    await a.write(alarm('deactivate', 1n));
    expect(a.store.hashKv(0)).toEqual(kv);
  });
});
