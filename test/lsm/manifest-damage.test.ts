/**
 * A damaged manifest never rolls the tree back silently. A flipped byte in its last record is
 * corruption (a complete record with a bad checksum is not a torn write), and so is a manifest cut
 * short so that it no longer names a table the directory holds with data nothing else accounts
 * for: open fails with LSM_ERR_CORRUPTION and deletes nothing (docs/format/manifest.md, "Reading").
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { Rng, testSeeds } from '../helpers/rng.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsm-manifest-damage-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const options = { engine: 'js' as const, workerPool: false as const };
const KEYS = 1000;

/** a0..a999 flushed, then b0..b999 (the last one synced) flushed: two tables, then a clean close. */
async function twoFlushedTables(): Promise<void> {
  const tree = await LsmTree.open(dir, options);
  for (let i = 0; i < KEYS; i++) await tree.put(`a${i}`, 'v');
  await tree.flush();
  for (let i = 0; i < KEYS; i++) await tree.put(`b${i}`, 'v', { sync: i === KEYS - 1 });
  await tree.flush();
  await tree.close();
}

function manifestPath(): string {
  return join(dir, readFileSync(join(dir, 'CURRENT'), 'utf8').trim());
}

/** Opens the damaged tree: either an error code, or the number of keys a scan finds. */
async function openOutcome(): Promise<{ code?: string; keys?: number }> {
  let tree: LsmTree;
  try {
    tree = await LsmTree.open(dir, options);
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
  let keys = 0;
  for await (const _ of tree.scan()) keys++;
  await tree.close();
  return { keys };
}

describe('a damaged manifest', () => {
  it('with a flipped byte in its last record fails open with LSM_ERR_CORRUPTION and deletes nothing', async () => {
    await twoFlushedTables();
    const path = manifestPath();
    const bytes = readFileSync(path);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x01;
    writeFileSync(path, bytes);
    const before = readdirSync(dir).filter((n) => n.endsWith('.sst'));
    expect(before).toHaveLength(2);
    expect(await openOutcome()).toEqual({ code: 'LSM_ERR_CORRUPTION' });
    expect(readdirSync(dir).filter((n) => n.endsWith('.sst'))).toEqual(before);
  });

  for (const seed of testSeeds(7100, 3)) {
    it(`cut at random offsets either opens whole or fails with LSM_ERR_CORRUPTION, deleting nothing (seed ${seed})`, async () => {
      await twoFlushedTables();
      const path = manifestPath();
      const original = readFileSync(path);
      const listing = readdirSync(dir);
      const rng = new Rng(seed);
      const outcomes: string[] = [];
      // Bounded: 8 cuts per seed, the manifest restored after each.
      for (let round = 0; round < 8; round++) {
        const cut = rng.int(original.length);
        truncateSync(path, cut);
        const outcome = await openOutcome();
        outcomes.push(`${cut}: ${JSON.stringify(outcome)}`);
        expect(outcome.code === 'LSM_ERR_CORRUPTION' || outcome.keys === 2 * KEYS, `cut at ${cut} of ${original.length}`).toBe(true);
        if (outcome.code !== undefined) expect(readdirSync(dir), `cut at ${cut}: nothing deleted`).toEqual(listing);
        writeFileSync(path, original);
        // A successful open rewrote the tree's files: start the next round from the same state.
        if (outcome.code === undefined) break;
      }
      expect(outcomes.length).toBeGreaterThan(0);
    });
  }

  it('older than an obsolete WAL it left behind fails open with LSM_ERR_CORRUPTION and deletes nothing', async () => {
    // A WAL of 100 writes from another tree, placed where this tree's manifest says every WAL is
    // flushed (below its log number) although its sequences are past the manifest's last one.
    const other = join(dir, 'other');
    mkdirSync(other);
    const source = await LsmTree.open(other, options);
    for (let i = 0; i < 100; i++) await source.put(`x${i}`, 'v');
    await source.close();
    const [sourceWal] = readdirSync(other).filter((n) => n.endsWith('.log'));
    const tree = await LsmTree.open(join(dir, 'db'), options);
    await tree.put('a', 'v');
    await tree.flush();
    await tree.close();
    const db = join(dir, 'db');
    const obsoleteName = '000002.log';
    expect(existsSync(join(db, obsoleteName))).toBe(false);
    copyFileSync(join(other, sourceWal!), join(db, obsoleteName));
    const listing = readdirSync(db);
    let code: string | undefined;
    try {
      await (await LsmTree.open(db, options)).close();
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect({ code, listing: readdirSync(db) }).toEqual({ code: 'LSM_ERR_CORRUPTION', listing });
  });
});
