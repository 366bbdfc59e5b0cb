/**
 * KvNode: one member of an lsmraft cluster, after etcd's etcdserver (a Raft node, its storage, its
 * peers and its clients in one process) with the driver loop of etcd-io/raft's README. This file
 * is the facade: it opens and wires the parts, holds the node's state, and serves the public API;
 * each concept lives in its own file:
 *   driver.ts            the Ready loop (persist, send, apply, advance) and maintenance turns
 *   ticker.ts            wall time -> Raft ticks
 *   request-path.ts      proposals and read barriers through the core, leader routing, re-sends
 *   membership-admin.ts  add/remove members, leadership transfer (at the leader)
 *   membership.ts        address book, conf change context, the JOIN handshake's decision
 *   join-target.ts       the JOIN handshake at the node asked to join
 *   frame-router.ts      peer and client frames -> the part that serves them
 *   client-service.ts    client requests -> this API -> client responses
 *   node-storage.ts      opening the data directory at startup (and its crash repairs)
 *   state-flush.ts       flushing the state tree so a restart re-applies a bounded part of the log
 *   replay-progress.ts   what a start re-applies (counted, timed)
 *   identity.ts          node id and cluster id on disk
 *   key-input.ts         keys, values and ranges checked at the API's edge
 *   snapshot/            checkpoints, chunks, sender, receiver, install, shipper
 *   node-options.ts      options, defaults, validation, transport and flow-control limits
 *   node-logger.ts       the node's structured logger (pino)
 *   node-monitor.ts      metrics, health and readiness, the HTTP status server (metrics.ts, http-status.ts)
 *   fresh-data-dir.ts    undoing a failed first start's data directory
 *
 * Reads and writes at a follower go through the Raft core: a proposal is forwarded to the leader
 * by the core ('prop'), a linearizable read asks the leader for a read index ('readIndex', Raft
 * thesis §6.4) and is served locally once this node applied that index. A request fails with
 * KV_ERR_NOT_LEADER only if no leader became known before its deadline.
 *
 * Data directory (all of it through the FileSystem of the options): IDENTITY, MEMBERS, log/
 * (RaftLogStore), STATE + state-N/ (KvStateMachine, see snapshot/install.ts), snapshots/
 * (checkpoints made for sending), snapshot-incoming-<id>/.
 *
 * What must hold: the Ready contract (driver.ts); stop() ends every timer, socket and waiter;
 * nothing a peer or client sends can crash the process (frame-router.ts).
 *
 * Why ~850 lines: about 170 are the constructor's wiring of the parts above (each gets closures
 * over this node's state rather than the node itself), and the rest is the public API (one short
 * method each) plus the driver's callbacks that change the node's own state (role, leader,
 * membership, removal, snapshot install), which need every part at once: the entry points of
 * backups (backup-source.ts), self-removal (removal-watch.ts) and session writes
 * (client-session.ts) are here, their logic is not. The next split is the driver callbacks
 * (onSoftState, onApplied, onConfChangeApplied, installSnapshotFromReady) into a file of their
 * own, once they take one narrow interface instead of the node's fields.
 */
import type { TreeStats } from '../lsm/db.js';
import { LsmraftError } from '../errors.js';
import type { FileSystem } from '../lsm/fs.js';
import { RawNode } from '../raft/raw-node.js';
import type { ConfChange, ConfState, Message, NodeId, Role, Snapshot, SoftState } from '../raft/types.js';
import { AssertionFailure, assert } from '../util/assert.js';
import { formatAddress, parseAddress } from './address.js';
import { removeCreatedDataDir, missingAncestor } from './fresh-data-dir.js';
import { serveClientRequest } from './client-service.js';
import { encodeMessage } from './codec.js';
import { RaftDriver } from './driver.js';
import { MembershipError, NodeRemovedError, NodeStoppedError, type LeaderInfo } from './errors.js';
import { FrameRouter } from './frame-router.js';
import { FrameType } from './frame.js';
import { formatClusterId, type NodeIdentity } from './identity.js';
import { JoinTarget } from './join-target.js';
import { toKey, toScanRange, toValue, type KeyInput } from './key-input.js';
import { ClientSession } from './client-session.js';
import { checkSessionTag, decodeKvCommand, stampCommand, type SessionTag } from './kv-command.js';
import type { RaftLogStore } from './log-store.js';
import { MembershipAdmin } from './membership-admin.js';
import { AddressBook, decodeMemberContext } from './membership.js';
import {
  FRAME_BYTES_MAX,
  PEER_CONNECT_TIMEOUT_MS,
  PEER_QUEUE_BYTES_MAX,
  PEER_QUEUE_FRAMES_MAX,
  raftConfig,
  REMOVAL_WATCH,
  RECONNECT_DELAY_MS_MAX,
  RECONNECT_DELAY_MS_MIN,
  resolveNodeOptions,
  type KvNodeOptions,
  type ResolvedNodeOptions,
} from './node-options.js';
import { lineLogger, type Logger } from './node-logger.js';
import { NodeMonitor } from './node-monitor.js';
import { memberList, nodeStatus, type MemberInfo, type NodeStatus } from './node-status.js';
import { closeNodeStorage, openNodeStorage } from './node-storage.js';
import { RemovalWatch } from './removal-watch.js';
import { RequestPath } from './request-path.js';
import { snapshotIdOf } from './snapshot/checkpoint.js';
import { installSnapshot } from './snapshot/install.js';
import { BackupSource, type BackupInfo } from './snapshot/backup-source.js';
import { SnapshotShipper } from './snapshot/shipper.js';
import { ReplayProgress } from './replay-progress.js';
import { StateFlusher } from './state-flush.js';
import { KvStateMachine, type ApplyResult } from './state-machine.js';
import { Ticker } from './ticker.js';
import { Transport } from './transport.js';

