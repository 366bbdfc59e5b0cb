/** verifyTree (src/lsm/verify.ts): clean on a clean tree; each damaged file named with kind and offset; read-only. */
import { readdirSync, readFileSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { verifyTree } from '../../src/lsm/verify.js';
import { cutManifestBeforeLastTable, flipByte, smallTreeFixture } from '../helpers/small-tree.js';

const fixture = smallTreeFixture('lsmraft-verify-');
const copy = fixture.copy;
const flip = flipByte;

const named = (dir: string, suffix: string): string[] => readdirSync(dir).filter((n) => n.endsWith(suffix)).sort();

function snapshotDir(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n)).toString('base64')]));
}

describe('verifyTree', () => {
  it('reports a clean tree as clean and counts what it read', async () => {
    const report = await verifyTree(fixture.original());
    expect(report.damaged).toEqual([]);
    expect(report.clean).toBe(true);
    expect(report.manifest).toBe('MANIFEST-000001');
    expect(report.counts.tables).toBe(named(fixture.original(), '.sst').length);
    expect(report.counts.tables).toBeGreaterThanOrEqual(2);
    expect(report.counts.tableEntries).toBeGreaterThan(1000);
    expect(report.counts.walRecords).toBeGreaterThanOrEqual(24); // 20 synced + 4 unsynced batches
    expect(report.counts.manifestRecords).toBeGreaterThan(1);
    expect(report.tornTails).toEqual([]);
  });

  it('names a damaged table with the offset of its bad block', async () => {
    const dir = copy();
    const table = named(dir, '.sst')[0]!;
    flip(join(dir, table), 20); // inside the first data block, which starts at offset 0
    const report = await verifyTree(dir);
    expect(report.clean).toBe(false);
    expect(report.damaged).toEqual([expect.objectContaining({ file: table, kind: 'table', offset: 0, live: true })]);
  });

  it('names a damaged table footer', async () => {
    const dir = copy();
    const table = named(dir, '.sst').at(-1)!;
    const size = statSync(join(dir, table)).size;
    flip(join(dir, table), size - 3);
    const [d] = (await verifyTree(dir)).damaged;
    expect(d).toMatchObject({ file: table, kind: 'table' });
    expect(d!.offset).toBeGreaterThan(size - 60);
  });

  it('names a damaged WAL record (not mistaken for a torn tail)', async () => {
    const dir = copy();
    const at = Math.floor(fixture.tree().syncedWalBytes / 2);
    flip(join(dir, fixture.tree().tailWal), at);
    const [d, ...rest] = (await verifyTree(dir)).damaged;
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ file: fixture.tree().tailWal, kind: 'wal', live: true });
    expect(d!.offset).toBeLessThanOrEqual(at);
    expect(d!.offset).toBeGreaterThan(at - 200); // the record holding the byte (records are < 200 bytes)
  });

  it('names a WAL whose size differs from the one a clean close recorded, even cut inside its last record', async () => {
    const dir = copy();
    const wal = fixture.tree().tailWal;
    const size = statSync(join(dir, wal)).size;
    truncateSync(join(dir, wal), size - 3);
    const report = await verifyTree(dir);
    expect(report.clean).toBe(false);
    expect(report.damaged).toEqual([expect.objectContaining({ file: wal, kind: 'wal', offset: size - 3, live: true })]);
    expect(report.damaged[0]!.reason).toContain(`recorded ${size}`);
    expect(report.tornTails).toEqual([]);
  });

  it('names a WAL a clean close recorded that is missing', async () => {
    const dir = copy();
    unlinkSync(join(dir, fixture.tree().tailWal));
    const report = await verifyTree(dir);
    expect(report.damaged).toEqual([expect.objectContaining({ file: fixture.tree().tailWal, kind: 'wal', live: true })]);
  });

  it('reports a crashed WAL (no size recorded) cut inside its last record as a torn tail, not damage', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { engine: 'js', workerPool: false, fs });
    for (let i = 0; i < 20; i++) await tree.put(`k${i}`, 'v'.repeat(50), { sync: i < 10 });
    // A power loss keeping part of the unsynced tail: its last record is cut short.
    fs.crash({ keepUnsyncedBytes: (n) => n - 3 });
    const report = await verifyTree('/db', { fs });
    expect(report.damaged).toEqual([]);
    expect(report.clean).toBe(true);
    expect(report.tornTails).toEqual([expect.objectContaining({ file: expect.stringMatching(/\.log$/) })]);
  });

  it('names a flipped byte in the manifest tail (which open takes for a torn tail)', async () => {
    const dir = copy();
    const manifest = named(dir, '').find((n) => n.startsWith('MANIFEST-'))!;
    const size = statSync(join(dir, manifest)).size;
    flip(join(dir, manifest), size - 4);
    const report = await verifyTree(dir);
    const d = report.damaged.find((x) => x.file === manifest);
    expect(d).toMatchObject({ kind: 'manifest', live: true });
    expect(d!.offset).toBeGreaterThan(size - 200);
    expect(report.tornTails).toEqual([]);
  });

  it('names a damaged CURRENT and LOCK at offset 0', async () => {
    const dir = copy();
    flip(join(dir, 'CURRENT'), 2);
    flip(join(dir, 'LOCK'), 0);
    const report = await verifyTree(dir);
    expect(report.damaged.map((d) => [d.file, d.kind, d.offset])).toEqual(
      expect.arrayContaining([['CURRENT', 'current', 0], ['LOCK', 'lock', 0]]));
  });

  it('names a table the manifest needs that is missing', async () => {
    const dir = copy();
    const table = named(dir, '.sst')[1]!;
    unlinkSync(join(dir, table));
    const report = await verifyTree(dir);
    expect(report.damaged).toEqual([expect.objectContaining({ file: table, kind: 'table', offset: undefined, live: true })]);
  });

  it('names, as open does, a table past the manifest that lost its last edit', async () => {
    const dir = copy();
    const manifest = cutManifestBeforeLastTable(dir);
    await expect(LsmTree.open(dir, { engine: 'js', workerPool: false })).rejects.toMatchObject({ code: 'LSM_ERR_CORRUPTION' });
    const report = await verifyTree(dir);
    expect(report.clean).toBe(false);
    const d = report.damaged.find((x) => x.kind === 'manifest');
    expect(d).toMatchObject({ file: manifest, live: true });
    expect(d!.reason).toMatch(/\d{6}\.sst is not in the manifest and holds sequences/);
  });

  it('names a table the manifest records with another size', async () => {
    const dir = copy();
    const table = named(dir, '.sst')[0]!;
    truncateSync(join(dir, table), statSync(join(dir, table)).size - 100);
    const report = await verifyTree(dir);
    expect(report.damaged).toEqual([expect.objectContaining({ file: table, kind: 'table', live: true })]);
  });

  it('changes nothing in the directory', async () => {
    const dir = copy();
    flip(join(dir, named(dir, '.sst')[0]!), 20);
    const before = snapshotDir(dir);
    await verifyTree(dir);
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('decodes with the wasm twin too', async () => {
    const report = await verifyTree(fixture.original(), { engine: 'wasm' });
    expect(report.clean).toBe(true);
    expect(report.counts.tableEntries).toBe((await verifyTree(fixture.original())).counts.tableEntries);
  });
});
