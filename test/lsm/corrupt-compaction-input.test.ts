/**
 * A compaction input that fails its checksum is not retried forever: the tree turns read-only
 * (src/lsm/error-handler.ts), writes fail at once with LSM_ERR_BACKGROUND whose cause is the
 * CorruptionError naming the damaged table, and reads of everything else keep working.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptionError, LsmraftError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import { fromUtf8 } from '../../src/util/bytes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-corrupt-input-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const options = { engine: 'js' as const, workerPool: false as const };
const k = (i: number) => `key-${String(i).padStart(6, '0')}`;

describe('corrupt compaction input', () => {
  it('makes the tree read-only with LSM_ERR_BACKGROUND naming the table; reads still work', async () => {
    // Two L0 tables: keys 0..999 (damaged below) and 1000..1999 (intact), overlapping through 'zz'.
    const setup = await LsmTree.open(dir, { ...options, l0CompactionTrigger: 8 });
    for (let i = 0; i < 1000; i++) await setup.put(k(i), `a-${i}`);
    await setup.put('zz', 'first');
    await setup.flush();
    for (let i = 1000; i < 2000; i++) await setup.put(k(i), `b-${i}`);
    await setup.put('zz', 'second');
    await setup.flush();
    await setup.close();
    const damaged = readdirSync(dir).filter((n) => n.endsWith('.sst')).sort()[0]!;
    const bytes = readFileSync(join(dir, damaged));
    bytes[40] = bytes[40]! ^ 0x5a; // inside the first data block
    writeFileSync(join(dir, damaged), bytes);

    const tree = await LsmTree.open(dir, { ...options, l0CompactionTrigger: 2 });
    try {
      // The compaction starts at open; wait (bounded) until it has failed.
      for (let turn = 0; turn < 200 && tree.stats().background.state === 'ok'; turn++) await new Promise((r) => setTimeout(r, 10));
      const bg = tree.stats().background;
      expect(bg.state).toBe('read-only');
      if (bg.state === 'read-only') {
        expect(bg.cause.code).toBe('LSM_ERR_CORRUPTION');
        expect(bg.cause.message).toContain(damaged);
      }
      expect(tree.describe().toString()).toContain(`background: read-only`);

      const err = await tree.put('new', 'x').then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(LsmraftError);
      expect((err as LsmraftError).code).toBe('LSM_ERR_BACKGROUND');
      expect((err as Error).cause).toBeInstanceOf(CorruptionError);
      expect(((err as Error).cause as CorruptionError).file).toContain(damaged);
      const flushErr = await tree.flush().then(() => undefined, (e: unknown) => e);
      expect((flushErr as LsmraftError).code).toBe('LSM_ERR_BACKGROUND');

      // Reads: the intact table and the newest version of the overlapping key.
      expect(fromUtf8(tree.getSync(k(1500))!)).toBe('b-1500');
      expect(fromUtf8(tree.getSync('zz')!)).toBe('second');
      expect(tree.getSync('new')).toBeUndefined();
      // Not retried: the failure count stays put.
      const failures = tree.stats().compactions.failures;
      await new Promise((r) => setTimeout(r, 300));
      expect(tree.stats().compactions.failures).toBe(failures);
    } finally {
      await tree.close();
    }
  });
});
