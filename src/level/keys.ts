/**
 * The key escape between the Level ecosystem and LsmTree. Level keys may be empty (LevelDB accepts
 * the empty key, and abstract-level's shared suite writes one); LsmTree keys may not. The adapter
 * stores every Level key k under the tree key
 *
 *   escape(k) = 0x00                 if k is empty
 *               0x00 ++ k            if k starts with 0x00
 *               k                    otherwise
 *
 * which is injective and preserves unsigned lexicographic order: [0x00] is a proper prefix of
 * every escaped key that starts with 0x00, all of which sort below any key starting with 0x01..0xff,
 * and keys sharing the 0x00 prefix keep their order. So Level ranges map to tree ranges one to one,
 * and the common key (not starting with 0x00) passes through without a copy. An empty range bound
 * needs no special case either: gte '' becomes gte [0x00] (everything), lt '' becomes lt [0x00]
 * (nothing). This is the same idea as an escape byte in a length-free tuple encoding.
 *
 * A tree written through LsmLevel is therefore read back through LsmLevel: keys starting with 0x00
 * written straight to LsmTree would come back one byte shorter (docs/level.md says so).
 */

const ESCAPE_BYTE = 0x00;

export function escapeKey(key: Uint8Array): Uint8Array {
  if (key.length !== 0 && key[0] !== ESCAPE_BYTE) return key;
  const out = new Uint8Array(key.length + 1);
  out[0] = ESCAPE_BYTE;
  out.set(key, 1);
  return out;
}

/** Inverse of escapeKey. REQUIRES: treeKey came from escapeKey (it is never empty). */
export function unescapeKey(treeKey: Uint8Array): Uint8Array {
  return treeKey[0] === ESCAPE_BYTE ? treeKey.subarray(1) : treeKey;
}
