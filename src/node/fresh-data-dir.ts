/**
 * Undoing a failed first start (KvNode.start): the data directory it created, and the parents it
 * created for it, are removed again, so a retry (say, after freeing a port) starts as fresh as the
 * first try did. A directory that existed before the start is never touched.
 *
 * What a first start leaves is known (snapshot/checkpoint.ts lists the layout): files at the top
 * (IDENTITY, MEMBERS, STATE and their temporaries), tree directories of files only (log/,
 * state-N/), and possibly an empty snapshots/ (no snapshot is made before the node runs).
 */
import { dirname } from 'node:path';
import { joinPath } from '../lsm/filenames.js';
import type { FileSystem } from '../lsm/fs.js';
import { assert } from '../util/assert.js';
import { removeDirectory } from './snapshot/dir-files.js';

/** Directories of a node's data directory; everything else in it is a file. */
const SUBDIRECTORY = /^(log|state-\d+|snapshots|snapshot-incoming-.*)$/;

/** The outermost of `dir` and its ancestors that does not exist, or undefined if `dir` exists. */
export function missingAncestor(fs: FileSystem, dir: string): string | undefined {
  let missing: string | undefined;
  for (let d = dir; !fs.exists(d); d = dirname(d)) {
    missing = d;
    if (dirname(d) === d) break;
  }
  return missing;
}

/** Removes `dataDir` (made by a failed start) and its parents up to `top`, which it created too. */
export function removeCreatedDataDir(fs: FileSystem, top: string, dataDir: string): void {
  if (!fs.exists(dataDir)) return;
  for (const name of fs.list(dataDir)) {
    const path = joinPath(dataDir, name);
    if (SUBDIRECTORY.test(name)) removeDirectory(fs, path);
    else fs.remove(path);
  }
  for (let d = dataDir; ; d = dirname(d)) {
    fs.removeDir(d);
    if (d === top) break;
    assert(dirname(d) !== d, () => `${top} is not an ancestor of ${dataDir}`);
  }
}
