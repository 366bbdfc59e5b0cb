/**
 * Deterministic cases the file fuzzer (test/lsm/file-fuzz.ts) found in the manifest's tail. Every
 * manifest record is synced before its edit is acknowledged (src/lsm/version-set.ts), so a damaged
 * or missing record is never a torn write the tree may ignore when the tables it named exist:
 * opening must give exactly the data written, or fail with a typed error. Either way it must not
 * delete or overwrite a table file the damaged records named (those tables hold the newest data,
 * and only they can rebuild the tree: src/lsm/repair.ts).
 */
import { readdirSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import { LogKind, LogReader } from '../../src/lsm/log-format.js';
import { flipByte, readAll, SMALL_TREE_OPTIONS, smallTreeFixture } from '../helpers/small-tree.js';

const fixture = smallTreeFixture('lsmraft-manifest-tail-cases-');

/** File offsets of the manifest's records, in order. */
function recordOffsets(path: string): number[] {
  const reader = new LogReader(readFileSync(path), path, LogKind.Manifest, 'strict');
  const offsets: number[] = [];
  for (let r = reader.next(); r !== null; r = reader.next()) offsets.push(reader.recordOffset);
  return offsets;
}

/** Tables in `dir` with their bytes, to see that none was deleted or rewritten. */
function tables(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).filter((n) => n.endsWith('.sst')).map((n) => [n, readFileSync(join(dir, n)).toString('base64')]));
}

async function expectExactOrTypedError(dir: string): Promise<void> {
  const before = tables(dir);
  let db: LsmTree;
  try {
    db = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
  } catch (err) {
    expect(err).toBeInstanceOf(LsmraftError);
    expect(tables(dir)).toEqual(before);
    return;
  }
  let found: Map<string, string> | undefined;
  try {
    found = await readAll(db);
  } catch (err) {
    expect(err).toBeInstanceOf(LsmraftError);
  } finally {
    await db.close();
  }
  const after = tables(dir);
  for (const [name, bytes] of before) expect(after.get(name), `table ${name} kept as it was`).toBe(bytes);
  if (found !== undefined) expect(found).toEqual(fixture.tree().states.at(-1));
}

describe('a damaged manifest tail', () => {
  it('a flipped byte in the last record: no rolled-back data, no table deleted', async () => {
    const dir = fixture.copy();
    const manifest = join(dir, readdirSync(dir).find((n) => n.startsWith('MANIFEST-'))!);
    const last = recordOffsets(manifest).at(-1)!;
    flipByte(manifest, last + 9); // in the payload, past the 7-byte fragment header
    await expectExactOrTypedError(dir);
  });

  it('a manifest cut inside its second record: no table deleted or overwritten', async () => {
    const dir = fixture.copy();
    const manifest = join(dir, readdirSync(dir).find((n) => n.startsWith('MANIFEST-'))!);
    const offsets = recordOffsets(manifest);
    expect(offsets.length).toBeGreaterThan(3);
    truncateSync(manifest, offsets[2]! + 5);
    await expectExactOrTypedError(dir);
  });
});
