/**
 * Restoring a backup into a new one-member cluster (etcd's `etcdutl snapshot restore`: a new data
 * directory, a new cluster id, the snapshot's data, one member). The data directory it lays out is
 * one a follower would have after installing the backup's snapshot (snapshot/install.ts) in a
 * cluster whose only voter is this node:
 *   state-000001/ + STATE       the backup's checkpoint (user keys and the session table; its
 *                               applied index is the backup's index)
 *   log/                        snapshot {index, term, conf voters [id]}, no entries, hard state
 *                               {term, vote 0, commit index}: the log continues at index + 1
 *   MEMBERS                     id -> address
 *   IDENTITY                    node id, a fresh cluster id (written last but for the marker)
 * KvNode.start({ id, address, dataDir }) then elects itself at term + 1 and serves the data; it can
 * add members like any one-member cluster.
 *
 * What must hold: a data directory is either complete or refused by KvNode.start. The restore
 * first makes the file RESTORING durable and deletes it last (after IDENTITY); a node never starts
 * on a directory that holds it (node-storage.ts), so a crash midway leaves a directory that the
 * next start refuses with LSM_ERR_CORRUPTION (delete it and restore again), never a half-made
 * node. The backup is checked whole (backup-file.ts) before anything but the staging directory is
 * written; a restore that fails removes what it made. A non-empty data directory is refused.
 */
import { InvalidArgumentError } from '../errors.js';
import { joinPath } from '../lsm/filenames.js';
import type { FileSystem, WritableFile } from '../lsm/fs.js';
import { nodeFileSystem } from '../lsm/node-fs.js';
import type { SnapshotMeta } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { utf8 } from '../util/bytes.js';
import { parseAddress } from './address.js';
import { formatClusterId, newClusterId, writeFileAtomic, writeIdentity } from './identity.js';
import { RaftLogStore } from './log-store.js';
import { AddressBook } from './membership.js';
import { missingAncestor, removeCreatedDataDir } from './fresh-data-dir.js';
import { readBackupFile } from './snapshot/backup-file.js';
import { installSnapshot } from './snapshot/install.js';
import { INCOMING_PREFIX } from './snapshot/receiver.js';

/** Present while a restore lays out a data directory (module comment). */
export const RESTORE_MARKER_FILE = 'RESTORING';

export interface RestoreOptions {
  /** The new data directory: absent or empty. */
  dataDir: string;
  /** The node id of the new cluster's one member. */
  id: number;
  /** Its address, host:port (recorded in MEMBERS). */
  address: string;
  /** Default: the real file system (both for the backup file and the data directory). */
  fs?: FileSystem;
}

export interface RestoreResult {
  index: number;
  term: number;
  /** The new cluster's id, 16 hex digits. */
  clusterId: string;
  bytes: number;
  sha256: string;
}

/**
 * Checks backup `file` and lays out a new one-member cluster's data directory holding its data.
 * A damaged or truncated file is a CorruptionError (LSM_ERR_CORRUPTION) naming the offset.
 */
export async function restoreBackup(file: string, options: RestoreOptions): Promise<RestoreResult> {
  const fs = options.fs ?? nodeFileSystem;
  const { dataDir, id, address } = options;
  if (!Number.isSafeInteger(id) || id < 1) throw new InvalidArgumentError(`node id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
  parseAddress(address);
  if (typeof dataDir !== 'string' || dataDir.length === 0) throw new InvalidArgumentError('restore needs a data directory', 'KV_ERR_INVALID_ARGUMENT');
  if (fs.exists(dataDir) && fs.list(dataDir).length > 0) {
    throw new InvalidArgumentError(`data directory ${dataDir} is not empty; restore makes a new one`, 'KV_ERR_INVALID_ARGUMENT');
  }
  const created = missingAncestor(fs, dataDir);
  fs.mkdirp(dataDir);
  try {
    return await restoreInto(fs, file, dataDir, id, address);
  } catch (err) {
    // What the restore made goes; a directory that existed (empty) stays, emptied again.
    removeCreatedDataDir(fs, created ?? dataDir, dataDir);
    if (created === undefined) fs.mkdirp(dataDir);
    throw err;
  }
}

async function restoreInto(fs: FileSystem, file: string, dataDir: string, id: number, address: string): Promise<RestoreResult> {
  await writeFileAtomic(fs, dataDir, RESTORE_MARKER_FILE, utf8('lsmraft restore in progress\n'));
  // 1. Check the backup whole while writing its files where a received snapshot would be.
  const incoming = joinPath(dataDir, `${INCOMING_PREFIX}restore`);
  fs.mkdirp(incoming);
  let names: string[] = [];
  let out: WritableFile | undefined;
  let current = -1;
  let backup;
  try {
    backup = await readBackupFile(fs, file, {
      header(h) {
        names = h.files.map((f) => f.name);
      },
      data(fileIndex, data) {
        if (fileIndex !== current) {
          assert(out === undefined && fileIndex === current + 1, 'backup files in order');
          current = fileIndex;
          out = fs.create(joinPath(incoming, names[fileIndex]!));
        }
        out!.append(data);
      },
      async fileDone() {
        const f = out!;
        out = undefined;
        await f.sync();
        f.close();
      },
    });
  } finally {
    out?.close();
  }
  await fs.syncDir(incoming);
  const meta: SnapshotMeta = { index: backup.index, term: backup.term, conf: { voters: [id], learners: [] } };

  // 2. The state tree: installed as a follower installs a received snapshot.
  await installSnapshot(dataDir, { snapshotId: 'restore', dir: incoming, meta, files: backup.files }, { fs });

  // 3. The log: empty after the snapshot, committed up to it.
  const logStore = await RaftLogStore.open(joinPath(dataDir, 'log'), { fs });
  try {
    await logStore.applySnapshot({ meta, data: new Uint8Array(0) });
    await logStore.setHardState({ term: backup.term, vote: 0, commit: backup.index });
  } finally {
    await logStore.close();
  }

  // 4. Members, then the identity: its presence says the directory is complete.
  const book = new AddressBook();
  book.set(id, address);
  await book.write(fs, dataDir);
  const clusterId = newClusterId();
  await writeIdentity(fs, dataDir, { nodeId: id, clusterId });
  fs.remove(joinPath(dataDir, RESTORE_MARKER_FILE));
  await fs.syncDir(dataDir);
  return { index: backup.index, term: backup.term, clusterId: formatClusterId(clusterId), bytes: backup.bytes, sha256: backup.sha256 };
}
