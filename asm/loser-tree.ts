// A loser tree over k inputs (Knuth, TAOCP vol. 3, 5.4.1; the shape TigerBeetle's k_way_merge.zig
// and leveldb's MergingIterator serve): tree[0] is the winner, tree[1..k) the loser at each inner
// node; after the winner advances, one root-ward pass of log2(k) comparisons replays only its path.
// `before(a, b)` orders inputs a and b by their current entries (ended inputs last, ties by index);
// asm/merge.ts and asm/compact.ts pass their own.

/** Plays the initial tournament bottom-up into `tree` (k u32); `winners` is scratch of 2k u32. */
export function playTournament(tree: usize, k: u32, winners: usize, before: (a: u32, b: u32) => bool): void {
  const n0 = <usize>k;
  for (let i: usize = 0; i < n0; i++) store<u32>(winners + ((n0 + i) << 2), <u32>i);
  for (let n = n0 - 1; n >= 1; n--) {
    const a = load<u32>(winners + ((2 * n) << 2));
    const b = load<u32>(winners + ((2 * n + 1) << 2));
    const aWins = before(a, b);
    store<u32>(tree + (n << 2), aWins ? b : a);
    store<u32>(winners + (n << 2), aWins ? a : b);
  }
  store<u32>(tree, n0 == 1 ? 0 : load<u32>(winners + 4));
}

/** After the winner (tree[0]) moved to its next entry: replays its path to the root. */
export function replayWinner(tree: usize, k: u32, before: (a: u32, b: u32) => bool): void {
  let s = load<u32>(tree);
  let n = (<usize>k + <usize>s) >>> 1;
  while (n >= 1) {
    const loser = load<u32>(tree + (n << 2));
    if (before(loser, s)) {
      store<u32>(tree + (n << 2), s);
      s = loser;
    }
    n >>>= 1;
  }
  store<u32>(tree, s);
}
