/**
 * The file fuzzer: damages one file of a copy of a small tree (test/helpers/small-tree.ts) and checks
 * that opening and reading the copy gives either exactly the data written, or a typed error
 * (LsmraftError with a code) at open or at a read. After leveldb's db/corruption_test.cc, turned
 * into a seeded random search over every file kind (table, WAL, MANIFEST, CURRENT, LOCK) and two
 * damages: one byte flipped (XOR with a random non-zero mask) or the file truncated at a random
 * offset. Half the offsets are drawn from the last tenth of the file, where torn writes and the
 * manifest's newest edits live.
 *
 * The one loss that is not a failure (what is legitimately droppable): the tail WAL's bytes past
 * the end of its last synced record were never acknowledged as durable, so a damage (truncation or
 * flip) at or after that offset may drop the unsynced batches from the damaged one on: the
 * outcome may be the synced data plus any prefix of the unsynced batches (`states[k]`). A damage
 * before that offset, or in any other file, must give exactly everything or a typed error.
 *
 * A repaired copy (checkAndRepair) may show, for a key in a range the repair reported lost
 * (RepairReport.lostRanges), a value written for it earlier: the newest one went with the damaged
 * file. Any other value that differs from the last one written is `repair-wrong-data`.
 *
 * Failures: `wrong-data` (a value differs, or a key appears that was not written), `silently-missing`
 * (open and reads succeed, keys are missing), `untyped-error` (an error without a code: a bug),
 * `hang` (no answer within HANG_MS).
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsmraftError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import { repairTree, type LostRange, type RepairReport } from '../../src/lsm/repair.js';
import { compareBytes } from '../../src/util/bytes.js';
import { kindOfFile, verifyTree, type TreeFileKind } from '../../src/lsm/verify.js';
import { Rng } from '../helpers/rng.js';
import { buildSmallTree, flipByte, readAll, SMALL_TREE_OPTIONS, type SmallTree } from '../helpers/small-tree.js';

export type DamageKind = 'flip' | 'truncate';
export type Outcome =
  | 'exact' | 'dropped-unsynced' | 'error-at-open' | 'error-at-read'
  | 'wrong-data' | 'silently-missing' | 'untyped-error' | 'hang';

export const OUTCOMES: readonly Outcome[] = [
  'exact', 'dropped-unsynced', 'error-at-open', 'error-at-read', 'wrong-data', 'silently-missing', 'untyped-error', 'hang',
];
export const FAILURES: ReadonlySet<Outcome> = new Set(['wrong-data', 'silently-missing', 'untyped-error', 'hang']);

/** One open-and-read of a damaged copy, at most. */
const HANG_MS = 20_000;

export interface FuzzCase {
  copy: number;
  file: string;
  kind: TreeFileKind;
  damage: DamageKind;
  offset: number;
  outcome: Outcome;
  detail: string;
  /**
   * For a copy the tree refused with a typed error: what the offline tools made of it. `check`
   * must report damage (src/lsm/verify.ts); `repair` (src/lsm/repair.ts) must leave a tree that
   * opens and holds no wrong value (keys may be lost with the damaged file, never altered).
   * Undefined when the tree read the copy without an error.
   */
  tools?: ToolsOutcome;
}

export type ToolsOutcome = 'ok' | 'check-found-nothing' | 'repair-failed' | 'repair-wrong-data';
export const TOOLS_FAILURES: ReadonlySet<ToolsOutcome> = new Set(['check-found-nothing', 'repair-failed', 'repair-wrong-data']);

export interface FuzzResult {
  seed: number;
  cases: FuzzCase[];
  /** `${kind} ${damage}` -> outcome -> count. */
  tally: Map<string, Map<Outcome, number>>;
}

function damageFile(path: string, rng: Rng): { damage: DamageKind; offset: number } {
  const size = statSync(path).size;
  const damage: DamageKind = rng.chance(0.5) ? 'flip' : 'truncate';
  const tailStart = Math.floor(size * 0.9);
  const offset = rng.chance(0.5) ? tailStart + rng.int(size - tailStart) : rng.int(size);
  if (damage === 'flip') {
    flipByte(path, offset, 1 + rng.int(255));
  } else {
    truncateSync(path, offset);
  }
  return { damage, offset };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'hang'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), ms);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Compares what a copy holds with what was written; see the file comment for the rule. */
function judge(found: Map<string, string>, tree: SmallTree, inUnsyncedTail: boolean): { outcome: Outcome; detail: string } {
  const all = tree.states[tree.states.length - 1]!;
  if (sameMap(found, all)) return { outcome: 'exact', detail: '' };
  if (inUnsyncedTail && tree.states.some((s) => sameMap(found, s))) return { outcome: 'dropped-unsynced', detail: '' };
  for (const [k, v] of found) {
    if (all.get(k) !== v) return { outcome: 'wrong-data', detail: `key ${k} = ${v.slice(0, 20)}, wrote ${all.get(k)?.slice(0, 20) ?? '(nothing)'}` };
  }
  const missing = [...all.keys()].filter((k) => !found.has(k));
  return { outcome: 'silently-missing', detail: `${missing.length} keys missing, e.g. ${missing.slice(0, 3).join(', ')}` };
}