export type { KvNodeOptions } from './node-options.js';
export type { MemberInfo, NodeStatus } from './node-status.js';

export type { KeyInput } from './key-input.js';

export class KvNode {
  readonly id: NodeId;
  private readonly opts: ResolvedNodeOptions;
  private readonly fs: FileSystem;
  private readonly dataDir: string;
  private identity: NodeIdentity;
  private readonly logStore: RaftLogStore;
  private sm: KvStateMachine | undefined;
  private stateDir: string;
  private readonly transport: Transport;
  private advertise: string;
  private readonly book: AddressBook;
  private readonly path: RequestPath;
  private readonly admin: MembershipAdmin;
  private readonly join: JoinTarget;
  private readonly router: FrameRouter;
  private driver!: RaftDriver;
  private ticker!: Ticker;
  private removalWatch!: RemovalWatch;
  private role: Role = 'follower';
  /** The Raft term, as of the last Ready's hard state. */
  private term = 0;
  /** Term of the last applied entry: writes proposed before it are decided (request-path.ts). */
  private appliedTerm = 0;
  private leaderId: NodeId = 0;
  /** `removed`: this node applied its own removal; requests fail with KV_ERR_REMOVED until stop(). */
  private state: 'running' | 'removed' | 'stopping' | 'stopped' = 'running';
  private stopPromise: Promise<void> | undefined;
  private joining = false;
  /** Chain of address book writes (each waits for the one before). */
  private bookWrites: Promise<void> = Promise.resolve();
  private readonly snapshots: SnapshotShipper;
  private readonly backups: BackupSource;
  private readonly stateFlush: StateFlusher;
  private readonly replay: ReplayProgress;
  private snapshotsInstalled = 0;
  private readonly log: Logger;
  private readonly monitor: NodeMonitor;
  /** The session of this node's own API writes (put, delete): exactly-once like a client's. */
  private readonly ownSession: ClientSession;
  /** Wall time (ms) of the last Raft message received from each peer, for members()' lastContactMs. */
  private readonly lastHeardAt = new Map<NodeId, number>();
  /** Index of an applied removal of this node not yet final (see onConfChangeApplied). */
  private removalAppliedAt: number | undefined = undefined;

