/**
 * Moving a Raft snapshot between two nodes over the transport, after etcd's rafthttp snapshot
 * sender: the leader streams the checkpoint's files in checksummed chunks (chunk-codec.ts) as
 * SNAPSHOT_CHUNK frames, the follower answers each with a SNAPSHOT_ACK naming the position it
 * expects next, and only when the follower holds the whole file set does the leader send the Raft
 * 'snap' message and report the outcome to its core (RawNode.reportSnapshot).
 *
 * Flow control: at most windowChunks chunks are unacknowledged. A lost chunk or ack (a dropped
 * connection drops its queue) is recovered by resending from the last acknowledged position after
 * resendAfterMs without an ack; after stallRetriesMax such resends without progress, the transfer
 * fails (reportSnapshot(false)) and the core retries later. An 'ignored' ack (duplicate, gap) moves
 * the sender to the position the receiver expects: a transfer resumes instead of restarting.
 *
 * ChunkCursor produces a snapshot's chunks in order (file by file); SnapshotSender is the one
 * sender of a snapshot to one follower, driving a cursor under the window and resend rules above.
 */
import { crc32c } from '../../format/crc32c.js';
import { CorruptionError } from '../../errors.js';
import { joinPath } from '../../lsm/filenames.js';
import type { FileSystem } from '../../lsm/fs.js';
import type { Message, NodeId } from '../../raft/types.js';
import { assert } from '../../util/assert.js';
import { cloneMeta, type LocalSnapshot } from './checkpoint.js';
import {
  encodeSnapshotChunk,
  SNAPSHOT_CHUNK_BYTES,
  SNAPSHOT_CHUNK_BYTES_MAX,
  SNAPSHOT_FILES_MAX,
  type ChunkPosition,
  type SnapshotAck,
  type SnapshotChunk,
} from './chunk-codec.js';

/**
 * Produces the chunks of a local snapshot in order: file by file, each in pieces of at most
 * chunkBytes (an empty file is one empty chunk). seek() moves the cursor to where a receiver
 * reported it stands, to resume a transfer.
 */
export class ChunkCursor {
  private fileIndex = 0;
  private offset = 0;
  private readonly fs: FileSystem;
  private readonly chunkBytes: number;

  constructor(readonly snapshot: LocalSnapshot, options: { fs: FileSystem; chunkBytes?: number }) {
    this.fs = options.fs;
    this.chunkBytes = options.chunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    assert(Number.isInteger(this.chunkBytes) && this.chunkBytes >= 1 && this.chunkBytes <= SNAPSHOT_CHUNK_BYTES_MAX, 'bad chunkBytes');
    assert(snapshot.files.length >= 1 && snapshot.files.length <= SNAPSHOT_FILES_MAX, 'snapshot without files');
  }

  /** True once every chunk was produced. */
  get finished(): boolean {
    return this.fileIndex >= this.snapshot.files.length;
  }

  /** Chunks a transfer takes in all. */
  get totalChunks(): number {
    let n = 0;
    for (const f of this.snapshot.files) n += Math.max(1, Math.ceil(f.size / this.chunkBytes));
    return n;
  }

  /**
   * Continues from `pos` (a receiver's expected position; fileIndex = file count means the receiver
   * has everything, and the sender is finished). A position of another snapshot, or one that does
   * not fit this snapshot's files, restarts from the beginning.
   */
  seek(pos: ChunkPosition): void {
    const files = this.snapshot.files;
    if (pos.snapshotId === this.snapshot.id && pos.fileIndex === files.length && pos.offset === 0) {
      this.fileIndex = files.length;
      this.offset = 0;
      return;
    }
    if (pos.snapshotId !== this.snapshot.id || pos.fileIndex > files.length || pos.offset > (files[pos.fileIndex]?.size ?? -1)) {
      this.fileIndex = 0;
      this.offset = 0;
      return;
    }
    this.fileIndex = pos.fileIndex;
    this.offset = pos.offset;
  }

  /** The next chunk, or undefined when finished. */
  next(): SnapshotChunk | undefined {
    if (this.finished) return undefined;
    const files = this.snapshot.files;
    const file = files[this.fileIndex]!;
    const length = Math.min(this.chunkBytes, file.size - this.offset);
    let data: Uint8Array = new Uint8Array(0);
    if (length > 0) {
      const f = this.fs.openRead(joinPath(this.snapshot.dir, file.name));
      try {
        data = f.read(this.offset, length);
      } finally {
        f.close();
      }
      if (data.length !== length) throw new CorruptionError('snapshot file is shorter than recorded', joinPath(this.snapshot.dir, file.name), this.offset);
    }
    const lastOfFile = this.offset + length === file.size;
    const chunk: SnapshotChunk = {
      snapshotId: this.snapshot.id,
      meta: cloneMeta(this.snapshot.meta),
      totalFiles: files.length,
      fileIndex: this.fileIndex,
      fileName: file.name,
      fileSize: file.size,
      fileCrc32c: file.crc32c,
      offset: this.offset,
      data,
      crc32c: crc32c(data),
      done: lastOfFile && this.fileIndex === files.length - 1,
    };
    if (lastOfFile) {
      this.fileIndex++;
      this.offset = 0;
    } else {
      this.offset += length;
    }
    return chunk;
  }
}

