/**
 * The follower's side of a snapshot transfer (after etcd's rafthttp snapshot handler): chunks are
 * written in order into `<dataDir>/snapshot-incoming-<id>/`, each file checked whole against its
 * size and CRC32C and synced, and the finished file set handed to install.ts.
 */
import { crc32c } from '../../format/crc32c.js';
import { CorruptionError } from '../../errors.js';
import { joinPath } from '../../lsm/filenames.js';
import type { FileSystem, WritableFile } from '../../lsm/fs.js';
import type { SnapshotMeta } from '../../raft/types.js';
import { assert } from '../../util/assert.js';
import { cloneMeta, metaEqual, type SnapshotFile } from './checkpoint.js';
import { BadSnapshotChunkError, checkChunk, type ChunkPosition, type SnapshotChunk } from './chunk-codec.js';
import { removeDirectory, removeFilesOf } from './dir-files.js';

/** Prefix of the directory a transfer is received into (the rest is the snapshot id). */
export const INCOMING_PREFIX = 'snapshot-incoming-';

export interface ReceivedSnapshot {
  snapshotId: string;
  dir: string;
  meta: SnapshotMeta;
  files: SnapshotFile[];
}

export type ReceiveResult =
  | { status: 'accepted'; next: ChunkPosition }
  /**
   * Not written; resend from `next`. 'finished': a chunk of the transfer that last completed (its
   * acknowledgement was lost); `next` is then { fileIndex: file count, offset: 0 }: nothing to resend.
   */
  | { status: 'ignored'; reason: 'duplicate' | 'gap' | 'stale' | 'finished'; next: ChunkPosition }
  | { status: 'complete'; snapshot: ReceivedSnapshot };

interface Transfer {
  id: string;
  dir: string;
  meta: SnapshotMeta;
  totalFiles: number;
  files: SnapshotFile[];
  fileIndex: number;
  offset: number;
  writer: WritableFile | undefined;
  current: SnapshotFile | undefined;
  runningCrc: number;
}

/**
 * Receives one snapshot transfer at a time into `<dataDir>/snapshot-incoming-<id>`. Accepts only
 * the next expected chunk (duplicates and gaps are ignored and answered with the expected
 * position, so the sender can seek there). A chunk of a different snapshot whose index is not older
 * discards the partial transfer and starts over. Each file is checked against its size and whole-
 * file CRC32C and synced when complete; the directory is synced when the last file is.
 * REQUIRES: one receive() at a time (the driver awaits each).
 */
export class SnapshotReceiver {
  private readonly fs: FileSystem;
  private transfer: Transfer | undefined = undefined;
  /** The last transfer that completed: chunks of it are duplicates, never a new start. */
  private completed: { id: string; totalFiles: number } | undefined = undefined;
  private busy = false;

  constructor(private readonly dataDir: string, options: { fs: FileSystem }) {
    this.fs = options.fs;
  }

  /** The position the receiver expects next, or undefined when no transfer is in progress. */
  expected(): ChunkPosition | undefined {
    const t = this.transfer;
    return t === undefined ? undefined : { snapshotId: t.id, fileIndex: t.fileIndex, offset: t.offset };
  }

