// k-way merge of sorted runs with compaction's version-dropping rules, over a loser tree
// (asm/loser-tree.ts). The rules (snapshot stripes, tombstone dropping) are docs/format/sstable.md
// "Merge rules". Twin of src/engine/js/merge.ts: same output bytes.
//
// Run descriptors (RUN_WORDS u32 each): [0] data bias, [1] offsets pointer, [2] count, [3] cursor.
// Equal internal keys in two runs (not expected) are ordered by run index, lower first, so the
// output does not depend on tie-breaking inside the tree.

import { STATUS_OK, setResult } from './memory';
import { compareBytes, compareInternal, copyBytes } from './coding';
import { playTournament, replayWinner } from './loser-tree';

export const RUN_WORDS: usize = 4;
const RUN_BYTES: usize = RUN_WORDS << 2;

// The merge's state, as module globals (no allocation in asm/).
let gRuns: usize = 0;
let gK: u32 = 0;
let gTree: usize = 0; // u32[k]: [0] the winner, [1..k) the loser at each inner node

@inline
function runAt(r: u32): usize {
  return gRuns + <usize>r * RUN_BYTES;
}

/** Key pointer of run r's current entry. REQUIRES: cursor < count. */
@inline
function keyOf(run: usize): usize {
  const o = <usize>load<u32>(run, 4) + (<usize>load<u32>(run, 12) << 3);
  return <usize>load<u32>(run) + <usize>load<u32>(o);
}

@inline
function keyLenOf(run: usize): usize {
  const o = <usize>load<u32>(run, 4) + (<usize>load<u32>(run, 12) << 3);
  return <usize>(load<u32>(o, 4) - load<u32>(o));
}

/** True when run a's current entry goes before run b's. Exhausted runs go last. */
function before(a: u32, b: u32): bool {
  const ra = runAt(a);
  const rb = runAt(b);
  const aDone = load<u32>(ra, 12) >= load<u32>(ra, 8);
  const bDone = load<u32>(rb, 12) >= load<u32>(rb, 8);
  if (aDone || bDone) return !aDone || (bDone && a < b);
  const c = compareInternal(keyOf(ra), keyLenOf(ra), keyOf(rb), keyLenOf(rb));
  return c < 0 || (c == 0 && a < b);
}

/**
 * Merges the k runs described at `runs` into a run at outOffsets (u32, room for 2n+1) and outData
 * (room for the inputs' bytes), n the total entry count. `snapshots` holds snapCount u64 sequence
 * numbers, ascending. `scratch` holds 3k u32. Results: [0] entries, [1] data bytes.
 */
export function mergeRunsInto(
  runs: usize, k: u32, snapshots: usize, snapCount: u32, dropTombstones: bool,
  scratch: usize, outOffsets: usize, outData: usize,
): i32 {
  gRuns = runs;
  gK = k;
  gTree = scratch;
  let n: u32 = 0; // entries written
  let dataEnd: usize = 0; // bytes written, relative to outData
  store<u32>(outOffsets, 0);
  if (k > 0) {
    playTournament(gTree, gK, scratch + (<usize>k << 2), before);
    let groupStart: u32 = 0; // first output entry of the current user key
    let lastStripe: u32 = 0xffff_ffff;
    let prevUser: usize = 0;
    let prevUserLen: usize = 0;
    let first = true;
    // Each iteration consumes one input entry: bounded by the total count.
    for (;;) {
      const w = load<u32>(gTree);
      const run = runAt(w);
      const cursor = load<u32>(run, 12);
      if (cursor >= load<u32>(run, 8)) break; // the winner is exhausted: all are
      const o = <usize>load<u32>(run, 4) + (<usize>cursor << 3);
      const bias = <usize>load<u32>(run);
      const key = bias + <usize>load<u32>(o);
      const value = bias + <usize>load<u32>(o, 4);
      const end = bias + <usize>load<u32>(o, 8);
      const userLen = value - key - 8;
      if (first || compareBytes(prevUser, prevUserLen, key, userLen) != 0) {
        if (dropTombstones) n = trimTombstones(outOffsets, outData, groupStart, n);
        groupStart = n;
        lastStripe = 0xffff_ffff;
        prevUser = key;
        prevUserLen = userLen;
        first = false;
      }
      const seq = load<u64>(key + userLen) >>> 8;
      const stripe = stripeOf(snapshots, snapCount, seq);
      if (stripe != lastStripe) {
        // The newest entry of its stripe: some reader sees it.
        lastStripe = stripe;
        dataEnd = <usize>load<u32>(outOffsets + (<usize>n << 3));
        const out = outData + dataEnd;
        const keyLen = value - key;
        const entryLen = end - key;
        copyBytes(out, key, entryLen);
        store<u32>(outOffsets + (<usize>n << 3), <u32>(dataEnd + keyLen), 4);
        store<u32>(outOffsets + (<usize>n << 3), <u32>(dataEnd + entryLen), 8);
        n++;
      }
      store<u32>(run, cursor + 1, 12);
      replayWinner(gTree, gK, before);
    }
    if (dropTombstones) n = trimTombstones(outOffsets, outData, groupStart, n);
  }
  dataEnd = <usize>load<u32>(outOffsets + (<usize>n << 3));
  setResult(0, n);
  setResult(1, <u32>dataEnd);
  return STATUS_OK;
}

/** Index of the smallest snapshot >= seq, or snapCount (the "latest" stripe). */
@inline
function stripeOf(snapshots: usize, snapCount: u32, seq: u64): u32 {
  let lo: u32 = 0;
  let hi = snapCount;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u64>(snapshots + (<usize>mid << 3)) >= seq) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Drops the current user key's kept deletes from the oldest upward while the oldest kept entry is
 * a delete: nothing older exists for them to hide. Returns the new entry count.
 */
function trimTombstones(outOffsets: usize, outData: usize, groupStart: u32, n: u32): u32 {
  while (n > groupStart) {
    const keyEnd = <usize>load<u32>(outOffsets + (<usize>(n - 1) << 3), 4);
    if (load<u8>(outData + keyEnd - 8) != 0) break;
    n--;
  }
  return n;
}
