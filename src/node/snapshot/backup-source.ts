/**
 * The node's side of a client backup (after etcd's maintenance Snapshot RPC, which streams a bbolt
 * snapshot to `etcdctl snapshot save`), as a pull protocol over client requests (docs/format/wire.md):
 *   backupBegin                         after a read barrier (the caller's), a checkpoint of the state
 *                                       tree at the applied index, made between Ready turns like a
 *                                       peer snapshot (checkpoint.ts); answers its id, index, term
 *                                       and file list;
 *   backupChunk(id, fileIndex, offset, limit)  one chunk of it, encoded as a peer transfer's chunk
 *                                       (chunk-codec.ts, ChunkCursor of sender.ts);
 *   backupEnd(id)                       deletes it.
 * A pull is naturally flow-controlled: the node reads a chunk only when asked, so a slow client
 * costs it nothing but the checkpoint's files (hard links of immutable tables).
 *
 * Bounds: at most pendingMax backups are pending or being made (more: KV_ERR_BUSY); a pending
 * backup nobody pulled from for idleMs is deleted, as are all of them when the node stops (and any
 * left by a crash at the next start: checkpoint.ts removeStaleLocalSnapshots).
 */
import { InvalidArgumentError, LsmraftError } from '../../errors.js';
import type { FileSystem } from '../../lsm/fs.js';
import type { ConfState } from '../../raft/types.js';
import type { RaftLogStore } from '../log-store.js';
import type { KvStateMachine } from '../state-machine.js';
import { createSnapshot, localSnapshotsDir, removeLocalSnapshot, type LocalSnapshot, type SnapshotFile } from './checkpoint.js';
import { encodeSnapshotChunk, SNAPSHOT_CHUNK_BYTES_MAX } from './chunk-codec.js';
import { ChunkCursor } from './sender.js';

/** Default bound on pending backups of one node. */
export const BACKUPS_PENDING_MAX = 4;
/** Default time a pending backup survives without a pull. */
export const BACKUP_IDLE_MS = 60_000;

/** What backupBegin answers (as JSON). */
export interface BackupInfo {
  id: string;
  index: number;
  term: number;
  files: SnapshotFile[];
  /** The largest chunk the node sends; a client asks for at most this. */
  chunkBytesMax: number;
}

export interface BackupSourceDeps {
  fs: FileSystem;
  dataDir: string;
  logStore: RaftLogStore;
  stateMachine(): KvStateMachine | undefined;
  /** The configuration as of the applied index. */
  conf(): ConfState;
  /** Runs the driver loop, whose maintenance turn makes the checkpoint. */
  kick(): void;
  log(line: string): void;
}

interface Pending {
  local: LocalSnapshot;
  timer: NodeJS.Timeout;
}

export class BackupSource {
  private readonly pending = new Map<string, Pending>();
  private waiters: Array<{ resolve: (info: BackupInfo) => void; reject: (err: unknown) => void }> = [];
  private closed = false;

  constructor(private readonly d: BackupSourceDeps, private readonly opts: { pendingMax: number; idleMs: number }) {}

  /** Pending backups (made and not yet deleted). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * A checkpoint at the applied index as of the next maintenance turn. REQUIRES: the caller passed
   * a read barrier first, so that index covers every write acknowledged before the request.
   */
  begin(): Promise<BackupInfo> {
    if (this.closed) return Promise.reject(new LsmraftError('KV_ERR_STOPPED', 'node is stopping'));
    if (this.pending.size + this.waiters.length >= this.opts.pendingMax) {
      return Promise.reject(new LsmraftError('KV_ERR_BUSY', `${this.opts.pendingMax} backups are already pending on this node`));
    }
    const p = new Promise<BackupInfo>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.d.kick();
    return p;
  }

  /** Between Ready turns: makes the checkpoint one waiting begin() asked for. Resolves true if it did. */
  async maintenance(): Promise<boolean> {
    const sm = this.d.stateMachine();
    const w = this.waiters.shift();
    if (w === undefined) return false;
    if (sm === undefined) {
      w.reject(new LsmraftError('KV_ERR_STOPPED', 'the state machine is being replaced'));
      return true;
    }
    const index = sm.appliedIndex;
    let local: LocalSnapshot;
    try {
      local = await createSnapshot(sm, localSnapshotsDir(this.d.dataDir), { index, term: this.d.logStore.term(index), conf: this.d.conf() }, { fs: this.d.fs });
    } catch (err) {
      w.reject(err);
      throw err; // an IO error here is the node's (fail-stop), as for a peer snapshot
    }
    if (this.closed) {
      removeLocalSnapshot(this.d.fs, local);
      w.reject(new LsmraftError('KV_ERR_STOPPED', 'node is stopping'));
      return true;
    }
    this.pending.set(local.id, { local, timer: this.idleTimer(local.id) });
    this.d.log(`backup ${local.id} at ${index}: ${local.files.length} files`);
    w.resolve({ id: local.id, index, term: local.meta.term, files: local.files.map((f) => ({ ...f })), chunkBytesMax: SNAPSHOT_CHUNK_BYTES_MAX });
    return true;
  }

  private idleTimer(id: string): NodeJS.Timeout {
    const t = setTimeout(() => this.end(id, 'idle'), this.opts.idleMs);
    t.unref();
    return t;
  }

  /** Chunk (fileIndex, offset) of pending backup `id`, at most `bytesMax` of data, encoded (chunk-codec.ts). */
  chunk(id: string, fileIndex: number, offset: number, bytesMax: number): Uint8Array {
    const p = this.pending.get(id);
    if (p === undefined) throw new InvalidArgumentError(`backup ${id} is not pending on this node (finished, expired or never made)`, 'KV_ERR_INVALID_ARGUMENT');
    const files = p.local.files;
    // A chunk starts inside its file (an empty file's one chunk starts at 0).
    if (fileIndex >= files.length || (offset >= files[fileIndex]!.size && offset > 0)) {
      throw new InvalidArgumentError(`backup ${id} has no chunk at file ${fileIndex} offset ${offset}`, 'KV_ERR_INVALID_ARGUMENT');
    }
    if (!Number.isInteger(bytesMax) || bytesMax < 1 || bytesMax > SNAPSHOT_CHUNK_BYTES_MAX) {
      throw new InvalidArgumentError(`backup chunk limit must be 1..${SNAPSHOT_CHUNK_BYTES_MAX} bytes, got ${bytesMax}`, 'KV_ERR_INVALID_ARGUMENT');
    }
    clearTimeout(p.timer);
    p.timer = this.idleTimer(id);
    const cursor = new ChunkCursor(p.local, { fs: this.d.fs, chunkBytes: bytesMax });
    cursor.seek({ snapshotId: id, fileIndex, offset });
    const c = cursor.next();
    if (c === undefined) throw new InvalidArgumentError(`backup ${id} has no chunk at file ${fileIndex} offset ${offset}`, 'KV_ERR_INVALID_ARGUMENT');
    return encodeSnapshotChunk(c);
  }

  /** Deletes pending backup `id` (the client is done, or it went idle). False if it was not pending. */
  end(id: string, why = 'done'): boolean {
    const p = this.pending.get(id);
    if (p === undefined) return false;
    clearTimeout(p.timer);
    this.pending.delete(id);
    removeLocalSnapshot(this.d.fs, p.local);
    this.d.log(`backup ${id} deleted (${why})`);
    return true;
  }

  /** The node stops: waiting begins fail, pending backups are deleted. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new LsmraftError('KV_ERR_STOPPED', 'node is stopping'));
    for (const id of [...this.pending.keys()]) this.end(id, 'node stopping');
  }
}
