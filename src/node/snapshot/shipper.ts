/**
 * The node's snapshot duties around the Raft core, after etcdserver's snapshot handling (it makes a
 * snapshot every SnapshotCount applied entries and compacts the log behind it; a 'snap' message
 * for a follower is held until the snapshot's files are streamed):
 *   - leader side: every snapshotEntries applied entries, checkpoint the state tree, record the
 *     snapshot in the log store and compact the log (keeping compactKeepEntries behind it); when the
 *     core wants to send a 'snap', stream the newest local snapshot (making one first if none is
 *     recent enough: an installed snapshot has no local files) and only then deliver the message;
 *   - follower side: receive chunks into snapshot-incoming-<id>/ and acknowledge each; keep the one
 *     complete transfer until the core's Ready asks to install it (the node's Ready hook, then install.ts).
 *
 * What must hold: snapshots are made only between Ready turns (no apply runs meanwhile); the log is
 * compacted only up to the state tree's durable applied index (a checkpoint flushes, so that is the
 * snapshot index); a local snapshot's files are deleted only when no transfer still reads them.
 */
import { LsmraftError } from '../../errors.js';
import type { FileSystem } from '../../lsm/fs.js';
import type { ConfState, Message, NodeId, Snapshot } from '../../raft/types.js';
import { assert } from '../../util/assert.js';
import { BadFrameError } from '../errors.js';
import type { RaftLogStore } from '../log-store.js';
import type { KvStateMachine } from '../state-machine.js';
import { createSnapshot, localSnapshotsDir, removeLocalSnapshot, snapshotData, snapshotIdOf, type LocalSnapshot } from './checkpoint.js';
import { BadSnapshotChunkError, decodeSnapshotAck, decodeSnapshotChunk, encodeSnapshotAck } from './chunk-codec.js';
import { SnapshotReceiver, type ReceivedSnapshot } from './receiver.js';
import { SnapshotSender, type TransferOptions } from './sender.js';

export interface ShipperDeps {
  nodeId: NodeId;
  fs: FileSystem;
  dataDir: string;
  logStore: RaftLogStore;
  snapshotEntries: number;
  compactKeepEntries: number;
  transfer: TransferOptions;
  stateMachine(): KvStateMachine | undefined;
  isLeader(): boolean;
  isRunning(): boolean;
  /** The configuration as of the applied index. */
  conf(): ConfState;
  /** The address book, encoded, sent as the 'snap' message's context. */
  addressBook(): Uint8Array;
  sendRaft(m: Message): boolean;
  sendChunk(to: NodeId, payload: Uint8Array): boolean;
  reportSnapshot(to: NodeId, ok: boolean): void;
  fatal(err: unknown): void;
  log(line: string): void;
}

export class SnapshotShipper {
  private latestLocal: LocalSnapshot | undefined;
  /** 'snap' messages waiting for a local snapshot recent enough, by follower. */
  private readonly wanted = new Map<NodeId, Message>();
  private readonly transfers = new Map<NodeId, SnapshotSender>();
  /** Index of the last conf change (addLearner, addVoter) this node applied for each member. */
  private readonly addedAt = new Map<NodeId, number>();
  private readonly receiver: SnapshotReceiver;
  private received: ReceivedSnapshot | undefined;
  private receiveChain: Promise<void> = Promise.resolve();
  snapshotsSent = 0;

  constructor(private readonly d: ShipperDeps) {
    this.receiver = new SnapshotReceiver(d.dataDir, { fs: d.fs });
  }

  // ---- leader side ----

