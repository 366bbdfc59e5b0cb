/**
 * Moving a Raft snapshot between two nodes over the transport, after etcd's rafthttp snapshot
 * sender: the leader streams the checkpoint's files in checksummed chunks (snapshot.ts) as
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
 * SNAPSHOT_ACK payload, version 1:
 *   byte version = 1 | byte status (1 = next, 2 = complete, 3 = failed) | varint id length, id bytes
 *   | varint fileIndex | varint offset
 */
import type { Message, NodeId } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { fromUtf8, getVarint, putVarint, utf8, varintLength, type VarintRead } from '../util/bytes.js';
import { BadFrameError } from './errors.js';
import { encodeSnapshotChunk, SnapshotSender, type ChunkPosition, type LocalSnapshot } from './snapshot.js';

export const SNAPSHOT_ACK_VERSION = 1;

export type SnapshotAck =
  | { status: 'next'; position: ChunkPosition }
  | { status: 'complete'; position: ChunkPosition }
  | { status: 'failed'; position: ChunkPosition };

const ACK_STATUS_CODES = { next: 1, complete: 2, failed: 3 } as const;
const ACK_STATUS_BY_CODE = [undefined, 'next', 'complete', 'failed'] as const;

export function encodeSnapshotAck(ack: SnapshotAck): Uint8Array {
  const id = utf8(ack.position.snapshotId);
  const { fileIndex, offset } = ack.position;
  const out = new Uint8Array(2 + varintLength(id.length) + id.length + varintLength(fileIndex) + varintLength(offset));
  out[0] = SNAPSHOT_ACK_VERSION;
  out[1] = ACK_STATUS_CODES[ack.status];
  let pos = putVarint(out, 2, id.length);
  out.set(id, pos);
  pos += id.length;
  pos = putVarint(out, pos, fileIndex);
  pos = putVarint(out, pos, offset);
  assert(pos === out.length, 'snapshot ack size');
  return out;
}

export function decodeSnapshotAck(b: Uint8Array): SnapshotAck {
  const bad = (why: string): never => {
    throw new BadFrameError(`malformed snapshot ack: ${why}`);
  };
  if (b.length < 5 || b[0] !== SNAPSHOT_ACK_VERSION) bad('bad version or length');
  const status = ACK_STATUS_BY_CODE[b[1]!];
  if (status === undefined) return bad(`unknown status ${b[1]}`);
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(b, 2, b.length, r);
  if (r.pos < 0 || r.value > 128 || r.pos + r.value > b.length) bad('bad id');
  const snapshotId = fromUtf8(b.subarray(r.pos, r.pos + r.value));
  getVarint(b, r.pos + r.value, b.length, r);
  if (r.pos < 0) bad('bad file index');
  const fileIndex = r.value;
  getVarint(b, r.pos, b.length, r);
  if (r.pos !== b.length) bad('bad offset or trailing bytes');
  return { status, position: { snapshotId, fileIndex, offset: r.value } };
}

export interface TransferDeps {
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

export const TRANSFER_DEFAULTS: TransferOptions = { chunkBytes: 256 * 1024, windowChunks: 8, resendAfterMs: 1000, stallRetriesMax: 5 };

/** One snapshot on its way to one peer. */
export class OutgoingTransfer {
  private readonly sender: SnapshotSender;
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
    private readonly deps: TransferDeps,
    private readonly opts: TransferOptions,
  ) {
    this.sender = new SnapshotSender(local, { chunkBytes: opts.chunkBytes });
    this.lastAcked = { snapshotId: local.id, fileIndex: 0, offset: 0 };
  }

  get active(): boolean {
    return !this.ended;
  }

  start(): void {
    this.deps.log(`snapshot ${this.local.id} -> node ${this.peerId}: ${this.local.files.length} files, ${this.sender.totalChunks} chunks`);
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
    this.sender.seek(p);
    this.inFlight = 0;
  }

  abort(why: string): void {
    this.finish(false, why);
  }

  private pump(): void {
    // At most windowChunks passes: each sends one chunk.
    while (!this.ended && this.inFlight < this.opts.windowChunks && !this.sender.finished) {
      const chunk = this.sender.next();
      assert(chunk !== undefined, 'sender not finished but no chunk');
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