  private constructor(init: {
    opts: ResolvedNodeOptions; id: NodeId; dataDir: string; identity: NodeIdentity; logStore: RaftLogStore; sm: KvStateMachine; stateDir: string;
    book: AddressBook; address: string; listenAddress: string | undefined; storageOpenMs: number;
  }) {
    const opts = init.opts;
    this.opts = opts;
    this.fs = opts.fs;
    this.id = init.id;
    this.dataDir = init.dataDir;
    this.identity = init.identity;
    this.logStore = init.logStore;
    this.sm = init.sm;
    this.stateDir = init.stateDir;
    this.book = init.book;
    this.advertise = init.address;
    this.log = opts.logger;
    this.monitor = new NodeMonitor({
      log: this.log,
      isRunning: () => this.state === 'running',
      raft: () => (this.state === 'running' && this.driver !== undefined ? this.status() : undefined),
      pendingProposals: () => this.path.requests.size,
      trees: () => (this.state === 'running' ? this.trees() : []),
      peerTraffic: () => this.transport.peerTraffic(),
    });
    this.snapshots = new SnapshotShipper({
      nodeId: init.id,
      fs: opts.fs,
      dataDir: init.dataDir,
      logStore: init.logStore,
      snapshotEntries: opts.snapshotEntries,
      compactKeepEntries: opts.compactKeepEntries,
      transfer: opts.transfer,
      stateMachine: () => this.sm,
      isLeader: () => this.role === 'leader',
      isRunning: () => this.state === 'running',
      conf: () => this.driver.rawNode.status().conf,
      addressBook: () => this.book.encode(),
      sendRaft: (m) => this.transport.send(m.to, FrameType.RAFT, encodeMessage(m)),
      sendChunk: (to, payload) => this.transport.send(to, FrameType.SNAPSHOT_CHUNK, payload),
      reportSnapshot: (to, ok) => {
        this.monitor.snapshotReported(to, ok);
        this.driver.rawNode.reportSnapshot(to, ok);
        this.driver.kick();
      },
      fatal: (err) => this.onFatal(err),
      log: lineLogger(this.log.child({ component: 'snapshot' })),
    });
    this.backups = new BackupSource({
      fs: opts.fs,
      dataDir: init.dataDir,
      logStore: init.logStore,
      stateMachine: () => this.sm,
      conf: () => this.driver.rawNode.status().conf,
      kick: () => this.driver.kick(),
      log: lineLogger(this.log.child({ component: 'backup' })),
    }, opts.backup);
    this.stateFlush = new StateFlusher({
      entriesMax: opts.stateFlushEntriesMax,
      stateMachine: () => this.sm,
      log: lineLogger(this.log.child({ component: 'state' }), 'warn'),
      fatal: (err) => this.onFatal(err),
    });
    this.replay = new ReplayProgress(init.sm.appliedIndex, init.logStore.lastIndex(), init.storageOpenMs);
    const common = {
      id: init.id,
      log: lineLogger(this.log.child({ component: 'membership' })),
      isRunning: () => this.state === 'running',
      checkRunning: () => this.checkRunning(),
      rawNode: () => this.driver.rawNode,
      kick: () => this.driver.kick(),
      leaderId: () => this.leaderId,
      leader: () => this.leader,
      joining: () => this.joining,
      tickMs: opts.tickMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      dialNode: (address: string) => (opts.tls === undefined ? {} : { tls: opts.tls.dialPeer(parseAddress(address).host) }),
    };
    this.path = new RequestPath({
      ...common,
      random: opts.random,
      clockMs: opts.clockMs,
      currentTerm: () => this.currentTerm(),
    }, opts.pendingRequestsMax);
    this.admin = new MembershipAdmin({
      ...common,
      book: this.book,
      path: this.path,
      isLeader: () => this.role === 'leader',
      clusterId: () => this.identity.clusterId,
      address: () => this.advertise,
      addPeer: (id, address) => this.addPeer(id, address),
      appliedTerm: () => this.appliedTerm,
    });
    this.join = new JoinTarget({
      ...common,
      fs: opts.fs,
      dataDir: init.dataDir,
      logStore: init.logStore,
      clusterId: () => this.identity.clusterId,
      hasUserData: () => this.stateMachine().hasUserData(),
      conf: () => this.driver.rawNode.status().conf,
      setJoining: (joining) => {
        this.joining = joining;
      },
      pauseDriver: () => this.driver.pause(),
      resumeDriver: (raw) => this.driver.resume(raw),
      stateDir: () => this.stateDir,
      closeStateMachine: () => this.closeStateMachine(),
      reopenStateMachine: async () => {
        this.sm = await KvStateMachine.open(this.stateDir, this.opts.tree);
      },
      setIdentity: (identity) => {
        this.identity = identity;
      },
      resetPeers: (leaderId, leaderAddress) => this.resetPeers(leaderId, leaderAddress),
      forgetLeader: () => {
        this.role = 'follower';
        this.leaderId = 0;
      },
      newRawNode: () => this.newRawNode(),
      fatal: (err) => this.onFatal(err),
    });
    this.router = new FrameRouter({
      ...common,
      book: this.book,
      join: this.join,
      snapshots: this.snapshots,
      addPeer: (id, address) => this.addPeer(id, address),
      adoptBook: (book) => {
        this.book.replaceWith(book, this.id, this.advertise);
        for (const [pid, address] of this.book.entries()) if (pid !== this.id) this.transport.setPeer(pid, address);
        this.writeBook().catch(() => undefined); // a failure reaches onFatal through bookWrites
      },
      isRemoved: () => this.state === 'removed',
      serveClient: (req) => serveClientRequest(this, req),
      reply: (conn, type, payload) => this.transport.reply(conn, type, payload),
      step: (m) => {
        this.monitor.messageReceived(m);
        this.lastHeardAt.set(m.from, Date.now());
        this.driver.rawNode.step(this.role === 'leader' && m.type === 'prop' ? this.stamped(m) : m);
        this.driver.kick();
      },
    });
    this.ownSession = new ClientSession({
      register: () => this.registerSession(),
      keepAlive: (id) => this.keepAliveSession(id),
    }, opts.clockMs);
    const { host, port } = parseAddress(init.listenAddress ?? init.address);
    this.transport = new Transport({
      nodeId: init.id,
      clusterId: () => this.identity.clusterId,
      listenHost: host,
      listenPort: port,
      ...(init.listenAddress === undefined ? {} : { advertiseAddress: init.address }),
      frameBytesMax: FRAME_BYTES_MAX,
      peerQueueFramesMax: PEER_QUEUE_FRAMES_MAX,
      peerQueueBytesMax: PEER_QUEUE_BYTES_MAX,
      reconnectDelayMsMin: RECONNECT_DELAY_MS_MIN,
      reconnectDelayMsMax: RECONNECT_DELAY_MS_MAX,
      connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      random: opts.random,
      onFrame: (frame, conn) => this.router.onFrame(frame, conn),
      log: lineLogger(this.log.child({ component: 'transport' }), 'warn'),
    });
  }