  /** The core wants `m` ('snap') sent: stream the files first (maintenance makes them if needed). */
  send(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'snap message without a snapshot');
    // A node whose id is reused (an operator removed node N, wiped it and adds it back) must get
    // a snapshot taken after the entry that added it, never one of a configuration it had in an
    // earlier life: the bootstrap snapshot's (voters [N] only) would make it a one-member cluster
    // that elects itself, with the cluster's id. So the bootstrap snapshot goes only to nodes it
    // does not name, and any other is at least as recent as the receiver's addition (maintenance).
    if (snapshotIdOf(s) === undefined && s.meta.index <= 1 && !s.meta.conf.voters.includes(m.to)) {
      // The bootstrap snapshot: an empty state at index 1, nothing to stream.
      const ok = this.d.sendRaft({ ...m, context: this.d.addressBook() });
      this.d.reportSnapshot(m.to, ok);
      return;
    }
    if (this.transfers.get(m.to)?.active === true) return;
    this.wanted.set(m.to, m);
  }

  /** This node applied the conf change at `index` that added member `id` (as learner or voter). */
  memberAdded(id: NodeId, index: number): void {
    this.addedAt.set(id, index);
  }

  /** Leadership lost: transfers stop (the next leader's core asks again). */
  leadershipLost(): void {
    for (const t of this.transfers.values()) t.abort('no longer leader');
    this.wanted.clear();
  }

  onAck(from: NodeId, payload: Uint8Array): void {
    const ack = decodeSnapshotAck(payload);
    this.transfers.get(from)?.onAck(ack);
  }

  /**
   * Between Ready turns: starts the transfers followers wait for (making a snapshot first if no
   * local one is recent enough), and makes a snapshot every snapshotEntries applied entries.
   * Resolves true if it did something.
   */
  async maintenance(): Promise<boolean> {
    const sm = this.d.stateMachine();
    if (sm === undefined || !this.d.isRunning()) return false;
    const snapIndex = this.d.logStore.snapshot().meta.index;
    if (this.wanted.size > 0 && this.d.isLeader()) {
      let wantedIndex = 0;
      for (const [peer, m] of this.wanted) wantedIndex = Math.max(wantedIndex, m.snapshot!.meta.index, this.addedAt.get(peer) ?? 0);
      if (this.latestLocal === undefined || this.latestLocal.meta.index < wantedIndex) {
        if (sm.appliedIndex <= snapIndex) return false; // wait for the next applied entry
        await this.makeSnapshot(sm);
      }
      const local = this.latestLocal!;
      for (const [peer, m] of this.wanted) this.startTransfer(peer, m, local);
      this.wanted.clear();
      return true;
    }
    if (sm.appliedIndex - snapIndex >= this.d.snapshotEntries) {
      await this.makeSnapshot(sm);
      return true;
    }
    return false;
  }

  private async makeSnapshot(sm: KvStateMachine): Promise<void> {
    const store = this.d.logStore;
    const index = sm.appliedIndex;
    const conf = this.d.conf();
    const local = await createSnapshot(sm, localSnapshotsDir(this.d.dataDir), { index, term: store.term(index), conf }, { fs: this.d.fs });
    await store.createSnapshot(index, conf, snapshotData(local.id));
    const compactTo = index - this.d.compactKeepEntries;
    // The state tree has no WAL: entries after its durable applied index exist only in the log, and
    // a restart re-applies them from there (log-store.ts, compact's REQUIRES).
    assert(compactTo <= sm.durableAppliedIndex, () => `log compaction to ${compactTo} past the state tree's durable applied index ${sm.durableAppliedIndex}`);
    if (compactTo > store.firstIndex() - 1) await store.compact(compactTo);
    const previous = this.latestLocal;
    this.latestLocal = local;
    if (previous !== undefined) this.removeIfUnused(previous);
    this.d.log(`node ${this.d.nodeId}: snapshot ${local.id} at ${index}, log starts at ${store.firstIndex()}`);
  }

  private removeIfUnused(local: LocalSnapshot): void {
    if (this.latestLocal === local) return;
    for (const t of this.transfers.values()) if (t.active && t.local === local) return;
    removeLocalSnapshot(this.d.fs, local);
  }

  private startTransfer(peer: NodeId, m: Message, local: LocalSnapshot): void {
    const t = new SnapshotSender(peer, local, m, {
      fs: this.d.fs,
      sendChunk: (to, payload) => this.d.sendChunk(to, payload),
      done: (to, ok, why) => {
        if (this.transfers.get(to) === t) this.transfers.delete(to);
        this.removeIfUnused(local);
        if (!this.d.isRunning() || !this.d.isLeader()) return;
        let sent = false;
        if (ok) {
          const snapshot: Snapshot = { meta: local.meta, data: snapshotData(local.id) };
          sent = this.d.sendRaft({ ...m, snapshot, context: this.d.addressBook() });
          if (sent) this.snapshotsSent++;
        }
        this.d.log(`node ${this.d.nodeId}: snapshot ${local.id} to node ${to}: ${sent ? 'sent' : `failed (${ok ? 'snap message dropped' : why})`}`);
        this.d.reportSnapshot(to, sent);
      },
      log: this.d.log,
    }, this.d.transfer);
    this.transfers.set(peer, t);
    t.start();
  }

  // ---- follower side ----

  /** A SNAPSHOT_CHUNK payload: decoded now (a bad one closes the connection), stored in order. */
  onChunk(payload: Uint8Array, reply: (ackPayload: Uint8Array) => void): void {
    let chunk;
    try {
      chunk = decodeSnapshotChunk(payload);
    } catch (err) {
      if (err instanceof BadSnapshotChunkError) throw new BadFrameError(err.message);
      throw err;
    }
    this.receiveChain = this.receiveChain.then(async () => {
      if (!this.d.isRunning()) return;
      let ack: Uint8Array;
      try {
        const r = await this.receiver.receive(chunk);
        if (r.status === 'complete') {
          this.received = r.snapshot;
          ack = encodeSnapshotAck({ status: 'complete', position: { snapshotId: r.snapshot.snapshotId, fileIndex: r.snapshot.files.length, offset: 0 } });
          this.d.log(`node ${this.d.nodeId}: received snapshot ${r.snapshot.snapshotId} (${r.snapshot.files.length} files)`);
        } else {
          ack = encodeSnapshotAck({ status: 'next', position: r.next });
        }
      } catch (err) {
        if (!(err instanceof LsmraftError)) throw err;
        this.d.log(`node ${this.d.nodeId}: snapshot chunk refused: ${err.message}`);
        this.receiver.abort();
        ack = encodeSnapshotAck({ status: 'failed', position: { snapshotId: chunk.snapshotId, fileIndex: 0, offset: 0 } });
      }
      reply(ack);
    }).catch((err) => this.d.fatal(err));
  }

  /** Whether the files of snapshot `id` are here (a 'snap' message naming it may be stepped). */
  hasReceived(id: string): boolean {
    return this.received?.snapshotId === id;
  }

  /** Hands the received snapshot `id` over for installation. */
  takeReceived(id: string): ReceivedSnapshot {
    const r = this.received;
    assert(r !== undefined && r.snapshotId === id, () => `snapshot ${id} to install was not received`);
    this.received = undefined;
    return r;
  }

  /** Stops transfers and waits for the chunk being stored. */
  async close(): Promise<void> {
    for (const t of this.transfers.values()) t.abort('node stopping');
    this.wanted.clear();
    await this.receiveChain;
    this.receiver.abort();
  }
}
