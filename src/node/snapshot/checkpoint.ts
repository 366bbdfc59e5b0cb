/**
 * A Raft snapshot of the state tree, as the node makes and names it (after etcd's
 * server/etcdserver/api/snap: a snapshot is a file set plus its metadata). A snapshot is the state
 * tree's checkpoint (LsmTree.checkpoint: hard links of the live SSTables, free because tables are
 * immutable, plus a fresh manifest), each file's size and CRC32C, and {index, term, conf}. The Raft
 * core's Snapshot.data is the UTF-8 snapshot id (snapshotData / snapshotIdOf).
 *
 * Data directory layout (the node owns `<dataDir>`):
 *   log/                          the log tree (RaftLogStore)
 *   STATE                         names the live state directory (install.ts)
 *   state-NNNNNN/                 the state tree (KvStateMachine)
 *   snapshots/<id>/               checkpoints made here for sending (this file)
 *   snapshot-incoming-<id>/       a transfer being received (receiver.ts)
 *
 * The rest of the folder: chunk-codec.ts (the bytes on the wire), sender.ts (one snapshot to one
 * follower), receiver.ts (the follower's side), install.ts (the atomic switch to a received
 * snapshot, and startup), shipper.ts (when to make, send and install snapshots).
 */
import { randomBytes } from 'node:crypto';
import { crc32c } from '../../format/crc32c.js';
import { CorruptionError } from '../../errors.js';
import { joinPath } from '../../lsm/filenames.js';
import type { FileSystem } from '../../lsm/fs.js';
import type { Snapshot, SnapshotMeta } from '../../raft/types.js';
import { assert } from '../../util/assert.js';
import { fromUtf8, utf8 } from '../../util/bytes.js';
import type { KvStateMachine } from '../state-machine.js';
import { removeDirectory } from './dir-files.js';

/** Bound on the voters (and on the learners) a snapshot's conf may list when decoded. */
export const CONF_MEMBERS_MAX = 10_000;
/** Files are read this many bytes at a time when checksummed, yielding to the event loop between. */
const CRC_READ_BYTES = 1024 * 1024;
/** Snapshot ids and file names: safe as one path component, at most 128 bytes. */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}

export interface SnapshotFile {
  name: string;
  size: number;
  /** CRC32C of the whole file (unmasked). */
  crc32c: number;
}

/** A snapshot on local disk, ready to send. */
export interface LocalSnapshot {
  id: string;
  dir: string;
  files: SnapshotFile[];
  meta: SnapshotMeta;
}

/** The Raft Snapshot.data of a local snapshot: its id in UTF-8. */
export function snapshotData(id: string): Uint8Array {
  return utf8(id);
}

/** The snapshot id a Raft Snapshot names, or undefined (bootstrap or installed snapshots carry none). */
export function snapshotIdOf(s: Snapshot): string | undefined {
  if (s.data.length === 0) return undefined;
  const id = fromUtf8(s.data);
  return isSafeName(id) ? id : undefined;
}

export function cloneMeta(m: SnapshotMeta): SnapshotMeta {
  return { index: m.index, term: m.term, conf: { voters: [...m.conf.voters], learners: [...m.conf.learners] } };
}

export function metaEqual(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const same = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.index === b.index && a.term === b.term && same(a.conf.voters, b.conf.voters) && same(a.conf.learners, b.conf.learners);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Size and CRC32C of each file of `dir`, by name; reads in bounded pieces. */
export async function checksumFiles(fs: FileSystem, dir: string): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = [];
  for (const name of fs.list(dir)) {
    const f = fs.openRead(joinPath(dir, name));
    try {
      const size = f.size();
      let crc = 0;
      // ceil(size / CRC_READ_BYTES) passes.
      for (let pos = 0; pos < size; pos += CRC_READ_BYTES) {
        const piece = f.read(pos, Math.min(CRC_READ_BYTES, size - pos));
        if (piece.length === 0) throw new CorruptionError('snapshot file shrank while being read', f.path, pos);
        crc = crc32c(piece, crc);
        await yieldToEventLoop();
      }
      out.push({ name, size, crc32c: crc });
    } finally {
      f.close();
    }
  }
  return out;
}

/**
 * Checkpoints the state machine into `<workDir>/<id>` and checksums its files. REQUIRES: meta.index
 * is the state machine's applied index and no apply() runs meanwhile (asserted).
 */
export async function createSnapshot(
  stateMachine: KvStateMachine, workDir: string, meta: SnapshotMeta, options: { fs: FileSystem },
): Promise<LocalSnapshot> {
  const fs = options.fs;
  assert(meta.index === stateMachine.appliedIndex, () => `snapshot at ${meta.index} but the state machine applied ${stateMachine.appliedIndex}`);
  const id = `${meta.index}-${meta.term}-${randomBytes(4).toString('hex')}`;
  const dir = joinPath(workDir, id);
  fs.mkdirp(workDir);
  const { appliedIndex } = await stateMachine.checkpoint(dir);
  assert(appliedIndex === meta.index, () => `checkpoint at ${appliedIndex}, expected ${meta.index}`);
  await fs.syncDir(workDir);
  return { id, dir, files: await checksumFiles(fs, dir), meta: cloneMeta(meta) };
}

/** Deletes a local snapshot's files once no transfer needs it. */
export function removeLocalSnapshot(fs: FileSystem, snapshot: LocalSnapshot): void {
  removeDirectory(fs, snapshot.dir);
}

/** Where a node makes the snapshots it sends. */
export function localSnapshotsDir(dataDir: string): string {
  return joinPath(dataDir, 'snapshots');
}

/**
 * At startup: deletes the snapshots an earlier run made for sending (no transfer survives a
 * restart, and the next one makes a fresh snapshot). Bounded by the directory's entries.
 */
export function removeStaleLocalSnapshots(fs: FileSystem, dataDir: string): void {
  const dir = localSnapshotsDir(dataDir);
  if (!fs.exists(dir)) return;
  for (const name of fs.list(dir)) removeDirectory(fs, joinPath(dir, name));
}
