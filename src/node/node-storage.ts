/**
 * Opening a node's data directory at startup, with the repairs a crash may call for (after
 * etcdserver's bootstrap: read the member's identity, the WAL and the snapshot, then decide whether
 * this is a new member): the identity (identity.ts), the live state directory (snapshot/install.ts),
 * the log tree, the repair of a crash inside a snapshot install (reconcileLogWithState) or inside a
 * JOIN reset (join-target.ts), the first start's one-member bootstrap, the state tree, the
 * configuration the core resumes from (the one of the state tree's applied index) and the address
 * book. Everything goes through the FileSystem of the options.
 */
import { CorruptionError } from '../errors.js';
import { NO_CLUSTER } from './frame.js';
import { joinPath } from '../lsm/filenames.js';
import { checkIdentity, newClusterId, readIdentity, writeIdentity, type NodeIdentity } from './identity.js';
import { RaftLogStore } from './log-store.js';
import { AddressBook } from './membership.js';
import { RESTORE_MARKER_FILE } from './restore.js';
import type { ResolvedNodeOptions } from './node-options.js';
import { removeStaleLocalSnapshots } from './snapshot/checkpoint.js';
import { removeTreeFiles } from './snapshot/dir-files.js';
import { openStateDir, reconcileLogWithState } from './snapshot/install.js';
import { KvStateMachine } from './state-machine.js';

export interface NodeStorage {
  identity: NodeIdentity;
  logStore: RaftLogStore;
  sm: KvStateMachine;
  stateDir: string;
  book: AddressBook;
}

/**
 * Opens (or creates) node `id`'s data directory. A new one becomes a one-member cluster with a
 * fresh cluster id. On failure everything opened is closed again.
 */
export async function openNodeStorage(opts: ResolvedNodeOptions, id: number, dataDir: string): Promise<NodeStorage> {
  const fs = opts.fs;
  fs.mkdirp(dataDir);
  if (fs.exists(joinPath(dataDir, RESTORE_MARKER_FILE))) {
    throw new CorruptionError('an interrupted restore left this data directory half made: delete it and restore again', dataDir);
  }
  let identity = readIdentity(fs, dataDir);
  if (identity !== undefined) checkIdentity(identity, id, dataDir);
  const { stateDir, installed } = await openStateDir(dataDir, { fs });
  removeStaleLocalSnapshots(fs, dataDir);
  const logStore = await RaftLogStore.open(joinPath(dataDir, 'log'), opts.tree);
  let sm: KvStateMachine | undefined;
  try {
    await reconcileLogWithState(logStore, installed);
    if (identity === undefined && opts.initialClusterState === 'existing' && !logStore.isInitialized) {
      // First start of a member a cluster added first (etcd's --initial-cluster-state existing):
      // a blank log and no cluster yet (id 0: the transport takes no peer frame), until its
      // leader's JOIN gives it the cluster's id (join-target.ts).
      identity = { nodeId: id, clusterId: NO_CLUSTER };
      await writeIdentity(fs, dataDir, identity);
    }
    if (identity === undefined) {
      // First start: a one-member cluster. (A data dir whose identity exists but whose log is
      // blank was reset by a join and waits for its leader: it must not bootstrap again.)
      if (!logStore.isInitialized) await logStore.bootstrap(id);
      identity = { nodeId: id, clusterId: newClusterId() };
      await writeIdentity(fs, dataDir, identity);
    }
    if (identity !== undefined && !logStore.isInitialized) {
      // A blank log under an existing identity: a join reset it. Its state tree must be blank
      // too (a crash may have come between the steps of a join reset, join-target.ts); it held no user data.
      removeTreeFiles(fs, stateDir);
    }
    sm = await KvStateMachine.open(stateDir, opts.tree);
    // The core resumes from the state tree's durable applied index (KvNode.newRawNode): it must
    // start from the configuration of that index, not from a later one (log-store.ts).
    if (logStore.isInitialized) await logStore.restoreConfStateAt(Math.max(sm.appliedIndex, logStore.snapshot().meta.index));
    return { identity, logStore, sm, stateDir, book: AddressBook.read(fs, dataDir) };
  } catch (err) {
    await sm?.close();
    await logStore.close();
    throw err;
  }
}

/** Closes what openNodeStorage opened (a start that failed after it). */
export async function closeNodeStorage(storage: NodeStorage): Promise<void> {
  await storage.sm.close();
  await storage.logStore.close();
}