  async receive(chunk: SnapshotChunk): Promise<ReceiveResult> {
    assert(!this.busy, 'receive() while another receive() is running');
    this.busy = true;
    try {
      return await this.receiveInner(chunk);
    } catch (err) {
      // A bad chunk leaves the transfer as it was (the sender resends); any other failure (an IO
      // error mid-file) leaves its files in an unknown state: forget the transfer. Its files are
      // deleted when it restarts or at startup (openStateDir).
      if (!(err instanceof BadSnapshotChunkError)) this.forget();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private forget(): void {
    const t = this.transfer;
    this.transfer = undefined;
    t?.writer?.close();
  }

  /** Drops the partial transfer, if any, and its files. */
  abort(): void {
    const t = this.transfer;
    if (t === undefined) return;
    this.transfer = undefined;
    t.writer?.close();
    removeDirectory(this.fs, t.dir);
  }

  private async receiveInner(c: SnapshotChunk): Promise<ReceiveResult> {
    checkChunk(c);
    if (this.completed !== undefined && this.completed.id === c.snapshotId) {
      // A resend of a finished transfer: its directory may be awaiting install; leave it be.
      return { status: 'ignored', reason: 'finished', next: { snapshotId: c.snapshotId, fileIndex: this.completed.totalFiles, offset: 0 } };
    }
    let t = this.transfer;
    if (t === undefined || t.id !== c.snapshotId) {
      if (t !== undefined && c.meta.index < t.meta.index) {
        return { status: 'ignored', reason: 'stale', next: this.expected()! };
      }
      this.abort();
      t = this.start(c);
    }
    if (c.totalFiles !== t.totalFiles || !metaEqual(c.meta, t.meta)) {
      throw new BadSnapshotChunkError(`chunk of ${c.snapshotId} disagrees with the transfer's metadata`);
    }
    if (c.fileIndex !== t.fileIndex || c.offset !== t.offset) {
      const behind = c.fileIndex < t.fileIndex || (c.fileIndex === t.fileIndex && c.offset < t.offset);
      return { status: 'ignored', reason: behind ? 'duplicate' : 'gap', next: this.expected()! };
    }
    if (c.offset === 0) {
      assert(t.writer === undefined, 'a file is still open at offset 0');
      t.current = { name: c.fileName, size: c.fileSize, crc32c: c.fileCrc32c };
      if (t.files.some((f) => f.name === c.fileName)) throw new BadSnapshotChunkError(`file ${c.fileName} sent twice`);
      t.writer = this.fs.create(joinPath(t.dir, c.fileName));
      t.runningCrc = 0;
    } else {
      const f = t.current!;
      if (f.name !== c.fileName || f.size !== c.fileSize || f.crc32c !== c.fileCrc32c) {
        throw new BadSnapshotChunkError(`chunk of file ${c.fileIndex} disagrees with the file's first chunk`);
      }
    }
    t.writer!.append(c.data);
    t.runningCrc = crc32c(c.data, t.runningCrc);
    t.offset += c.data.length;
    if (t.offset < t.current!.size) return { status: 'accepted', next: this.expected()! };

    // The file is complete: check it whole, make it durable.
    const file = t.current!;
    const writer = t.writer!;
    t.writer = undefined;
    t.current = undefined;
    await writer.sync();
    writer.close();
    if (t.runningCrc !== file.crc32c) {
      this.abort();
      throw new CorruptionError(`snapshot ${c.snapshotId}: file ${file.name} fails its checksum; transfer discarded`, joinPath(t.dir, file.name));
    }
    t.files.push(file);
    t.fileIndex++;
    t.offset = 0;
    if (t.fileIndex < t.totalFiles) return { status: 'accepted', next: this.expected()! };
    await this.fs.syncDir(t.dir);
    await this.fs.syncDir(this.dataDir);
    this.transfer = undefined;
    this.completed = { id: t.id, totalFiles: t.totalFiles };
    return { status: 'complete', snapshot: { snapshotId: t.id, dir: t.dir, meta: cloneMeta(t.meta), files: t.files } };
  }

  private start(c: SnapshotChunk): Transfer {
    const dir = joinPath(this.dataDir, `${INCOMING_PREFIX}${c.snapshotId}`);
    this.fs.mkdirp(dir);
    removeFilesOf(this.fs, dir); // a leftover of an earlier attempt
    const t: Transfer = {
      id: c.snapshotId, dir, meta: cloneMeta(c.meta), totalFiles: c.totalFiles, files: [],
      fileIndex: 0, offset: 0, writer: undefined, current: undefined, runningCrc: 0,
    };
    this.transfer = t;
    return t;
  }
}