  /**
   * Opens (or creates) the node's data directory and starts serving. A new data directory becomes
   * a one-member cluster with a fresh cluster id; an existing one resumes where it stopped (the
   * state tree re-applies the committed entries after its durable applied index).
   */
  static async start(options: KvNodeOptions): Promise<KvNode> {
    const opts = resolveNodeOptions(options);
    // A start that fails leaves the disk as it found it: what it created, it removes (a port in
    // use must not leave a half-made data directory that a retry would take for a member's).
    const created = missingAncestor(opts.fs, options.dataDir);
    try {
      const openedAtMs = performance.now();
      const storage = await openNodeStorage(opts, options.id, options.dataDir);
      const storageOpenMs = performance.now() - openedAtMs;
      try {
        const node = new KvNode({ opts, id: options.id, dataDir: options.dataDir, ...storage, address: options.address, listenAddress: options.listenAddress, storageOpenMs });
        await node.listenAndRun();
        return node;
      } catch (err) {
        await closeNodeStorage(storage);
        throw err;
      }
    } catch (err) {
      if (created !== undefined) removeCreatedDataDir(opts.fs, created, options.dataDir);
      throw err;
    }
  }

  private async listenAndRun(): Promise<void> {
    const bound = await this.transport.listen();
    try {
      if (this.opts.metricsAddress !== undefined) await this.monitor.listen(this.opts.metricsAddress);
      this.startRunning(bound);
    } catch (err) {
      // Nothing else has started; the listening sockets must not outlive the failed start.
      await this.monitor.stop();
      await this.transport.close();
      throw err;
    }
  }

  private startRunning(bound: { host: string; port: number }): void {
    // Started on port 0: announce the port the system picked.
    const asked = parseAddress(this.advertise);
    if (asked.port === 0) this.advertise = formatAddress(asked.host, bound.port);
    this.book.set(this.id, this.advertise);
    for (const [id, address] of this.book.entries()) if (id !== this.id) this.transport.setPeer(id, address);
    // The driver's storage, with WAL syncs and state batch commits timed (node-monitor.ts).
    this.driver = new RaftDriver(this.newRawNode(), this.monitor.timedLogStore(this.logStore), () => this.monitor.timedStateMachine(this.stateMachine()), {
      send: (m) => this.send(m),
      softState: (ss) => this.onSoftState(ss),
      applied: (results) => this.onApplied(results),
      confChangeApplied: (cc, conf, index) => this.onConfChangeApplied(cc, conf, index),
      readStates: (rs) => this.path.readStates(rs, this.sm?.appliedIndex ?? 0),
      appliedTo: (index, term) => {
        if (this.replay.applied(index)) {
          this.log.info({ component: 'state', replayed: this.replay.replayedEntries, ms: this.replay.replayMs }, `node ${this.id}: re-applied ${this.replay.replayedEntries} entries of the log after a restart`);
        }
        this.path.requests.appliedTo(index);
        if (this.removalAppliedAt !== undefined) {
          const st = this.driver.rawNode.status();
          const member = st.conf.voters.includes(this.id) || st.conf.learners.includes(this.id);
          if (member) this.removalAppliedAt = undefined;
          else if (index >= st.commit) {
            const at = this.removalAppliedAt;
            this.removalAppliedAt = undefined;
            this.becomeRemoved(`at index ${at}`);
          }
        }
        if (term > this.appliedTerm) {
          this.appliedTerm = term;
          this.path.requests.writesOverTakenBy(term);
        }
      },
      term: (term) => {
        this.term = term;
      },
      installSnapshot: (s) => this.installSnapshotFromReady(s),
      maintenance: async () => {
        const shipped = await this.snapshots.maintenance();
        const backedUp = await this.backups.maintenance();
        // After a snapshot (it flushed the tree), a flush is due only if entries came meanwhile.
        const flushed = await this.stateFlush.maintenance();
        return shipped || backedUp || flushed;
      },
      fatal: (err) => this.onFatal(err),
    });
    this.ticker = new Ticker(this.opts.tickMs, () => {
      this.driver.rawNode.tick();
      this.driver.kick();
    });
    this.ticker.start();
    this.monitor.start();
    this.removalWatch = new RemovalWatch({
      id: this.id,
      clusterId: () => formatClusterId(this.identity.clusterId),
      isMember: () => {
        const conf = this.driver.rawNode.status().conf;
        return conf.voters.includes(this.id) || conf.learners.includes(this.id);
      },
      appliedIndex: () => this.sm?.appliedIndex ?? 0,
      leaderKnown: () => this.leaderId !== 0 || this.joining,
      peerAddresses: () => [...this.book.entries()].filter(([id]) => id !== this.id).map(([, address]) => address),
      removed: (leaderId) => this.becomeRemoved(`as leader ${leaderId} reports (this node missed the entry)`),
    }, REMOVAL_WATCH);
    this.removalWatch.start();
    const st = this.driver.rawNode.status();
    this.log.info(
      {
        component: 'raft', address: this.advertise, cluster: formatClusterId(this.identity.clusterId), voters: st.conf.voters, applied: st.applied,
        metrics: this.monitor.address, toReplay: this.replay.pendingEntries,
      },
      `node ${this.id} started on ${this.advertise}`,
    );
    // A one-member cluster elects itself at once rather than after an election timeout.
    if (st.conf.voters.length === 1 && st.conf.voters[0] === this.id && st.conf.learners.length === 0) this.driver.rawNode.campaign();
    this.driver.kick();
  }