export interface SenderDeps {
  /** Where the snapshot's files are read. */
  fs: FileSystem;
  /** Queues a SNAPSHOT_CHUNK payload for the peer; false when dropped (queue full, peer down). */
  sendChunk: (peerId: NodeId, payload: Uint8Array) => boolean;
  /** The transfer ended: on success the driver sends `message` (the 'snap') and reports ok. */
  done: (peerId: NodeId, ok: boolean, why: string) => void;
  log: (line: string) => void;
}

export interface TransferOptions {
  chunkBytes: number;
  windowChunks: number;
  resendAfterMs: number;
  stallRetriesMax: number;
}

export const TRANSFER_DEFAULTS: TransferOptions = { chunkBytes: SNAPSHOT_CHUNK_BYTES, windowChunks: 8, resendAfterMs: 1000, stallRetriesMax: 5 };

/** One snapshot on its way to one peer. */
export class SnapshotSender {
  private readonly cursor: ChunkCursor;
  private inFlight = 0;
  private lastAcked: ChunkPosition;
  /**
   * The position the sender last went back to because the receiver expected it. Every chunk sent
   * after a lost one draws an ack naming that same position: only the first of them rewinds (one
   * resend per loss, not one per ack, which would multiply the traffic with every round).
   */
  private rewoundTo: ChunkPosition | undefined;
  private stalls = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  readonly startedMs = Date.now();

  constructor(
    readonly peerId: NodeId,
    readonly local: LocalSnapshot,
    /** The Raft 'snap' message to deliver once the files are there. */
    readonly message: Message,
    private readonly deps: SenderDeps,
    private readonly opts: TransferOptions,
  ) {
    this.cursor = new ChunkCursor(local, { fs: deps.fs, chunkBytes: opts.chunkBytes });
    this.lastAcked = { snapshotId: local.id, fileIndex: 0, offset: 0 };
  }

  get active(): boolean {
    return !this.ended;
  }

  start(): void {
    this.deps.log(`snapshot ${this.local.id} -> node ${this.peerId}: ${this.local.files.length} files, ${this.cursor.totalChunks} chunks`);
    this.pump();
  }

  onAck(ack: SnapshotAck): void {
    if (this.ended || ack.position.snapshotId !== this.local.id) return;
    if (ack.status === 'failed') {
      this.finish(false, `node ${this.peerId} failed to store the snapshot`);
      return;
    }
    if (ack.status === 'complete') {
      this.finish(true, 'complete');
      return;
    }
    const p = ack.position;
    const ahead = p.fileIndex > this.lastAcked.fileIndex || (p.fileIndex === this.lastAcked.fileIndex && p.offset > this.lastAcked.offset);
    if (ahead) {
      this.stalls = 0;
      this.lastAcked = p;
      this.rewoundTo = undefined;
      this.inFlight = Math.max(0, this.inFlight - 1);
    } else if (this.rewoundTo === undefined || this.rewoundTo.fileIndex !== p.fileIndex || this.rewoundTo.offset !== p.offset) {
      // The receiver still expects p (a chunk was lost) or an earlier position (it restarted):
      // go back there, once.
      this.rewind(p);
    } else {
      return; // already resent from p; the timer covers a lost resend
    }
    this.pump();
  }

  private rewind(p: ChunkPosition): void {
    this.lastAcked = p;
    this.rewoundTo = p;
    this.cursor.seek(p);
    this.inFlight = 0;
  }

  abort(why: string): void {
    this.finish(false, why);
  }

  private pump(): void {
    // At most windowChunks passes: each sends one chunk.
    while (!this.ended && this.inFlight < this.opts.windowChunks && !this.cursor.finished) {
      const chunk = this.cursor.next();
      assert(chunk !== undefined, 'cursor not finished but no chunk');
      if (!this.deps.sendChunk(this.peerId, encodeSnapshotChunk(chunk))) {
        // Dropped (queue full, peer down): resend from the last acknowledged position when the
        // timer fires.
        break;
      }
      this.inFlight++;
    }
    this.armTimer();
  }

  private armTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.ended) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.ended) return;
      this.stalls++;
      if (this.stalls > this.opts.stallRetriesMax) {
        this.finish(false, `no progress for ${this.stalls * this.opts.resendAfterMs} ms`);
        return;
      }
      this.rewind(this.lastAcked);
      this.pump();
    }, this.opts.resendAfterMs);
    this.timer.unref();
  }

  private finish(ok: boolean, why: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.deps.done(this.peerId, ok, why);
  }
}
