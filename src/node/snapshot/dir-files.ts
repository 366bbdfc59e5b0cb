/**
 * Deleting the files of a directory the node owns (a state tree, a checkpoint, an incoming
 * transfer). The FileSystem (src/lsm/fs.ts) removes one file or one empty directory at a time; these
 * are the few multi-file removals the node needs, each with the order a crash midway must see.
 */
import { joinPath } from '../../lsm/filenames.js';
import type { FileSystem } from '../../lsm/fs.js';

/** Removes every file of `dir`, keeping the directory. */
export function removeFilesOf(fs: FileSystem, dir: string): void {
  if (!fs.exists(dir)) return;
  for (const name of fs.list(dir)) fs.remove(joinPath(dir, name));
}

/** Removes every file of `dir`, then the emptied directory itself. */
export function removeDirectory(fs: FileSystem, dir: string): void {
  if (!fs.exists(dir)) return;
  removeFilesOf(fs, dir);
  fs.removeDir(dir);
}

/** Wipes a closed tree directory's files (CURRENT first, so a crash midway leaves no openable half). */
export function removeTreeFiles(fs: FileSystem, dir: string): void {
  if (!fs.exists(dir)) return;
  const names = fs.list(dir);
  if (names.includes('CURRENT')) fs.remove(joinPath(dir, 'CURRENT'));
  for (const name of names) if (name !== 'CURRENT') fs.remove(joinPath(dir, name));
}