  private newRawNode(): RawNode {
    const sm = this.stateMachine();
    // The state tree restarts from its durable applied index; the core re-delivers what follows.
    // Below the log's snapshot there is nothing to re-deliver (the snapshot is applied state).
    const applied = Math.max(sm.appliedIndex, this.logStore.snapshot().meta.index);
    return new RawNode(raftConfig(this.id, this.opts, applied), this.logStore);
  }

  /** The HTTP status server's address (the bound port when asked for port 0), if it runs. */
  get metricsAddress(): string | undefined {
    return this.monitor.address;
  }

  /** The address peers and clients reach this node at (the bound port when started with port 0). */
  get address(): string {
    return this.advertise;
  }

  get clusterId(): bigint {
    return this.identity.clusterId;
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get leader(): LeaderInfo | undefined {
    if (this.leaderId === 0) return undefined;
    const address = this.book.get(this.leaderId);
    return address === undefined ? undefined : { id: this.leaderId, address };
  }

  /** The term a proposal made now is made at (the core's, which may be ahead of the last Ready). */
  private currentTerm(): number {
    return Math.max(this.term, this.driver.rawNode.status().term);
  }

  private trees(): Array<{ tree: 'log' | 'state'; stats: TreeStats }> {
    const out: Array<{ tree: 'log' | 'state'; stats: TreeStats }> = [{ tree: 'log', stats: this.logStore.lsm.stats() }];
    if (this.sm !== undefined) out.push({ tree: 'state', stats: this.sm.lsm.stats() });
    return out;
  }

  private stateMachine(): KvStateMachine {
    if (this.sm === undefined) throw new NodeStoppedError(`node ${this.id}: the state machine is being replaced by a snapshot; retry`);
    return this.sm;
  }

  private checkRunning(): void {
    if (this.state === 'removed') throw new NodeRemovedError(this.id);
    if (this.state !== 'running') throw new NodeStoppedError(`node ${this.id} is stopped`);
  }

  /** Local inspection (lsm g/r/s) needs the tree open only: a removed node's stays readable. */
  private checkOpen(): void {
    if (this.state !== 'running' && this.state !== 'removed') throw new NodeStoppedError(`node ${this.id} is stopped`);
  }

  // ---- public API: data ---------------------------------------------------------------------

  /**
   * Replicates key = value; resolves once it is committed and applied on this node. Exactly once:
   * the write goes through this node's own client session (client-session.ts).
   */
  async put(key: KeyInput, value: KeyInput): Promise<void> {
    const k = toKey(key);
    const v = toValue(value);
    await this.ownSession.run((tag) => this.sessionWrite({ type: 'put', key: k, value: v, ...tag }));
  }

  /** Replicates the deletion of key (exactly once, as put). */
  async delete(key: KeyInput): Promise<void> {
    const k = toKey(key);
    await this.ownSession.run((tag) => this.sessionWrite({ type: 'del', key: k, ...tag }));
  }

  /**
   * A write of client session `sessionId`, number `seq` (KvClient's, through the client service, or
   * this node's own). Resolves once applied here, or once a duplicate of it was answered from the
   * session table; rejects with KV_ERR_SESSION_EXPIRED / KV_ERR_SESSION_SEQ_DISCARDED when the
   * state machine refused it (not applied), with KV_ERR_TIMEOUT when its outcome is unknown.
   */
  async sessionWrite(write: ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }) & SessionTag): Promise<void> {
    checkSessionTag(write);
    const tag = { sessionId: write.sessionId, seq: write.seq, firstOutstandingSeq: write.firstOutstandingSeq };
    const k = toKey(write.key);
    if (write.type === 'put') {
      const v = toValue(write.value);
      await this.monitor.countFailure(this.path.proposeCommand((p) => ({ type: 'put', key: k, value: v, ...tag, ...p })).then(() => undefined));
    } else {
      await this.monitor.countFailure(this.path.proposeCommand((p) => ({ type: 'del', key: k, ...tag, ...p })).then(() => undefined));
    }
  }

  /** Registers a client session through Raft; resolves with its id (the register entry's index). */
  async registerSession(): Promise<number> {
    const id = await this.path.proposeCommand((p) => ({ type: 'register', ...p }));
    assert(id !== undefined, 'a register command was applied without a session id');
    return id;
  }

  /** Keeps client session `sessionId` alive; KV_ERR_SESSION_EXPIRED if it is gone. */
  async keepAliveSession(sessionId: number): Promise<void> {
    await this.path.proposeCommand((p) => ({ type: 'keepAlive', sessionId, ...p }));
  }

  /** Linearizable read (ReadIndex): sees every write acknowledged before it was called. */
  async get(key: KeyInput): Promise<Uint8Array | undefined> {
    const k = toKey(key);
    await this.path.readBarrier();
    return this.stateMachine().get(k);
  }

  /** Linearizable range read, both bounds inclusive (absent = unbounded), at most limit pairs. */
  async scan(from?: KeyInput, to?: KeyInput, limit = 1000): Promise<Array<[Uint8Array, Uint8Array]>> {
    const range = toScanRange(from, to, limit);
    await this.path.readBarrier();
    return this.stateMachine().scan(range.from, range.to, range.limit);
  }

  /**
   * Starts a client backup (snapshot/backup-source.ts): a read barrier, then a checkpoint of the
   * state tree at the applied index, so it holds every write acknowledged before the call.
   */
  async backupBegin(): Promise<BackupInfo> {
    this.checkRunning();
    await this.path.readBarrier();
    return this.backups.begin();
  }

  /** One encoded chunk (snapshot/chunk-codec.ts) of pending backup `id`. */
  backupChunk(id: string, fileIndex: number, offset: number, bytesMax: number): Uint8Array {
    this.checkRunning();
    return this.backups.chunk(id, fileIndex, offset, bytesMax);
  }

  /** Deletes pending backup `id` (a no-op if it is gone already). */
  backupEnd(id: string): void {
    this.checkRunning();
    this.backups.end(id);
  }

  /** This node's local state, no consensus (what `lsm g` shows): may lag the leader. */
  localGet(key: KeyInput): Uint8Array | undefined {
    this.checkOpen();
    return this.stateMachine().get(toKey(key));
  }

  /** This node's local range, both bounds inclusive (what `lsm r` shows). */
  localScan(from?: KeyInput, to?: KeyInput, limit = 1000): Array<[Uint8Array, Uint8Array]> {
    this.checkOpen();
    const range = toScanRange(from, to, limit);
    return this.stateMachine().scan(range.from, range.to, range.limit);
  }

  /** The state tree's structure: levels, files, sizes, key ranges (what `lsm s` prints). */
  lsmDescribe(): string {
    this.checkOpen();
    const d = this.stateMachine().describe();
    return `applied index ${d.appliedIndex} (durable ${d.durableAppliedIndex})\n${d.tree.toString()}`;
  }

  // ---- public API: cluster ------------------------------------------------------------------

  status(): NodeStatus {
    this.checkRunning();
    const snap = this.logStore.snapshot().meta;
    return nodeStatus(this.driver.rawNode.status(), this.book, {
      id: this.id,
      address: this.advertise,
      clusterId: formatClusterId(this.identity.clusterId),
      applied: this.sm?.appliedIndex,
      logFirstIndex: this.logStore.firstIndex(),
      logLastIndex: this.logStore.lastIndex(),
      snapshotIndex: snap.index,
      snapshotTerm: snap.term,
    });
  }

  /** The members as this node knows them (match indexes only on the leader). */
  members(): MemberInfo[] {
    this.checkRunning();
    return memberList(this.driver.rawNode.status(), this.book, this.id, this.lastHeardAt, Date.now());
  }

  /**
   * Adds node `id` listening at `address` as a voter. On a follower the request is forwarded to the
   * leader. The target must be an empty node (see membership.ts, the JOIN handshake); otherwise this
   * fails with KV_ERR_MEMBERSHIP naming the reason.
   */
  addMember(id: NodeId, address: string): Promise<void> {
    return this.admin.addMember(id, address);
  }

  /**
   * Removes member `id` (forwarded to the leader on a follower). To remove the leader itself, it
   * first hands leadership to the most caught-up other voter, which then removes it.
   */
  removeMember(id: NodeId): Promise<void> {
    return this.admin.removeMember(id);
  }

  /** Asks the leader to hand leadership to `id`; resolves once `id` leads. */
  transferLeadership(id: NodeId): Promise<void> {
    return this.admin.transferLeadership(id);
  }

  /**
   * Stops serving: timers, loop, sockets. Pending reads fail with KV_ERR_STOPPED; pending writes and
   * membership changes with KV_ERR_TIMEOUT (the others may still commit them). Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopPromise === undefined) this.stopPromise = this.stopInner();
    return this.stopPromise;
  }

  private async stopInner(): Promise<void> {
    this.state = 'stopping';
    this.ticker?.stop();
    this.removalWatch?.stop();
    await this.driver?.stop();
    this.backups.close();
    this.path.stop(new NodeStoppedError(`node ${this.id} stopped`));
    await this.snapshots.close();
    await this.transport.close();
    await this.bookWrites;
    await this.sm?.close();
    await this.logStore.close();
    await this.monitor.stop();
    this.state = 'stopped';
    this.log.info(`node ${this.id} stopped`);
  }

  private onFatal(err: unknown): void {
    if (err instanceof AssertionFailure) {
      // A bug: stop the process (an assertion failure is never swallowed).
      setImmediate(() => {
        throw err;
      });
      return;
    }
    this.log.fatal({ err }, `node ${this.id}: stopping on error: ${err instanceof Error ? err.message : String(err)}`);
    void this.stop().finally(() => this.opts.onFatal(err));
  }

  // ---- driver hooks -------------------------------------------------------------------------

  private send(m: Message): void {
    this.monitor.messageSent(m);
    if (m.type === 'snap') {
      this.snapshots.send(m);
      return;
    }
    if (this.transport.send(m.to, FrameType.RAFT, encodeMessage(m))) return;
    this.driver.rawNode.reportUnreachable(m.to);
    if (m.from !== this.id) return;
    if (m.type === 'prop') {
      const ids: number[] = [];
      for (const e of m.entries) {
        if (e.type !== 'normal' || e.data.length === 0) continue;
        const cmd = decodeKvCommand(e.data);
        if (cmd.proposerId === this.id) ids.push(cmd.proposalId);
      }
      this.path.unsent(ids, false);
    } else if (m.type === 'readIndex' && m.context !== undefined) {
      this.path.unsent([], true);
    }
  }

  /**
   * A proposal forwarded to this leader, its commands stamped with this leader's clock: the log's
   * time comes from leaders only (kv-command.ts, stampCommand; session-table.ts, log time).
   */
  private stamped(m: Message): Message {
    const nowMs = this.opts.clockMs();
    return { ...m, entries: m.entries.map((e) => (e.type === 'normal' && e.data.length > 0 ? { ...e, data: stampCommand(e.data, nowMs) } : e)) };
  }

  private onSoftState(ss: SoftState): void {
    const before = this.leaderId;
    this.role = ss.role;
    this.leaderId = ss.leader;
    if (before !== ss.leader) {
      this.monitor.leaderChanged(before, ss, this.driver.rawNode.status().term);
      this.path.leaderChanged(ss.leader);
    }
    if (ss.role !== 'leader') this.snapshots.leadershipLost();
  }

  private onApplied(results: readonly ApplyResult[]): void {
    for (const r of results) {
      if (r.kind === 'put' || r.kind === 'del' || r.kind === 'register' || r.kind === 'keepAlive') {
        if (r.proposerId === this.id) this.path.requests.writeApplied(r.proposalId, r);
      } else if (r.kind === 'rejected') {
        this.log.warn({ component: 'raft', index: r.index }, `node ${this.id}: entry ${r.index} is not a valid command, applied as a no-op: ${r.error.message}`);
      }
    }
  }

  private async onConfChangeApplied(cc: ConfChange, conf: ConfState, index: number): Promise<void> {
    const id = cc.nodeId;
    if (cc.type === 'removeVoter') {
      if (id !== this.id) {
        this.book.delete(id);
        this.transport.removePeer(id);
        this.lastHeardAt.delete(id);
      } else {
        // Not yet final: a node that catches up on a log where it was removed and later added
        // again (an operator replaced it under the same id) applies both. It is removed only if,
        // once every committed entry it knows of is applied, it is still out of the configuration.
        this.removalAppliedAt = index;
      }
    } else {
      // A committed add names its member's address (addMember checks it before proposing). One
      // that does not decode is logged; the member stays unreachable until a HELLO of its own
      // or a snapshot's address book names it.
      let address: string | undefined;
      try {
        address = decodeMemberContext(cc.context);
      } catch (err) {
        if (!(err instanceof MembershipError)) throw err;
        this.log.warn({ component: 'membership', index }, `node ${this.id}: ${cc.type} ${id} at ${index}: ${err.message}`);
      }
      if (address !== undefined && id !== this.id) this.addPeer(id, address);
    }
    this.book.retainMembers(conf, this.id);
    await this.writeBook();
    this.path.requests.confChangeApplied(cc.type, id);
    this.log.info(
      { component: 'membership', change: cc.type, member: id, index, voters: conf.voters, learners: conf.learners },
      `node ${this.id}: applied ${cc.type} ${id} at ${index}: voters [${conf.voters.join(',')}] learners [${conf.learners.join(',')}]`,
    );
  }

  /**
   * This node applied its own removal: it must not campaign (its ticker stops; the core would not
   * let a non-member campaign either), every new request fails at once with KV_ERR_REMOVED
   * (certainly not applied), and the requests waiting now fail at once too, rather than waiting out
   * their deadline. Those fail with KV_ERR_TIMEOUT, outcome unknown: a write this node forwarded may
   * have been committed after the removal entry, which this node will never apply. The driver keeps
   * running until stop(), so the Ready in progress completes.
   */
  private becomeRemoved(how: string): void {
    if (this.state !== 'running') return;
    this.state = 'removed';
    this.ticker.stop();
    this.removalWatch.stop();
    this.path.stop(new LsmraftError('KV_ERR_TIMEOUT', `node ${this.id} was removed from the cluster with this request pending; its outcome is unknown (ask another member)`));
    this.log.warn({ component: 'membership' }, `node ${this.id}: this node was removed from the cluster ${how}; it serves no more requests`);
    this.opts.onRemoved();
  }

  // ---- peers and the address book --------------------------------------------------------------

  private addPeer(id: NodeId, address: string): void {
    this.book.set(id, address);
    this.transport.setPeer(id, address);
  }

  /** Forgets every peer but the leader `leaderId` at `leaderAddress` (a join); persists the book. */
  private async resetPeers(leaderId: NodeId, leaderAddress: string): Promise<void> {
    for (const [id] of this.book.entries()) if (id !== this.id) this.transport.removePeer(id);
    this.book.replaceWith(new AddressBook(), this.id, this.advertise);
    this.book.set(leaderId, leaderAddress);
    await this.writeBook();
    this.transport.setPeer(leaderId, leaderAddress);
  }

  /** Persists the address book; writes are chained so the last one written is the newest. */
  private writeBook(): Promise<void> {
    const book = this.book;
    const write = this.bookWrites.then(() => book.write(this.fs, this.dataDir));
    this.bookWrites = write.catch((err) => this.onFatal(err));
    return write;
  }

  // ---- the state machine ----------------------------------------------------------------------

  /** Closes the state machine; requests meanwhile fail with KV_ERR_STOPPED (retry). */
  private async closeStateMachine(): Promise<void> {
    const old = this.stateMachine();
    this.sm = undefined;
    await old.close();
  }

  /** Ready step 1 for a snapshot: the state tree first, then the log (see snapshot/install.ts). */
  private async installSnapshotFromReady(s: Snapshot): Promise<void> {
    const id = snapshotIdOf(s);
    if (id === undefined) {
      // The bootstrap snapshot (an empty state at index 1): this node was emptied by its join.
      const sm = this.stateMachine();
      assert(sm.appliedIndex <= s.meta.index && !sm.hasUserData(), () => `empty snapshot at ${s.meta.index} over a state applied to ${sm.appliedIndex}`);
      await this.logStore.applySnapshot(s);
      return;
    }
    const received = this.snapshots.takeReceived(id);
    await this.monitor.timeInstall(async () => {
      await this.closeStateMachine();
      const { stateDir } = await installSnapshot(this.dataDir, received, { fs: this.fs });
      await this.logStore.applySnapshot(s);
      this.stateDir = stateDir;
      this.sm = await KvStateMachine.open(stateDir, this.opts.tree);
    });
    this.snapshotsInstalled++;
    this.replay.installed(s.meta.index);
    assert(this.sm?.appliedIndex === s.meta.index, () => `installed snapshot holds applied index ${this.sm?.appliedIndex}, expected ${s.meta.index}`);
    this.log.info({ component: 'snapshot', snapshot: id, index: s.meta.index, term: s.meta.term }, `node ${this.id}: installed snapshot ${id} at ${s.meta.index}`);
  }

  /**
   * Counters for tests and the bench. appliedOnStart: the state tree's durable applied index when
   * this node started; replayedEntries: entries of the log re-applied since (replay-progress.ts),
   * replayMs the time it took (undefined while it goes on), storageOpenMs the time opening the data
   * directory took before (the log tree's WAL replay and log scan among it); stateFlushes: background flushes of
   * the state tree started, stateFlushWaits: times the loop waited for one (state-flush.ts).
   */
  stats(): {
    snapshotsSent: number; snapshotsInstalled: number; readyTurns: number; logSyncs: number; transport: ReturnType<Transport['stats']>;
    appliedOnStart: number; replayedEntries: number; replayMs: number | undefined; storageOpenMs: number; stateFlushes: number; stateFlushWaits: number;
  } {
    const d = this.driver.stats;
    return {
      snapshotsSent: this.snapshots.snapshotsSent, snapshotsInstalled: this.snapshotsInstalled, readyTurns: d.turns, logSyncs: d.syncs, transport: this.transport.stats(),
      appliedOnStart: this.replay.appliedOnStart, replayedEntries: this.replay.replayedEntries, replayMs: this.replay.replayMs, storageOpenMs: Math.round(this.replay.storageOpenMs), stateFlushes: this.stateFlush.flushesStarted, stateFlushWaits: this.stateFlush.waits,
    };
  }
}