/** `lsmraft check`, then `lsmraft repair` and a read of the repaired tree, on a refused copy. */
async function checkAndRepair(dir: string, tree: SmallTree): Promise<{ tools: ToolsOutcome; detail: string }> {
  const report = await verifyTree(dir);
  if (report.clean) return { tools: 'check-found-nothing', detail: 'verify reported the copy clean' };
  let repaired: RepairReport;
  try {
    repaired = await repairTree(dir);
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return { tools: 'repair-failed', detail: `${err.code}: ${err.message}` };
  }
  const after = await openAndRead(dir, tree);
  if (after.err !== undefined) {
    if (!(after.err instanceof LsmraftError)) throw after.err;
    return { tools: 'repair-failed', detail: `after repair, ${after.stage}: ${after.err.code}: ${after.err.message}` };
  }
  const all = tree.states[tree.states.length - 1]!;
  for (const [k, v] of after.found!) {
    // An older version shows only where the repair said data was lost, and must be one written.
    const older = inLostRange(k, repaired.lostRanges) && (tree.written.get(k) ?? []).includes(v);
    if (all.get(k) !== v && !older) {
      return { tools: 'repair-wrong-data', detail: `after repair, key ${k} = ${v.slice(0, 20)}, wrote ${all.get(k)?.slice(0, 20) ?? '(nothing)'}` };
    }
  }
  return { tools: 'ok', detail: `repair kept ${after.found!.size} of ${all.size} keys` };
}

function inLostRange(key: string, ranges: readonly LostRange[]): boolean {
  const k = new TextEncoder().encode(key);
  return ranges.some((r) => r.smallest === 'unknown' || r.largest === 'unknown'
    || (compareBytes(r.smallest, k) <= 0 && compareBytes(k, r.largest) <= 0));
}

async function openAndRead(dir: string, tree: SmallTree): Promise<{ stage: 'open' | 'read'; found?: Map<string, string>; err?: unknown }> {
  let db: LsmTree;
  try {
    db = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
  } catch (err) {
    return { stage: 'open', err };
  }
  try {
    const found = await readAll(db);
    // Point reads too: they go through the filters and indexes a scan does not use.
    for (const k of tree.states[tree.states.length - 1]!.keys()) {
      const v = db.getSync(k);
      if (v !== undefined && !found.has(k)) found.set(k, new TextDecoder().decode(v));
    }
    return { stage: 'read', found };
  } catch (err) {
    return { stage: 'read', err };
  } finally {
    await db.close();
  }
}

export async function runFileFuzz(options: { seed: number; copies: number; onCase?: (c: FuzzCase) => void }): Promise<FuzzResult> {
  const rng = new Rng(options.seed);
  const root = mkdtempSync(join(tmpdir(), 'lsmraft-filefuzz-'));
  const result: FuzzResult = { seed: options.seed, cases: [], tally: new Map() };
  try {
    const original = join(root, 'original');
    const tree = await buildSmallTree(original, options.seed);
    const byKind = new Map<TreeFileKind, string[]>();
    for (const name of readdirSync(original)) {
      const kind = kindOfFile(name);
      byKind.set(kind, [...(byKind.get(kind) ?? []), name]);
    }
    const kinds = [...byKind.keys()].sort();
    for (let copy = 0; copy < options.copies; copy++) {
      const dir = join(root, `copy-${copy}`);
      cpSync(original, dir, { recursive: true });
      const kind = rng.pick(kinds);
      const file = rng.pick(byKind.get(kind)!);
      const { damage, offset } = damageFile(join(dir, file), rng);
      const inUnsyncedTail = file === tree.tailWal && offset >= tree.syncedWalBytes;
      // The tools get the copy as damaged: an open that refuses a read may still have compacted
      // the damaged table away (a compaction reads no filter), leaving a clean directory behind.
      const asDamaged = `${dir}-as-damaged`;
      cpSync(dir, asDamaged, { recursive: true });
      const run = await withTimeout(openAndRead(dir, tree), HANG_MS);
      let verdict: { outcome: Outcome; detail: string };
      if (run === 'hang') verdict = { outcome: 'hang', detail: `no answer in ${HANG_MS} ms` };
      else if (run.err !== undefined) {
        verdict = run.err instanceof LsmraftError
          ? { outcome: run.stage === 'open' ? 'error-at-open' : 'error-at-read', detail: `${run.err.code}: ${run.err.message}` }
          : { outcome: 'untyped-error', detail: String(run.err) };
      } else verdict = judge(run.found!, tree, inUnsyncedTail);
      const c: FuzzCase = { copy, file, kind, damage, offset, ...verdict };
      if (verdict.outcome === 'error-at-open' || verdict.outcome === 'error-at-read') {
        const t = await checkAndRepair(asDamaged, tree);
        c.tools = t.tools;
        if (t.tools !== 'ok') c.detail += `; tools: ${t.tools}: ${t.detail}`;
      }
      result.cases.push(c);
      const row = `${kind} ${damage}`;
      const counts = result.tally.get(row) ?? new Map<Outcome, number>();
      counts.set(c.outcome, (counts.get(c.outcome) ?? 0) + 1);
      result.tally.set(row, counts);
      options.onCase?.(c);
      if (run !== 'hang') rmSync(dir, { recursive: true, force: true });
      rmSync(asDamaged, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return result;
}

/** The tally as a text table: one row per file kind and damage, one column per outcome. */
export function formatTally(result: FuzzResult): string {
  const header = ['kind damage', ...OUTCOMES];
  const rows = [...result.tally.keys()].sort().map((row) => [row, ...OUTCOMES.map((o) => String(result.tally.get(row)!.get(o) ?? 0))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const refused = result.cases.filter((c) => c.tools !== undefined);
  const toolsLine = `check and repair on the ${refused.length} refused copies: ${refused.filter((c) => c.tools === 'ok').length} ok, `
    + [...TOOLS_FAILURES].map((t) => `${refused.filter((c) => c.tools === t).length} ${t}`).join(', ');
  return [`file fuzz, seed ${result.seed}, ${result.cases.length} damaged copies`, line(header), ...rows.map(line), toolsLine].join('\n');
}
