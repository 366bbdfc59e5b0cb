/**
 * A small LSM tree on a real directory for the file tools' tests (verify, repair, the file fuzzer):
 * tables over at least two levels, a WAL holding synced writes not yet flushed and, after them,
 * a few unsynced batches, and a LOCK left behind as a killed process would leave it.
 *
 * It returns what a reader must find: `states[k]` is the tree's contents with the synced writes
 * and the first k unsynced batches (so `states[states.length - 1]` is everything written), and
 * where the last synced byte of the tail WAL ends.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { LogKind, LogReader } from '../../src/lsm/log-format.js';
import { VersionEdit } from '../../src/lsm/version-edit.js';
import { Rng } from './rng.js';

export const SMALL_TREE_OPTIONS = {
  engine: 'js' as const,
  workerPool: false as const,
  memtableBytesMax: 64 * 1024,
  targetFileSizeBytes: 64 * 1024,
  l0CompactionTrigger: 2,
  l1MaxBytes: 256 * 1024,
  levelSizeMultiplier: 4,
};

export interface SmallTree {
  /** states[k]: contents after every synced write and the first k unsynced batches. */
  states: Array<Map<string, string>>;
  /** The WAL the unsynced batches went to, and its size when the last synced write returned. */
  tailWal: string;
  syncedWalBytes: number;
  /** Every value written for each key, oldest first (a repair may show an older one, see RepairReport.lostRanges). */
  written: Map<string, string[]>;
  /** Files per level when closed (the tree must span two levels at least). */
  levels: number[];
}

const KEYS = 3000;
const SYNCED_BATCHES = 20;
const UNSYNCED_BATCHES = 4;

const keyOf = (i: number): string => `key-${String(i).padStart(5, '0')}`;

/**
 * Bytes written to each WAL: its size less the zeros preallocated past them (src/lsm/fs.ts
 * CreateOptions). Every record written here ends in a non-zero byte (a value's last character).
 */
function walSizes(dir: string): Map<string, number> {
  return new Map(
    readdirSync(dir)
      .filter((n) => n.endsWith('.log'))
      .map((n) => {
        const bytes = readFileSync(join(dir, n));
        let end = bytes.length;
        while (end > 0 && bytes[end - 1] === 0) end--;
        return [n, end];
      }),
  );
}

export async function buildSmallTree(dir: string, seed = 1): Promise<SmallTree> {
  const rng = new Rng(seed);
  const model = new Map<string, string>();
  const written = new Map<string, string[]>();
  const note = (key: string, value: string): void => {
    model.set(key, value);
    written.set(key, [...(written.get(key) ?? []), value]);
  };
  const tree = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
  try {
    // Tables: every key written twice (the second pass overwrites or deletes some), flushed.
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < KEYS; i++) {
        const key = keyOf((i * 7919) % KEYS);
        if (pass === 1 && rng.chance(0.1)) {
          await tree.delete(key);
          model.delete(key);
        } else if (pass === 0 || rng.chance(0.5)) {
          const value = `v${pass}-${i}-${'x'.repeat(rng.int(60))}`;
          await tree.put(key, value);
          note(key, value);
        }
      }
    }
    await tree.flush();
    // One more L0 table over the L1 ones (below the compaction trigger of two).
    for (let i = 0; i < 300; i++) {
      const key = keyOf(rng.int(KEYS));
      const value = `v2-${i}`;
      await tree.put(key, value);
      note(key, value);
    }
    await tree.flush();
    // Synced batches, left in the WAL.
    for (let b = 0; b < SYNCED_BATCHES; b++) {
      const ops = Array.from({ length: 5 }, (_, j) => ({ type: 'put' as const, key: `synced-${b}-${j}`, value: `s${b}.${j}` }));
      await tree.batch(ops, { sync: true });
      for (const op of ops) note(op.key, op.value);
    }
    const before = walSizes(dir);
    const states = [new Map(model)];
    for (let b = 0; b < UNSYNCED_BATCHES; b++) {
      const ops = Array.from({ length: 3 }, (_, j) => ({ type: 'put' as const, key: `unsynced-${b}-${j}`, value: `u${b}.${j}` }));
      await tree.batch(ops);
      for (const op of ops) note(op.key, op.value);
      states.push(new Map(model));
    }
    const after = walSizes(dir);
    const grown = [...after].filter(([n, size]) => size !== before.get(n));
    if (grown.length !== 1) throw new Error(`expected one WAL to grow with the unsynced batches, got ${grown.map(([n]) => n).join(', ')}`);
    const tailWal = grown[0]![0];
    const levels = tree.describe().levels.map((l) => l.files.length);
    if (levels.filter((n) => n > 0).length < 2) throw new Error(`expected tables on two levels, got ${levels.join(',')}`);
    await tree.close();
    // What a killed process leaves: its LOCK (a pid no longer holding it, taken over on open).
    writeFileSync(join(dir, 'LOCK'), `pid ${process.pid}\n`);
    return { states, written, tailWal, syncedWalBytes: before.get(tailWal)!, levels };
  } catch (err) {
    await tree.close();
    throw err;
  }
}

/** Everything the tree holds, by a full scan, as strings. */
export async function readAll(tree: LsmTree): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dec = new TextDecoder();
  for await (const [k, v] of tree.scan()) out.set(dec.decode(k), dec.decode(v));
  return out;
}

/** XORs the byte at `offset` of the file at `path` with `mask` (a bit flip or more). */
export function flipByte(path: string, offset: number, mask = 0x21): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ mask;
  writeFileSync(path, bytes);
}

/**
 * Cuts the manifest of the tree in `dir` at its last record that adds a table, as a manifest that
 * lost its newest edits: it still parses whole, but no longer names that table. Returns its name.
 */
export function cutManifestBeforeLastTable(dir: string): string {
  const manifest = readdirSync(dir).find((n) => n.startsWith('MANIFEST-'))!;
  const reader = new LogReader(readFileSync(join(dir, manifest)), manifest, LogKind.Manifest, 'strict');
  let cut = 0;
  // One record per pass; the small tree's manifest holds far fewer than 1000.
  for (let i = 0, p = reader.next(); i < 1000 && p !== null; i++, p = reader.next()) {
    if (VersionEdit.decode(p).newFiles.length > 0) cut = reader.recordOffset;
  }
  truncateSync(join(dir, manifest), cut);
  return manifest;
}

/**
 * For a test file: builds one small tree before its tests (in a temp directory removed after them)
 * and hands out fresh copies of it to damage.
 */
export function smallTreeFixture(prefix: string): { tree: () => SmallTree; original: () => string; copy: () => string } {
  let root = '';
  let built: SmallTree | undefined;
  let copies = 0;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), prefix));
    built = await buildSmallTree(join(root, 'original'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });
  return {
    tree: () => built!,
    original: () => join(root, 'original'),
    copy: () => {
      const dir = join(root, `copy-${copies++}`);
      cpSync(join(root, 'original'), dir, { recursive: true });
      return dir;
    },
  };
}
