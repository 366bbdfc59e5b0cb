import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import { mergeRuns, stripeOf } from '../../src/engine/js/merge.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { Random } from '../../src/sim/random.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { AssertionFailure, INVARIANTS } from '../../src/util/assert.js';
import { sortedRun } from '../helpers/runs.js';

interface Entry {
  key: string;
  seq: number;
  kind: number;
  value: string;
}

function ikeyOf(e: Entry): Uint8Array {
  return makeInternalKey(utf8(e.key), e.seq, e.kind);
}

function runOf(entries: Entry[]): EntryRun {
  return sortedRun(entries.map((e) => [ikeyOf(e), utf8(e.value)] as const));
}

function entriesOf(run: EntryRun): string[] {
  const out: string[] = [];
  for (let i = 0; i < run.count; i++) {
    const k = run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!);
    const user = fromUtf8(k.subarray(0, k.length - 8));
    const trailer = new DataView(k.buffer, k.byteOffset + k.length - 8);
    const seq = trailer.getUint32(4, true) * 2 ** 24 + (trailer.getUint32(0, true) >>> 8);
    const kind = k[k.length - 8] === KIND_DELETE ? 'del' : 'put';
    out.push(`${user}@${seq} ${kind} ${fromUtf8(run.data.subarray(run.offsets[2 * i + 1]!, run.offsets[2 * i + 2]!))}`);
  }
  return out;
}

/**
 * The model, written from the readers' point of view: every reader (each snapshot, and "now")
 * sees the newest entry at or below its sequence; keep exactly the entries some reader sees. At the
 * bottom, then drop the oldest kept entries while they are deletes.
 */
function modelMerge(all: Entry[], snapshots: number[], dropTombstones: boolean): string[] {
  const byKey = new Map<string, Entry[]>();
  for (const e of all) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  const kept: Entry[] = [];
  for (const versions of byKey.values()) {
    versions.sort((a, b) => b.seq - a.seq);
    const seen = new Set<Entry>();
    for (const reader of [...snapshots, Infinity]) {
      const visible = versions.find((v) => v.seq <= reader);
      if (visible !== undefined) seen.add(visible);
    }
    const keep = versions.filter((v) => seen.has(v));
    while (dropTombstones && keep.length > 0 && keep[keep.length - 1]!.kind === KIND_DELETE) keep.pop();
    kept.push(...keep);
  }
  return entriesOf(runOf(kept));
}

describe('mergeRuns', () => {
  it('finds stripes by the smallest snapshot at or above a sequence', () => {
    expect(stripeOf([], 5)).toBe(0);
    expect(stripeOf([10, 20], 5)).toBe(0);
    expect(stripeOf([10, 20], 10)).toBe(0);
    expect(stripeOf([10, 20], 11)).toBe(1);
    expect(stripeOf([10, 20], 21)).toBe(2);
  });

  it('keeps the newest entry per stripe and drops bottom tombstones from the oldest upward', () => {
    const a = runOf([
      { key: 'a', seq: 9, kind: KIND_PUT, value: 'a9' },
      { key: 'a', seq: 3, kind: KIND_DELETE, value: '' },
      { key: 'b', seq: 8, kind: KIND_DELETE, value: '' },
    ]);
    const b = runOf([
      { key: 'a', seq: 7, kind: KIND_PUT, value: 'a7' },
      { key: 'a', seq: 1, kind: KIND_PUT, value: 'a1' },
      { key: 'b', seq: 2, kind: KIND_PUT, value: 'b2' },
      { key: 'c', seq: 4, kind: KIND_DELETE, value: '' },
    ]);
    expect(entriesOf(mergeRuns([a, b], { snapshots: [], dropTombstones: false }))).toEqual([
      'a@9 put a9', 'b@8 del ', 'c@4 del ',
    ]);
    expect(entriesOf(mergeRuns([a, b], { snapshots: [], dropTombstones: true }))).toEqual(['a@9 put a9']);
    expect(entriesOf(mergeRuns([a, b], { snapshots: [3, 7], dropTombstones: false }))).toEqual([
      'a@9 put a9', 'a@7 put a7', 'a@3 del ', 'b@8 del ', 'b@2 put b2', 'c@4 del ',
    ]);
    // Bottom: a@3 del is the oldest kept entry of a, so it goes; b@8 del hides b2 (kept for
    // snapshot 3) from "now" and 7, so it stays; c@4 del hides nothing.
    expect(entriesOf(mergeRuns([b, a], { snapshots: [3, 7], dropTombstones: true }))).toEqual([
      'a@9 put a9', 'a@7 put a7', 'b@8 del ', 'b@2 put b2',
    ]);
  });

  it('agrees with a model of the rules on random runs, snapshots and bottom flags', () => {
    const baseSeed = 0x3e76e;
    for (let trial = 0; trial < 300; trial++) {
      const seed = baseSeed + trial;
      const rng = new Random(seed);
      const runCount = 1 + rng.int(5);
      const keySpace = 1 + rng.int(30);
      const total = rng.int(200);
      const runs: Entry[][] = Array.from({ length: runCount }, () => []);
      const all: Entry[] = [];
      for (let seq = 1; seq <= total; seq++) {
        const kind = rng.int(3) === 0 ? KIND_DELETE : KIND_PUT;
        const e: Entry = { key: `k${rng.int(keySpace)}`, seq, kind, value: kind === KIND_PUT ? `v${seq}${'x'.repeat(rng.int(3) === 0 ? rng.int(100) : 0)}` : '' };
        runs[rng.int(runCount)]!.push(e);
        all.push(e);
      }
      const snapshots: number[] = [];
      for (let s = 1; s <= total + 1; s++) if (rng.int(10) === 0) snapshots.push(s);
      const dropTombstones = rng.int(2) === 0;
      const merged = mergeRuns(runs.map(runOf), { snapshots, dropTombstones });
      expect(entriesOf(merged), `seed ${seed}`).toEqual(modelMerge(all, snapshots, dropTombstones));
      expect(merged.offsets.length).toBe(2 * merged.count + 1);
    }
  });

  it('stops on unsorted input under INVARIANTS (a bug upstream, not a user error)', () => {
    const sorted = runOf([{ key: 'a', seq: 1, kind: KIND_PUT, value: '' }, { key: 'b', seq: 2, kind: KIND_PUT, value: '' }]);
    // Swap the two entries' places by pointing the offsets backwards.
    const b = sorted.offsets[2]!;
    const end = sorted.offsets[4]!;
    const swapped: EntryRun = {
      data: new Uint8Array([...sorted.data.subarray(b, end), ...sorted.data.subarray(0, b)]),
      offsets: Uint32Array.of(0, end - b, end - b, end, end),
      count: 2,
    };
    expect(INVARIANTS).toBe(true);
    expect(() => mergeRuns([swapped], { snapshots: [], dropTombstones: false })).toThrow(AssertionFailure);
  });

  it('merges empty inputs and no inputs', () => {
    const empty = runOf([]);
    expect(mergeRuns([], { snapshots: [], dropTombstones: true }).count).toBe(0);
    expect(mergeRuns([empty, empty], { snapshots: [1], dropTombstones: false }).count).toBe(0);
  });
});
