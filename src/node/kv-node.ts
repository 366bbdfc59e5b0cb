/**
 * KvNode: one member of an lsmraft cluster, after etcd's etcdserver (a Raft node, its storage, its
 * peers and its clients in one process) with the driver loop of etcd-io/raft's README. This file
 * is the facade: it opens and wires the parts, holds the node's state, and serves the public API;
 * each concept lives in its own file, listed with what it does in docs/architecture.md ("Facades
 * and the files behind them").
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
import { NodeRemovedError, NodeStoppedError, type LeaderInfo } from './errors.js';
import { FrameRouter } from './frame-router.js';
import { FrameType } from './frame.js';
import { formatClusterId, type NodeIdentity } from './identity.js';
import { JoinTarget } from './join-target.js';
import { toKey, toScanRange, toValue, type KeyInput } from './key-input.js';
import { ClientSession } from './client-session.js';
import { stampProposal } from './kv-command.js';
import type { RaftLogStore } from './log-store.js';
import { MembershipAdmin } from './membership-admin.js';
import type { AddressBook } from './membership.js';
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
import { memberList, nodeStatus, type MemberInfo, type NodeStats, type NodeStatus } from './node-status.js';
import { closeNodeStorage, openNodeStorage } from './node-storage.js';
import { RemovalWatch } from './removal-watch.js';
import { Peers } from './peers.js';
import { StateHolder } from './state-holder.js';
import { RequestPath } from './request-path.js';
import { SessionWrites, type SessionWrite } from './session-writes.js';
import type { BackupInfo } from './snapshot/backup-source.js';
import { NodeUpkeep } from './node-upkeep.js';
import { ReplayProgress } from './replay-progress.js';
import { KvStateMachine, type ApplyResult } from './state-machine.js';
import { NodeEtcd } from './etcd-api.js';
import { MemberEtcdAddresses } from './member-etcd-addresses.js';
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
  /** The current state tree (state-holder.ts): replaced by snapshot installs and joins. */
  private readonly stateTree: StateHolder;
  private readonly transport: Transport;
  private advertise: string;
  private readonly path: RequestPath;
  private readonly admin: MembershipAdmin;
  private readonly etcdAddresses: MemberEtcdAddresses;
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
  /** Snapshots, backups and the state tree's flushes (node-upkeep.ts). */
  private readonly upkeep: NodeUpkeep;
  private readonly replay: ReplayProgress;
  private readonly log: Logger;
  private readonly monitor: NodeMonitor;
  /** The session of this node's own API writes (put, delete): exactly-once like a client's. */
  private readonly ownSession: ClientSession;
  /** The address book and the peer connections (peers.ts); set once the transport exists. */
  private readonly peers: Peers;
  private readonly sessions: SessionWrites;
  /** What the etcd v3 API uses of this node, and its server (etcd-api.ts). */
  readonly etcd: NodeEtcd;

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
    this.stateTree = new StateHolder(init.id, init.sm, init.stateDir, { fs: opts.fs, dataDir: init.dataDir, logStore: init.logStore, tree: opts.tree });
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
    this.replay = new ReplayProgress(init.sm.appliedIndex, init.logStore.lastIndex(), init.storageOpenMs);
    this.upkeep = new NodeUpkeep({
      id: init.id,
      opts,
      fs: opts.fs,
      dataDir: init.dataDir,
      logStore: init.logStore,
      stateTree: this.stateTree,
      monitor: this.monitor,
      replay: this.replay,
      log: this.log,
      isLeader: () => this.role === 'leader',
      isRunning: () => this.state === 'running',
      conf: () => this.driver.rawNode.status().conf,
      addressBook: () => this.peers.book.encode(),
      sendRaft: (m) => this.transport.send(m.to, FrameType.RAFT, encodeMessage(m)),
      sendChunk: (to, payload) => this.transport.send(to, FrameType.SNAPSHOT_CHUNK, payload),
      reportSnapshot: (to, ok) => {
        this.driver.rawNode.reportSnapshot(to, ok);
        this.driver.kick();
      },
      kick: () => this.driver.kick(),
      fatal: (err) => this.onFatal(err),
    });
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
    const header = () => ({ clusterId: this.identity.clusterId, memberId: BigInt(this.id), raftTerm: this.currentTerm() });
    this.etcd = new NodeEtcd({
      stateMachine: () => this.stateTree.get(),
      path: this.path,
      header,
      autoCompaction: opts.autoCompaction,
      isLeader: () => this.state === 'running' && this.role === 'leader',
      log: (line) => this.log.info(line),
      fatal: (err) => this.onFatal(err),
      trees: () => (this.state === 'running' ? this.trees() : []),
      quotaBackendBytes: opts.quotaBackendBytes,
      spaceCheckMs: opts.spaceCheckMs,
    });
    this.etcdAddresses = new MemberEtcdAddresses({ dial: common.dialNode });
    this.admin = new MembershipAdmin({
      ...common,
      book: init.book,
      path: this.path,
      isLeader: () => this.role === 'leader',
      clusterId: () => this.identity.clusterId,
      address: () => this.advertise,
      addPeer: (id, address) => this.peers.add(id, address),
      appliedTerm: () => this.appliedTerm,
      memberIdMax: () => this.stateTree.get().memberIdMax,
    });
    this.join = new JoinTarget({
      ...common,
      fs: opts.fs,
      dataDir: init.dataDir,
      logStore: init.logStore,
      clusterId: () => this.identity.clusterId,
      hasUserData: () => this.stateTree.get().hasUserData(),
      conf: () => this.driver.rawNode.status().conf,
      setJoining: (joining) => {
        this.joining = joining;
      },
      pauseDriver: () => this.driver.pause(),
      resumeDriver: (raw) => this.driver.resume(raw),
      stateDir: () => this.stateTree.directory,
      closeStateMachine: () => this.stateTree.close(),
      reopenStateMachine: () => this.stateTree.reopen(),
      setIdentity: (identity) => {
        this.identity = identity;
      },
      resetPeers: (leaderId, leaderAddress) => this.peers.reset(leaderId, leaderAddress),
      forgetLeader: () => {
        this.role = 'follower';
        this.leaderId = 0;
      },
      newRawNode: () => this.newRawNode(),
      fatal: (err) => this.onFatal(err),
    });
    this.router = new FrameRouter({
      ...common,
      book: init.book,
      join: this.join,
      snapshots: this.upkeep.snapshots,
      addPeer: (id, address) => this.peers.add(id, address),
      adoptBook: (book) => this.peers.adopt(book),
      isRemoved: () => this.state === 'removed',
      serveClient: (req) => serveClientRequest(this, req),
      reply: (conn, type, payload) => this.transport.reply(conn, type, payload),
      step: (m) => {
        this.monitor.messageReceived(m);
        this.peers.heard(m.from);
        this.driver.rawNode.step(this.role === 'leader' && m.type === 'prop' ? stampProposal(m, this.opts.clockMs()) : m);
        this.driver.kick();
      },
    });
    this.sessions = new SessionWrites(this.path, (p) => this.monitor.countFailure(p));
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
    this.peers = new Peers({
      id: init.id,
      fs: opts.fs,
      dataDir: init.dataDir,
      transport: this.transport,
      advertise: () => this.advertise,
      warn: (fields, message) => this.log.warn(fields, message),
      fatal: (err) => this.onFatal(err),
    }, init.book);
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
    this.etcd.startUpkeep();
    // The etcd API last: it serves a running node; a failed start stops it.
    if (this.opts.etcdAddress !== undefined) {
      await this.etcd.serve(this, this.opts.etcdAddress).catch(async (err: unknown) => {
        await this.stop();
        throw err;
      });
    }
  }

  private startRunning(bound: { host: string; port: number }): void {
    // Started on port 0: announce the port the system picked.
    const asked = parseAddress(this.advertise);
    if (asked.port === 0) this.advertise = formatAddress(asked.host, bound.port);
    this.peers.connectAll();
    // The driver's storage, with WAL syncs and state batch commits timed (node-monitor.ts).
    this.driver = new RaftDriver(this.newRawNode(), this.monitor.timedLogStore(this.logStore), () => this.monitor.timedStateMachine(this.stateTree.get()), {
      send: (m) => this.send(m),
      softState: (ss) => this.onSoftState(ss),
      applied: (results) => this.onApplied(results),
      confChangeApplied: (cc, conf, index) => this.onConfChangeApplied(cc, conf, index),
      readStates: (rs) => this.path.readStates(rs, this.stateTree.current?.appliedIndex ?? 0),
      appliedTo: (index, term) => {
        if (this.replay.applied(index)) {
          this.log.info({ component: 'state', replayed: this.replay.replayedEntries, ms: this.replay.replayMs }, `node ${this.id}: re-applied ${this.replay.replayedEntries} entries of the log after a restart`);
        }
        this.path.requests.appliedTo(index);
        this.removalWatch.appliedTo(index, this.driver.rawNode.basicStatus().commit);
        if (term > this.appliedTerm) {
          this.appliedTerm = term;
          this.path.requests.writesOverTakenBy(term);
        }
      },
      term: (term) => {
        this.term = term;
      },
      installSnapshot: (s) => this.upkeep.install(s),
      maintenance: () => this.upkeep.maintenance(),
      fatal: (err) => this.onFatal(err),
    });
    this.ticker = new Ticker(this.opts.tickMs, () => {
      this.driver.rawNode.tick();
      this.driver.kick();
      this.admin.contactNewMembers(Date.now());
    });
    this.ticker.start();
    this.monitor.start();
    this.removalWatch = new RemovalWatch({
      id: this.id,
      clusterId: () => formatClusterId(this.identity.clusterId),
      isMember: () => [...this.driver.rawNode.status().conf.voters, ...this.driver.rawNode.status().conf.learners].includes(this.id),
      appliedIndex: () => this.stateTree.current?.appliedIndex ?? 0,
      leaderKnown: () => this.leaderId !== 0 || this.joining,
      peerAddresses: () => [...this.peers.book.entries()].filter(([id]) => id !== this.id).map(([, address]) => address),
      removed: (how) => this.becomeRemoved(how),
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
    const sm = this.stateTree.get();
    // The state tree restarts from its durable applied index; the core re-delivers what follows.
    // Below the log's snapshot there is nothing to re-deliver (the snapshot is applied state).
    const applied = Math.max(sm.appliedIndex, this.logStore.snapshot().meta.index);
    return new RawNode(raftConfig(this.id, this.opts, applied), this.logStore);
  }

  /** The HTTP status server's address (the bound port when asked for port 0), if it runs. */
  get metricsAddress(): string | undefined {
    return this.monitor.address;
  }

  /** "host:port" of the etcd v3 API (the port picked for port 0), if started with etcdAddress. */
  get etcdAddress(): string | undefined {
    return this.etcd.address;
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
    const address = this.peers.book.get(this.leaderId);
    return address === undefined ? undefined : { id: this.leaderId, address };
  }

  /**
   * The term a proposal made now is made at (the core's, which may be ahead of the last Ready).
   * Asked on every request and response header: basicStatus, which copies no configuration.
   */
  private currentTerm(): number {
    return Math.max(this.term, this.driver.rawNode.basicStatus().term);
  }

  private trees(): Array<{ tree: 'log' | 'state'; stats: TreeStats }> {
    const sm = this.stateTree.current;
    return [{ tree: 'log', stats: this.logStore.lsm.stats() }, ...(sm === undefined ? [] : [{ tree: 'state' as const, stats: sm.lsm.stats() }])];
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

  /** A write of a client session (session-writes.ts): exactly once. */
  sessionWrite(write: SessionWrite): Promise<void> {
    return this.sessions.write(write);
  }

  /** Registers a client session through Raft; resolves with its id. */
  registerSession(): Promise<number> {
    return this.sessions.register();
  }

  /** Keeps client session `sessionId` alive; KV_ERR_SESSION_EXPIRED if it is gone. */
  keepAliveSession(sessionId: number): Promise<void> {
    return this.sessions.keepAlive(sessionId);
  }

  /** Linearizable read (ReadIndex): sees every write acknowledged before it was called. */
  async get(key: KeyInput): Promise<Uint8Array | undefined> {
    const k = toKey(key);
    await this.path.readBarrier();
    return this.stateTree.get().get(k);
  }

  /** Linearizable range read, both bounds inclusive (absent = unbounded), at most limit pairs. */
  async scan(from?: KeyInput, to?: KeyInput, limit = 1000): Promise<Array<[Uint8Array, Uint8Array]>> {
    const range = toScanRange(from, to, limit);
    await this.path.readBarrier();
    return this.stateTree.get().scan(range.from, range.to, range.limit);
  }

  /**
   * Starts a client backup (snapshot/backup-source.ts): a read barrier, then a checkpoint of the
   * state tree at the applied index, so it holds every write acknowledged before the call.
   */
  async backupBegin(): Promise<BackupInfo> {
    this.checkRunning();
    await this.path.readBarrier();
    return this.upkeep.backups.begin();
  }

  /** One encoded chunk (snapshot/chunk-codec.ts) of pending backup `id`. */
  backupChunk(id: string, fileIndex: number, offset: number, bytesMax: number): Uint8Array {
    this.checkRunning();
    return this.upkeep.backups.chunk(id, fileIndex, offset, bytesMax);
  }

  /** Deletes pending backup `id` (a no-op if it is gone already). */
  backupEnd(id: string): void {
    this.checkRunning();
    this.upkeep.backups.end(id);
  }

  /** This node's local state, no consensus (what `lsm g` shows): may lag the leader. */
  localGet(key: KeyInput): Uint8Array | undefined {
    this.checkOpen();
    return this.stateTree.get().get(toKey(key));
  }

  /** This node's local range, both bounds inclusive (what `lsm r` shows). */
  localScan(from?: KeyInput, to?: KeyInput, limit = 1000): Array<[Uint8Array, Uint8Array]> {
    this.checkOpen();
    const range = toScanRange(from, to, limit);
    return this.stateTree.get().scan(range.from, range.to, range.limit);
  }

  /** The state tree's structure: levels, files, sizes, key ranges (what `lsm s` prints). */
  lsmDescribe(): string {
    this.checkOpen();
    const d = this.stateTree.get().describe();
    return `applied index ${d.appliedIndex} (durable ${d.durableAppliedIndex})\n${d.tree.toString()}`;
  }

  // ---- public API: cluster ------------------------------------------------------------------

  status(): NodeStatus {
    this.checkRunning();
    const snap = this.logStore.snapshot().meta;
    return nodeStatus(this.driver.rawNode.status(), this.peers.book, {
      id: this.id,
      address: this.advertise,
      clusterId: formatClusterId(this.identity.clusterId),
      applied: this.stateTree.current?.appliedIndex,
      logFirstIndex: this.logStore.firstIndex(),
      logLastIndex: this.logStore.lastIndex(),
      snapshotIndex: snap.index,
      snapshotTerm: snap.term,
      etcdAddress: this.etcd.address,
    });
  }

  /** The etcd API address of every member that serves one, by id (member-etcd-addresses.ts: asked of each member). */
  memberEtcdAddresses(): Promise<Map<NodeId, string>> {
    return this.etcdAddresses.lookup(this.members(), this.etcd.address);
  }

  /** The members as this node knows them (match indexes only on the leader). */
  members(): MemberInfo[] {
    this.checkRunning();
    return memberList(this.driver.rawNode.status(), this.peers.book, this.id, this.peers.lastHeardAt, Date.now());
  }

  // Membership changes (membership-admin.ts; forwarded to the leader on a follower):
  /** Adds node `id` at `address` as a voter: an empty node, by the JOIN handshake (membership.ts); KV_ERR_MEMBERSHIP says why not. */
  addMember(id: NodeId, address: string): Promise<void> { return this.admin.addMember(id, address); }
  /** etcd's member add order: commits a member at `address` first, resolves with its new id. */
  addMemberFirst(address: string, learner: boolean): Promise<NodeId> { return this.admin.addMemberFirst(address, learner); }
  /** Makes learner `id` a voter once it is in sync with the leader. */
  promoteMember(id: NodeId): Promise<void> { return this.admin.promoteMember(id); }
  /** Member `id` is now at `address`. */
  updateMember(id: NodeId, address: string): Promise<void> { return this.admin.updateMember(id, address); }
  /** Removes member `id`; the leader itself first hands leadership to the most caught-up other voter. */
  removeMember(id: NodeId): Promise<void> { return this.admin.removeMember(id); }
  /** Asks the leader to hand leadership to `id`; resolves once `id` leads. */
  transferLeadership(id: NodeId): Promise<void> { return this.admin.transferLeadership(id); }

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
    await this.etcd.close();
    this.ticker?.stop();
    this.removalWatch?.stop();
    await this.driver?.stop();
    this.path.stop(new NodeStoppedError(`node ${this.id} stopped`));
    await this.upkeep.close();
    await this.transport.close();
    await this.peers.settled();
    await this.stateTree.current?.close();
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
      this.upkeep.snapshots.send(m);
      return;
    }
    if (this.transport.send(m.to, FrameType.RAFT, encodeMessage(m))) return;
    this.driver.rawNode.reportUnreachable(m.to);
    this.path.unsent(m);
  }

  private onSoftState(ss: SoftState): void {
    const before = this.leaderId;
    this.role = ss.role;
    this.leaderId = ss.leader;
    if (before !== ss.leader) {
      this.monitor.leaderChanged(before, ss, this.driver.rawNode.status().term);
      this.path.leaderChanged(ss.leader);
    }
    if (ss.role !== 'leader') this.upkeep.snapshots.leadershipLost();
  }

  private onApplied(results: readonly ApplyResult[]): void {
    this.etcd.applied(results);
    for (const r of results) {
      if (r.kind === 'put' || r.kind === 'del' || r.kind === 'register' || r.kind === 'keepAlive' || r.kind === 'etcd') {
        if (r.proposerId === this.id) this.path.requests.writeApplied(r.proposalId, r);
      } else if (r.kind === 'rejected') {
        this.log.warn({ component: 'raft', index: r.index }, `node ${this.id}: entry ${r.index} is not a valid command, applied as a no-op: ${r.error.message}`);
      }
    }
  }

  private async onConfChangeApplied(cc: ConfChange, conf: ConfState, index: number): Promise<void> {
    // Final only once the node caught up (removal-watch.ts: a replaced node replays its removal).
    if (await this.peers.confChangeApplied(cc, conf, index)) this.removalWatch.removalApplied(index);
    this.path.requests.confChangeApplied(cc.type, cc.nodeId);
    if (cc.type !== 'removeVoter') this.upkeep.snapshots.memberAdded(cc.nodeId, index);
    this.log.info(
      { component: 'membership', change: cc.type, member: cc.nodeId, index, voters: conf.voters, learners: conf.learners },
      `node ${this.id}: applied ${cc.type} ${cc.nodeId} at ${index}: voters [${conf.voters.join(',')}] learners [${conf.learners.join(',')}]`,
    );
  }

  /**
   * This node is out of the cluster: no campaigning (the ticker stops), new requests fail at once
   * with KV_ERR_REMOVED (certainly not applied), waiting ones with KV_ERR_TIMEOUT (a write this node
   * forwarded may commit after its removal, unseen here). The driver runs on until stop().
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

  /** Counters for tests and the bench (node-status.ts, NodeStats). */
  stats(): NodeStats {
    const d = this.driver.stats;
    return {
      snapshotsSent: this.upkeep.snapshots.snapshotsSent, snapshotsInstalled: this.upkeep.snapshotsInstalled, readyTurns: d.turns, logSyncs: d.syncs, transport: this.transport.stats(),
      appliedOnStart: this.replay.appliedOnStart, replayedEntries: this.replay.replayedEntries, replayMs: this.replay.replayMs, storageOpenMs: Math.round(this.replay.storageOpenMs), stateFlushes: this.upkeep.stateFlush.flushesStarted, stateFlushWaits: this.upkeep.stateFlush.waits,
    };
  }
}
