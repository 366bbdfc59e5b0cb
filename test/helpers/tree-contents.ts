/** A tree's whole contents as strings, now or at a snapshot: what a compaction must not change. */
import type { LsmTree } from '../../src/lsm/db.js';
import { fromUtf8 } from '../../src/util/bytes.js';

export async function treeContents(tree: LsmTree, snapshot?: ReturnType<LsmTree['snapshot']>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of tree.scan(snapshot === undefined ? {} : { snapshot })) out.set(fromUtf8(k), fromUtf8(v));
  return out;
}
