/**
 * Checkpoints (after RocksDB's Checkpoint and Pebble's checkpoint.go): a consistent, openable copy
 * of the tree in a new directory. Every live table is hard-linked (tables are immutable, so a link
 * is a copy that costs nothing) and a manifest describing exactly them is written and synced
 * (VersionSet.writeCheckpoint). This is what a Raft snapshot of the state tree is.
 *
 * REQUIRES: the caller flushed the memtable first, so the tables hold every write up to
 * core.lastSequence.
 */
import type { ObsoleteFiles } from './obsolete-files.js';
import type { TreeCore } from './tree-core.js';

export interface CheckpointInfo {
  lastSequence: number;
  userMeta: Uint8Array | undefined;
  files: number;
  bytes: number;
}

export async function writeCheckpoint(core: TreeCore, obsolete: ObsoleteFiles, targetDir: string): Promise<CheckpointInfo> {
  core.checkOpen();
  const version = core.versions.current();
  // Pinned: a compaction finishing meanwhile must not delete a table before it is linked.
  version.ref();
  try {
    const lastSequence = core.lastSequence;
    const userMeta = core.versions.userMeta;
    await core.versions.writeCheckpoint(targetDir, version, lastSequence, userMeta);
    let bytes = 0;
    let files = 0;
    for (let level = 0; level < version.levelCount; level++) {
      files += version.files(level).length;
      bytes += version.levelBytes(level);
    }
    return { lastSequence, userMeta, files, bytes };
  } finally {
    version.unref();
    if (core.state === 'open') obsolete.collect();
  }
}
