/**
 * NodeUpkeep: the storage work a node does beside serving, run from the driver's maintenance
 * turn (driver.ts) and at snapshot installs: Raft snapshots made, shipped and received
 * (snapshot/shipper.ts), client backups kept for pulling (snapshot/backup-source.ts), and the
 * state tree's periodic flush that bounds the replay after a crash (state-flush.ts). It owns those
 * three parts and counts the snapshots installed; the node facade (kv-node.ts) routes to them.
 *
 * What must hold: maintenance() runs the three in this order and reports whether any did work
 * (the driver loops while one did); close() ends every backup and outgoing snapshot.
 */
import type { FileSystem } from '../lsm/fs.js';
import type { ConfState, Message, NodeId, Snapshot } from '../raft/types.js';
import type { RaftLogStore } from './log-store.js';
import type { NodeMonitor } from './node-monitor.js';
import { lineLogger, type Logger } from './node-logger.js';
import type { ResolvedNodeOptions } from './node-options.js';
import type { ReplayProgress } from './replay-progress.js';
import { BackupSource } from './snapshot/backup-source.js';
import { snapshotIdOf } from './snapshot/checkpoint.js';
import { SnapshotShipper } from './snapshot/shipper.js';
import { StateFlusher } from './state-flush.js';
import type { StateHolder } from './state-holder.js';

export interface NodeUpkeepDeps {
  id: NodeId;
  opts: ResolvedNodeOptions;
  fs: FileSystem;
  dataDir: string;
  logStore: RaftLogStore;
  stateTree: StateHolder;
  monitor: NodeMonitor;
  replay: ReplayProgress;
  log: Logger;
  isLeader(): boolean;
  isRunning(): boolean;
  conf(): ConfState;
  addressBook(): Uint8Array;
  sendRaft(m: Message): boolean;
  sendChunk(to: NodeId, payload: Uint8Array): boolean;
  /** The outcome of a snapshot sent to `to`, for the core (RawNode.reportSnapshot). */
  reportSnapshot(to: NodeId, ok: boolean): void;
  kick(): void;
  fatal(err: unknown): void;
}

export class NodeUpkeep {
  readonly snapshots: SnapshotShipper;
  readonly backups: BackupSource;
  readonly stateFlush: StateFlusher;
  private installed = 0;

  constructor(private readonly d: NodeUpkeepDeps) {
    const { opts } = d;
    const stateMachine = () => d.stateTree.current;
    this.snapshots = new SnapshotShipper({
      nodeId: d.id,
      fs: d.fs,
      dataDir: d.dataDir,
      logStore: d.logStore,
      snapshotEntries: opts.snapshotEntries,
      compactKeepEntries: opts.compactKeepEntries,
      transfer: opts.transfer,
      stateMachine,
      isLeader: d.isLeader,
      isRunning: d.isRunning,
      conf: d.conf,
      addressBook: d.addressBook,
      sendRaft: d.sendRaft,
      sendChunk: d.sendChunk,
      reportSnapshot: (to, ok) => {
        d.monitor.snapshotReported(to, ok);
        d.reportSnapshot(to, ok);
      },
      fatal: d.fatal,
      log: lineLogger(d.log.child({ component: 'snapshot' })),
    });
    this.backups = new BackupSource({
      fs: d.fs,
      dataDir: d.dataDir,
      logStore: d.logStore,
      stateMachine,
      conf: d.conf,
      kick: d.kick,
      log: lineLogger(d.log.child({ component: 'backup' })),
    }, opts.backup);
    this.stateFlush = new StateFlusher({
      entriesMax: opts.stateFlushEntriesMax,
      stateMachine,
      log: lineLogger(d.log.child({ component: 'state' }), 'warn'),
      fatal: d.fatal,
    });
  }

  /** Snapshots installed from a Ready since the start. */
  get snapshotsInstalled(): number {
    return this.installed;
  }

  /** The driver's maintenance turn: whether any part did work. */
  async maintenance(): Promise<boolean> {
    const shipped = await this.snapshots.maintenance();
    const backedUp = await this.backups.maintenance();
    // After a snapshot (it flushed the tree), a flush is due only if entries came meanwhile.
    const flushed = await this.stateFlush.maintenance();
    return shipped || backedUp || flushed;
  }

  /** Ready step 1 for a snapshot: the state tree first, then the log (state-holder.ts). */
  async install(s: Snapshot): Promise<void> {
    const id = snapshotIdOf(s);
    if (id === undefined) return this.d.stateTree.installEmpty(s);
    const received = this.snapshots.takeReceived(id);
    await this.d.monitor.timeInstall(() => this.d.stateTree.install(s, received));
    this.installed++;
    this.d.replay.installed(s.meta.index);
    this.d.log.info({ component: 'snapshot', snapshot: id, index: s.meta.index, term: s.meta.term }, `node ${this.d.id}: installed snapshot ${id} at ${s.meta.index}`);
  }

  /** Ends pending backups and outgoing snapshots (KvNode.stop, after the driver stopped). */
  async close(): Promise<void> {
    this.backups.close();
    await this.snapshots.close();
  }
}
