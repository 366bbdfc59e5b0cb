/**
 * KvNode: one member of an lsmraft cluster, after etcd's etcdserver (a Raft node, its storage, its
 * peers and its clients in one process) with the driver loop of etcd-io/raft's README. This file
 * wires the parts together and serves the public API; each concept lives in its own file:
 *   driver.ts            the Ready loop (persist, send, apply, advance) and maintenance turns
 *   ticker.ts            wall time -> Raft ticks
 *   requests.ts          writes waiting for their entry, reads waiting for their read index
 *   membership.ts        address book, conf change context, the JOIN handshake's decision
 *   identity.ts          node id and cluster id on disk
 *   snapshot-shipper.ts  making snapshots, shipping them to followers, receiving them
 *   snapshot-transfer.ts streaming one snapshot to one follower (chunks, acks, resends)
 *   snapshot.ts          checkpoints, chunk codec, install (the storage side)
 *   client-service.ts    client frames -> this API -> client frames
 *   node-options.ts      options, defaults, validation
 *
 * Reads and writes at a follower go through the Raft core: a proposal is forwarded to the leader
 * by the core ('prop'), a linearizable read asks the leader for a read index ('readIndex', Raft
 * thesis §6.4) and is served locally once this node applied that index. A request fails with
 * KV_ERR_NOT_LEADER only if no leader became known before its deadline.
 *
 * Data directory: IDENTITY, MEMBERS, log/ (RaftLogStore), STATE + state-N/ (KvStateMachine, see
 * snapshot.ts), snapshots/ (checkpoints made for sending), snapshot-incoming-<id>/.
 *
 * What must hold: the Ready contract (driver.ts); stop() ends every timer, socket and waiter;
 * nothing a peer or client sends can crash the process (the transport closes a connection whose
 * frame does not decode; a request that fails answers with an error code).
 */
import { InvalidArgumentError, LsmraftError } from '../errors.js';
import { joinPath } from '../lsm/filenames.js';
import { nodeFileSystem } from '../lsm/node-fs.js';
import { KEY_BYTES_MAX } from '../lsm/options.js';
import { ProposalDroppedError } from '../raft/errors.js';
import { RawNode, type RaftConfig } from '../raft/raw-node.js';
import type { ConfChange, ConfState, Message, NodeId, ReadState, Role, Snapshot, SoftState } from '../raft/types.js';
import { AssertionFailure, assert } from '../util/assert.js';
import { utf8 } from '../util/bytes.js';
import { decodeClientRequest, decodeJoinRequest, decodeMessage, encodeClientResponse, encodeMessage, type ClientResponse, type JoinRequest } from './codec.js';
import { BadFrameError } from './errors.js';
import { FrameType, type DecodedFrame } from './frame.js';
import { checkIdentity, formatClusterId, newClusterId, readIdentity, writeIdentity, type NodeIdentity } from './identity.js';
import { COMMAND_VALUE_BYTES_MAX, decodeKvCommand, encodeKvCommand, type KvCommand } from './kv-command.js';
import { RaftLogStore } from './log-store.js';
import { ADD_CATCH_UP_MS_MIN, addMemberBudgetMs, AddressBook, decodeMemberContext, encodeMemberContext, joinRefusal } from './membership.js';
import { errorFromWire, MembershipError, NodeStoppedError, NotLeaderError, type LeaderInfo } from './node-errors.js';
import { RaftDriver } from './driver.js';
import { PendingRequests } from './requests.js';
import { installSnapshot, openStateDir, reconcileLogWithState, snapshotIdOf } from './snapshot.js';
import { removeStaleLocalSnapshots, SnapshotShipper } from './snapshot-shipper.js';
import { resolveNodeOptions, type KvNodeOptions, type ResolvedNodeOptions } from './node-options.js';

export type { KvNodeOptions } from './node-options.js';
import { KvStateMachine, SCAN_LIMIT_MAX, type ApplyResult } from './state-machine.js';
import { Ticker } from './ticker.js';
import { connectClient, formatAddress, parseAddress, Transport, type ClientRequestInput, type Connection } from './transport.js';
import { serveClientRequest } from './client-service.js';

export type KeyInput = string | Uint8Array;

const MiB = 1024 * 1024;
/** Bound on one wire frame: a whole append of APPEND_BYTES_MAX fits, with room to spare. */
const FRAME_BYTES_MAX = 64 * MiB;
/** Per-peer send queue bounds (frames dropped past them; Raft resends what matters). */
const PEER_QUEUE_FRAMES_MAX = 4096;
const PEER_QUEUE_BYTES_MAX = 64 * MiB;
/** Reconnect backoff to a peer: fast first retries (failover), capped well under an election timeout x2. */
const RECONNECT_DELAY_MS_MIN = 20;
const RECONNECT_DELAY_MS_MAX = 500;
const PEER_CONNECT_TIMEOUT_MS = 500;
/** Raft flow control (RaftConfig): bytes of entries per append message, appends and bytes in flight per follower. */
const APPEND_BYTES_MAX = 1 * MiB;
const APPENDS_IN_FLIGHT_MAX = 256;
const APPEND_BYTES_IN_FLIGHT_MAX = 32 * MiB;
/** Proposals a leader holds uncommitted before it refuses more (memory bound during a stall). */
const UNCOMMITTED_BYTES_MAX = 256 * MiB;



export interface MemberInfo {
  id: NodeId;
  address: string | undefined;
  role: 'leader' | 'follower' | 'learner';
  /** Highest log index known replicated on that member (known only on the leader). */
  match: number | undefined;
  isSelf: boolean;
}

export interface NodeStatus {
  id: NodeId;
  address: string;
  clusterId: string;
  term: number;
  role: Role;
  leader: NodeId;
  leaderAddress: string | undefined;
  commit: number;
  applied: number;
  logFirstIndex: number;
  logLastIndex: number;
  snapshotIndex: number;
  snapshotTerm: number;
  voters: NodeId[];
  learners: NodeId[];
}

function toKey(key: KeyInput, what = 'key'): Uint8Array {
  const b = typeof key === 'string' ? utf8(key) : key;
  if (!(b instanceof Uint8Array) || b.length === 0 || b.length > KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`${what} must be a string or Uint8Array of 1..${KEY_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
  }
  return b;
}

function toValue(value: KeyInput): Uint8Array {
  const b = typeof value === 'string' ? utf8(value) : value;
  if (!(b instanceof Uint8Array) || b.length > COMMAND_VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(`value must be a string or Uint8Array of at most ${COMMAND_VALUE_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
  }
  return b;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Wipes a closed tree directory's files (CURRENT first, so a crash midway leaves no openable half). */
function removeTreeFiles(dir: string): void {
  const fs = nodeFileSystem;
  if (!fs.exists(dir)) return;
  const names = fs.list(dir);
  if (names.includes('CURRENT')) fs.remove(joinPath(dir, 'CURRENT'));
  for (const name of names) if (name !== 'CURRENT') fs.remove(joinPath(dir, name));
}

export class KvNode {
  readonly id: NodeId;
  private readonly opts: ResolvedNodeOptions;
  private readonly dataDir: string;
  private identity: NodeIdentity;
  private readonly logStore: RaftLogStore;
  private sm: KvStateMachine | undefined;
  private stateDir: string;
  private readonly transport: Transport;
  private advertise: string;
  private readonly book: AddressBook;
  private readonly requests: PendingRequests;
  private driver!: RaftDriver;
  private ticker!: Ticker;
  private role: Role = 'follower';
  /** The Raft term, as of the last Ready's hard state. */
  private term = 0;
  /** Term of the last applied entry: writes proposed before it are decided (requests.ts). */
  private appliedTerm = 0;
  private leaderId: NodeId = 0;
  private leaderWaiters: Array<() => void> = [];
  private nextRequestId: number;
  private nextReadId = 1;
  private readonly readContextPrefix: string;
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private stopPromise: Promise<void> | undefined;
  private joining = false;
  /** Chain of address book writes (each waits for the one before). */
  private bookWrites: Promise<void> = Promise.resolve();
  private readonly snapshots: SnapshotShipper;
  private snapshotsInstalled = 0;

  private constructor(init: {
    opts: ResolvedNodeOptions; id: NodeId; dataDir: string; identity: NodeIdentity; logStore: RaftLogStore; sm: KvStateMachine; stateDir: string;
    book: AddressBook; address: string; listenAddress: string | undefined;
  }) {
    this.opts = init.opts;
    this.id = init.id;
    this.dataDir = init.dataDir;
    this.identity = init.identity;
    this.logStore = init.logStore;
    this.sm = init.sm;
    this.stateDir = init.stateDir;
    this.book = init.book;
    this.advertise = init.address;
    this.requests = new PendingRequests(init.opts.pendingRequestsMax);
    this.snapshots = new SnapshotShipper({
      nodeId: init.id,
      dataDir: init.dataDir,
      logStore: init.logStore,
      snapshotEntries: init.opts.snapshotEntries,
      compactKeepEntries: init.opts.compactKeepEntries,
      transfer: init.opts.transfer,
      stateMachine: () => this.sm,
      isLeader: () => this.role === 'leader',
      isRunning: () => this.state === 'running',
      conf: () => this.driver.rawNode.status().conf,
      addressBook: () => this.book.encode(),
      sendRaft: (m) => this.transport.send(m.to, FrameType.RAFT, encodeMessage(m)),
      sendChunk: (to, payload) => this.transport.send(to, FrameType.SNAPSHOT_CHUNK, payload),
      reportSnapshot: (to, ok) => {
        this.driver.rawNode.reportSnapshot(to, ok);
        this.driver.kick();
      },
      fatal: (err) => this.onFatal(err),
      log: init.opts.log,
    });
    // Request ids tag this incarnation's proposals: a random base keeps a restarted node from
    // taking an entry of its previous life (re-applied at startup) for one of its new requests.
    this.nextRequestId = Math.floor(init.opts.random() * 2 ** 40) + 1;
    this.readContextPrefix = `${init.id}.${Math.floor(init.opts.random() * 2 ** 40).toString(36)}.`;
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
      random: init.opts.random,
      onFrame: (frame, conn) => this.onFrame(frame, conn),
      log: init.opts.log,
    });
  }

  /**
   * Opens (or creates) the node's data directory and starts serving. A new data directory becomes
   * a one-member cluster with a fresh cluster id; an existing one resumes where it stopped (the
   * state tree re-applies the committed entries after its durable applied index).
   */
  static async start(options: KvNodeOptions): Promise<KvNode> {
    const opts = resolveNodeOptions(options);
    const fs = nodeFileSystem;
    const dataDir = options.dataDir;
    fs.mkdirp(dataDir);
    let identity = readIdentity(fs, dataDir);
    if (identity !== undefined) checkIdentity(identity, options.id, dataDir);
    const { stateDir, installed } = await openStateDir(dataDir);
    removeStaleLocalSnapshots(dataDir);
    const logStore = await RaftLogStore.open(joinPath(dataDir, 'log'), opts.tree);
    let sm: KvStateMachine | undefined;
    try {
      await reconcileLogWithState(logStore, installed);
      if (identity === undefined) {
        // First start: a one-member cluster. (A data dir whose identity exists but whose log is
        // blank was reset by a join and waits for its leader: it must not bootstrap again.)
        if (!logStore.isInitialized) await logStore.bootstrap(options.id);
        identity = { nodeId: options.id, clusterId: newClusterId() };
        await writeIdentity(fs, dataDir, identity);
      }
      if (identity !== undefined && !logStore.isInitialized) {
        // A blank log under an existing identity: a join reset it. Its state tree must be blank
        // too (a crash may have come between resetForJoin's steps); it held no user data.
        removeTreeFiles(stateDir);
      }
      sm = await KvStateMachine.open(stateDir, opts.tree);
      const book = AddressBook.read(fs, dataDir);
      const node = new KvNode({ opts, id: options.id, dataDir, identity, logStore, sm, stateDir, book, address: options.address, listenAddress: options.listenAddress });
      await node.listenAndRun();
      return node;
    } catch (err) {
      await sm?.close();
      await logStore.close();
      throw err;
    }
  }

  private async listenAndRun(): Promise<void> {
    const bound = await this.transport.listen();
    try {
      this.startRunning(bound);
    } catch (err) {
      // Nothing else has started; the listening socket must not outlive the failed start.
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
    this.driver = new RaftDriver(this.newRawNode(), this.logStore, () => this.stateMachine(), {
      send: (m) => this.send(m),
      softState: (ss) => this.onSoftState(ss),
      applied: (results) => this.onApplied(results),
      confChangeApplied: (cc, conf, index) => this.onConfChangeApplied(cc, conf, index),
      readStates: (rs) => this.onReadStates(rs),
      appliedTo: (index, term) => {
        this.requests.appliedTo(index);
        if (term > this.appliedTerm) {
          this.appliedTerm = term;
          this.requests.writesOverTakenBy(term);
        }
      },
      term: (term) => {
        this.term = term;
      },
      installSnapshot: (s) => this.installSnapshotFromReady(s),
      maintenance: () => this.snapshots.maintenance(),
      fatal: (err) => this.onFatal(err),
    });
    this.ticker = new Ticker(this.opts.tickMs, () => {
      this.driver.rawNode.tick();
      this.driver.kick();
    });
    this.ticker.start();
    const st = this.driver.rawNode.status();
    this.opts.log(`node ${this.id} started on ${this.advertise}, cluster ${formatClusterId(this.identity.clusterId)}, voters [${st.conf.voters.join(',')}], applied ${st.applied}`);
    // A one-member cluster elects itself at once rather than after an election timeout.
    if (st.conf.voters.length === 1 && st.conf.voters[0] === this.id && st.conf.learners.length === 0) this.driver.rawNode.campaign();
    this.driver.kick();
  }

  private newRawNode(): RawNode {
    const sm = this.stateMachine();
    // The state tree restarts from its durable applied index; the core re-delivers what follows.
    // Below the log's snapshot there is nothing to re-deliver (the snapshot is applied state).
    const applied = Math.max(sm.appliedIndex, this.logStore.snapshot().meta.index);
    const config: RaftConfig = {
      id: this.id,
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      random: this.opts.random,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsgBytes: APPEND_BYTES_MAX,
      maxInflightMsgs: APPENDS_IN_FLIGHT_MAX,
      maxInflightBytes: APPEND_BYTES_IN_FLIGHT_MAX,
      maxUncommittedEntriesBytes: UNCOMMITTED_BYTES_MAX,
      readOnlyOption: 'safe',
      appliedIndex: applied,
    };
    return new RawNode(config, this.logStore);
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

  private stateMachine(): KvStateMachine {
    if (this.sm === undefined) throw new NodeStoppedError(`node ${this.id}: the state machine is being replaced by a snapshot; retry`);
    return this.sm;
  }

  private checkRunning(): void {
    if (this.state !== 'running') throw new NodeStoppedError(`node ${this.id} is stopped`);
  }

  // ---- public API: data ---------------------------------------------------------------------

  /** Replicates key = value; resolves once it is committed and applied on this node. */
  async put(key: KeyInput, value: KeyInput): Promise<void> {
    const k = toKey(key);
    const v = toValue(value);
    await this.proposeCommand((tag) => ({ type: 'put', key: k, value: v, ...tag }));
  }

  /** Replicates the deletion of key. */
  async delete(key: KeyInput): Promise<void> {
    const k = toKey(key);
    await this.proposeCommand((tag) => ({ type: 'del', key: k, ...tag }));
  }

  /** Linearizable read (ReadIndex): sees every write acknowledged before it was called. */
  async get(key: KeyInput): Promise<Uint8Array | undefined> {
    const k = toKey(key);
    await this.readBarrier();
    return this.stateMachine().get(k);
  }

  /** Linearizable range read, both bounds inclusive (absent = unbounded), at most limit pairs. */
  async scan(from?: KeyInput, to?: KeyInput, limit = 1000): Promise<Array<[Uint8Array, Uint8Array]>> {
    const range = this.scanRange(from, to, limit);
    await this.readBarrier();
    return this.stateMachine().scan(range.from, range.to, range.limit);
  }

  /** This node's local state, no consensus (what `lsm g` shows): may lag the leader. */
  localGet(key: KeyInput): Uint8Array | undefined {
    this.checkRunning();
    return this.stateMachine().get(toKey(key));
  }

  /** This node's local range, both bounds inclusive (what `lsm r` shows). */
  localScan(from?: KeyInput, to?: KeyInput, limit = 1000): Array<[Uint8Array, Uint8Array]> {
    this.checkRunning();
    const range = this.scanRange(from, to, limit);
    return this.stateMachine().scan(range.from, range.to, range.limit);
  }

  /** The state tree's structure: levels, files, sizes, key ranges (what `lsm s` prints). */
  lsmDescribe(): string {
    this.checkRunning();
    const d = this.stateMachine().describe();
    return `applied index ${d.appliedIndex} (durable ${d.durableAppliedIndex})\n${d.tree.toString()}`;
  }

  private scanRange(from: KeyInput | undefined, to: KeyInput | undefined, limit: number): { from: Uint8Array; to: Uint8Array; limit: number } {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) {
      throw new InvalidArgumentError(`limit must be an integer in [1, ${SCAN_LIMIT_MAX}]`, 'KV_ERR_INVALID_ARGUMENT');
    }
    const lo = from === undefined ? Uint8Array.of(0) : toKey(from, 'from');
    const hi = to === undefined ? new Uint8Array(KEY_BYTES_MAX).fill(0xff) : toKey(to, 'to');
    return { from: lo, to: hi, limit };
  }

  private async proposeCommand(make: (tag: { clientId: number; requestId: number }) => KvCommand): Promise<void> {
    this.checkRunning();
    const requestId = this.nextRequestId++;
    const data = encodeKvCommand(make({ clientId: this.id, requestId }));
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    const applied = this.requests.waitWrite(requestId, this.opts.requestTimeoutMs, data, this.currentTerm());
    // The waiter may end (time out) while this still waits for a leader: it is awaited below.
    applied.catch(() => undefined);
    try {
      await this.withLeader(deadline, () => {
        this.requests.writeProposedAt(requestId, this.currentTerm());
        this.driver.rawNode.propose(data);
      });
    } catch (err) {
      this.requests.cancelWrite(requestId, err as Error);
    }
    await applied;
  }

  /** Resolves once this node applied everything committed before the call (ReadIndex). */
  private async readBarrier(): Promise<void> {
    this.checkRunning();
    // A context unique among this node's reads, across restarts too (random prefix).
    const ctx = utf8(`${this.readContextPrefix}${this.nextReadId++}`);
    const key = hex(ctx);
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    const ready = this.requests.waitRead(key, this.opts.requestTimeoutMs, ctx);
    ready.catch(() => undefined); // awaited below (see proposeCommand)
    try {
      await this.withLeader(deadline, () => this.driver.rawNode.readIndex(ctx));
    } catch (err) {
      this.requests.cancelRead(key, err as Error);
    }
    await ready;
  }

  /**
   * Runs `step` (a propose or readIndex) once a leader is known, retrying while the core drops it
   * (no leader yet, or a leadership transfer) until the deadline; then KV_ERR_NOT_LEADER.
   */
  private async withLeader(deadlineMs: number, step: () => void): Promise<void> {
    // Each pass waits at least one tick; bounded by the deadline.
    for (let attempt = 0; ; attempt++) {
      this.checkRunning();
      if (this.leaderId !== 0 && !this.joining) {
        try {
          step();
          this.driver.kick();
          return;
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
        }
      }
      const leftMs = deadlineMs - Date.now();
      if (leftMs <= 0) {
        throw new NotLeaderError(`node ${this.id}: no leader accepted the request within ${this.opts.requestTimeoutMs} ms`, this.leader);
      }
      await this.waitForLeaderChange(Math.min(leftMs, this.opts.tickMs * Math.min(8, attempt + 1)));
    }
  }

  private waitForLeaderChange(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, maxMs);
      timer.unref();
      const waiters = this.leaderWaiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  // ---- public API: cluster ------------------------------------------------------------------

  status(): NodeStatus {
    this.checkRunning();
    const st = this.driver.rawNode.status();
    const snap = this.logStore.snapshot().meta;
    return {
      id: this.id,
      address: this.advertise,
      clusterId: formatClusterId(this.identity.clusterId),
      term: st.term,
      role: st.role,
      leader: st.lead,
      leaderAddress: st.lead === 0 ? undefined : this.book.get(st.lead),
      commit: st.commit,
      applied: this.sm?.appliedIndex ?? st.applied,
      logFirstIndex: this.logStore.firstIndex(),
      logLastIndex: this.logStore.lastIndex(),
      snapshotIndex: snap.index,
      snapshotTerm: snap.term,
      voters: [...st.conf.voters].sort((a, b) => a - b),
      learners: [...st.conf.learners].sort((a, b) => a - b),
    };
  }

  /** The members as this node knows them (match indexes only on the leader). */
  members(): MemberInfo[] {
    this.checkRunning();
    const st = this.driver.rawNode.status();
    const out: MemberInfo[] = [];
    const add = (id: NodeId, learner: boolean): void => {
      out.push({
        id,
        address: this.book.get(id),
        role: id === st.lead ? 'leader' : learner ? 'learner' : 'follower',
        match: st.progress?.get(id)?.match,
        isSelf: id === this.id,
      });
    };
    for (const id of st.conf.voters) add(id, false);
    for (const id of st.conf.learners) add(id, true);
    return out.sort((a, b) => a.id - b.id);
  }

  /**
   * Adds node `id` listening at `address` as a voter. On a follower the request is forwarded to the
   * leader. The target must be an empty node (see membership.ts, the JOIN handshake); otherwise this
   * fails with KV_ERR_MEMBERSHIP naming the reason.
   */
  async addMember(id: NodeId, address: string): Promise<void> {
    this.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    parseAddress(address);
    if (this.role !== 'leader') {
      await this.forwardToLeader({ op: 'addMember', nodeId: id, address }, addMemberBudgetMs(this.opts.requestTimeoutMs));
      return;
    }
    const st = this.driver.rawNode.status();
    if (st.conf.voters.includes(id)) throw new MembershipError(`node ${id} is already a member`);
    if (st.conf.learners.includes(id)) {
      // A learner left by an earlier add that did not finish: promote it.
      await this.waitCaughtUp(id, st.commit);
      await this.proposeConfChange({ type: 'addVoter', nodeId: id, context: encodeMemberContext(this.book.get(id) ?? address) });
      return;
    }
    const timeoutMs = this.opts.requestTimeoutMs;
    let conn;
    try {
      conn = await connectClient(address, { connectTimeoutMs: Math.min(timeoutMs, 2000), requestTimeoutMs: timeoutMs });
    } catch (err) {
      throw new MembershipError(`cannot reach node ${id} at ${address}: ${(err as Error).message}`, { cause: err });
    }
    let res: ClientResponse;
    try {
      res = await conn.join({ clusterId: this.identity.clusterId, nodeId: id, leaderId: this.id, leaderAddress: this.advertise }, timeoutMs);
    } catch (err) {
      throw new MembershipError(`node ${id} at ${address} did not answer the join request: ${(err as Error).message}`, { cause: err });
    } finally {
      conn.close();
    }
    if (!res.ok) throw new MembershipError(`node ${id} at ${address} refused to join: ${res.message ?? res.errorCode ?? 'no reason given'}`);
    this.book.set(id, address);
    this.transport.setPeer(id, address);
    // Learner first (Raft thesis §4.2.1): a new member that must first receive a snapshot does
    // not count toward the quorum, so it cannot stall writes while it catches up.
    await this.proposeConfChange({ type: 'addLearner', nodeId: id, context: encodeMemberContext(address) });
    await this.waitCaughtUp(id, this.driver.rawNode.status().commit);
    await this.proposeConfChange({ type: 'addVoter', nodeId: id, context: encodeMemberContext(address) });
    this.opts.log(`node ${this.id}: added node ${id} at ${address}`);
  }

  /** Waits until member `id`'s log reaches `index` (as this leader sees it), or fails. */
  private async waitCaughtUp(id: NodeId, index: number): Promise<void> {
    const limitMs = Math.max(this.opts.requestTimeoutMs, ADD_CATCH_UP_MS_MIN);
    const deadline = Date.now() + limitMs;
    // Each pass sleeps two ticks; bounded by the deadline.
    for (;;) {
      this.checkRunning();
      const st = this.driver.rawNode.status();
      if (st.role !== 'leader') throw new MembershipError(`node ${id} was added as a learner, but node ${this.id} lost leadership before promoting it; add it again at the leader`);
      if ((st.progress?.get(id)?.match ?? 0) >= index) return;
      if (Date.now() > deadline) {
        throw new MembershipError(`node ${id} was added as a learner but did not catch up to index ${index} within ${limitMs} ms; it stays a learner (remove it, or add it again to retry the promotion)`);
      }
      await sleep(this.opts.tickMs * 2);
    }
  }

  /**
   * Removes member `id` (forwarded to the leader on a follower). To remove the leader itself, it
   * first hands leadership to the most caught-up other voter, which then removes it.
   */
  async removeMember(id: NodeId): Promise<void> {
    this.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    if (this.role !== 'leader') {
      await this.forwardToLeader({ op: 'removeMember', nodeId: id }, 4 * this.opts.requestTimeoutMs);
      return;
    }
    const st = this.driver.rawNode.status();
    if (!st.conf.voters.includes(id) && !st.conf.learners.includes(id)) throw new MembershipError(`node ${id} is not a member`);
    if (id === this.id) {
      let successor = 0;
      let bestMatch = -1;
      for (const v of st.conf.voters) {
        const match = st.progress?.get(v)?.match ?? -1;
        if (v !== this.id && match > bestMatch) [successor, bestMatch] = [v, match];
      }
      if (successor === 0) throw new MembershipError(`node ${id} is the only voter; a cluster cannot remove its last voter`);
      await this.transferLeadership(successor);
      await this.forwardToLeader({ op: 'removeMember', nodeId: id }, 2 * this.opts.requestTimeoutMs);
      return;
    }
    await this.proposeConfChange({ type: 'removeVoter', nodeId: id });
    this.opts.log(`node ${this.id}: removed node ${id}`);
  }

  /** Asks the leader to hand leadership to `id`; resolves once `id` leads. */
  async transferLeadership(id: NodeId): Promise<void> {
    this.checkRunning();
    if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`member id must be a positive integer, got ${id}`, 'KV_ERR_INVALID_ARGUMENT');
    const st = this.driver.rawNode.status();
    if (!st.conf.voters.includes(id)) throw new MembershipError(`node ${id} is not a voter`);
    if (st.lead === id) return;
    if (this.role !== 'leader') {
      await this.forwardToLeader({ op: 'transfer', nodeId: id }, 2 * this.opts.requestTimeoutMs);
      return;
    }
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    // Each pass waits for a leader change or a few ticks; bounded by the deadline. The core gives
    // a transfer up after an election timeout (the transferee did not catch up or campaign in
    // time): while this node still leads, it asks again.
    while (this.leaderId !== id) {
      const st = this.driver.rawNode.status();
      if (st.role === 'leader' && st.leadTransferee === 0) {
        this.driver.rawNode.transferLeadership(id);
        this.driver.kick();
      }
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new LsmraftError('KV_ERR_TIMEOUT', `leadership did not move to node ${id} within ${this.opts.requestTimeoutMs} ms`);
      await this.waitForLeaderChange(Math.min(leftMs, this.opts.tickMs * 5));
      this.checkRunning();
    }
  }

  private async proposeConfChange(cc: ConfChange): Promise<void> {
    // The core turns a conf change into an empty entry while the leader has not yet committed an
    // entry of its own term (Raft thesis §4.1 safety, as etcd): a leader that was just elected
    // (say, by a transfer a moment ago) waits for its no-op to be applied first.
    const readyBy = Date.now() + this.opts.requestTimeoutMs;
    // Each pass sleeps a tick; bounded by the deadline.
    for (;;) {
      this.checkRunning();
      const st = this.driver.rawNode.status();
      if (st.role !== 'leader') throw new NotLeaderError(`node ${this.id} lost leadership before proposing ${cc.type} ${cc.nodeId}`, this.leader);
      if (this.appliedTerm >= st.term) break;
      if (Date.now() > readyBy) throw new MembershipError(`node ${this.id} did not commit an entry of its term within ${this.opts.requestTimeoutMs} ms (no quorum?)`);
      await sleep(this.opts.tickMs);
    }
    const applied = this.requests.waitConfChange(cc.type, cc.nodeId, this.opts.requestTimeoutMs);
    try {
      this.driver.rawNode.proposeConfChange(cc);
      this.driver.kick();
    } catch (err) {
      // The waiter times out on its own; report the refusal now.
      void applied.catch(() => {});
      throw new MembershipError(`conf change ${cc.type} ${cc.nodeId} not accepted: ${(err as Error).message}`, { cause: err });
    }
    try {
      await applied;
    } catch (err) {
      if (err instanceof LsmraftError && err.code === 'KV_ERR_TIMEOUT') {
        throw new MembershipError(`conf change ${cc.type} ${cc.nodeId} was not applied within ${this.opts.requestTimeoutMs} ms (another change pending, or no quorum)`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Sends an admin request to the leader and waits up to `budgetMs`: more than the leader's own
   * deadline for the operation, so the leader's answer (success or its error) arrives first.
   */
  private async forwardToLeader(req: ClientRequestInput, budgetMs: number): Promise<void> {
    const deadline = Date.now() + budgetMs;
    await this.withLeader(Date.now() + this.opts.requestTimeoutMs, () => {});
    const leader = this.leader;
    if (leader === undefined) throw new NotLeaderError(`node ${this.id}: the leader's address is unknown`);
    const conn = await connectClient(leader.address, { connectTimeoutMs: 1000, requestTimeoutMs: budgetMs });
    try {
      const res = await conn.request(req, Math.max(1, deadline - Date.now()));
      if (!res.ok) throw errorFromWire(res.errorCode, res.message, res.leaderHint);
    } finally {
      conn.close();
    }
  }

  /** Stops serving: timers, loop, sockets; pending requests fail with KV_ERR_STOPPED. Idempotent. */
  stop(): Promise<void> {
    if (this.stopPromise === undefined) this.stopPromise = this.stopInner();
    return this.stopPromise;
  }

  private async stopInner(): Promise<void> {
    this.state = 'stopping';
    this.ticker?.stop();
    if (this.reissueTimer !== undefined) clearTimeout(this.reissueTimer);
    for (const w of this.leaderWaiters.splice(0)) w();
    await this.driver?.stop();
    this.requests.failAll(new NodeStoppedError(`node ${this.id} stopped`));
    await this.snapshots.close();
    await this.transport.close();
    await this.bookWrites;
    await this.sm?.close();
    await this.logStore.close();
    this.state = 'stopped';
    this.opts.log(`node ${this.id} stopped`);
  }

  private onFatal(err: unknown): void {
    if (err instanceof AssertionFailure) {
      // A bug: stop the process (STYLE.md: never swallowed).
      setImmediate(() => {
        throw err;
      });
      return;
    }
    this.opts.log(`node ${this.id}: stopping on error: ${err instanceof Error ? err.message : String(err)}`);
    void this.stop().finally(() => this.opts.onFatal(err));
  }

  // ---- driver hooks -------------------------------------------------------------------------

  private send(m: Message): void {
    if (m.type === 'snap') {
      this.snapshots.send(m);
      return;
    }
    if (this.transport.send(m.to, FrameType.RAFT, encodeMessage(m))) return;
    this.driver.rawNode.reportUnreachable(m.to);
    // A proposal or read that never left this node is safe to send again (to the next leader).
    if (m.type === 'prop' && m.from === this.id) {
      for (const e of m.entries) {
        if (e.type !== 'normal' || e.data.length === 0) continue;
        const cmd = decodeKvCommand(e.data);
        if (cmd.clientId === this.id) this.reproposeLater(cmd.requestId);
      }
    } else if (m.type === 'readIndex' && m.from === this.id && m.context !== undefined) {
      this.reissueReadsLater();
    }
  }

  /** Proposes a waiting write again once a (new) leader is known; ends with the write's waiter. */
  private reproposeLater(requestId: number): void {
    void (async () => {
      await this.waitForLeaderChange(this.opts.tickMs * 5);
      const data = this.requests.writeData(requestId);
      if (data === undefined || this.state !== 'running') return;
      try {
        await this.withLeader(Date.now() + this.opts.requestTimeoutMs, () => {
          this.requests.writeProposedAt(requestId, this.currentTerm());
          this.driver.rawNode.propose(data);
        });
      } catch (err) {
        if (!(err instanceof LsmraftError)) throw err;
        this.requests.cancelWrite(requestId, err);
      }
    })();
  }

  private reissueTimer: NodeJS.Timeout | undefined;

  /** Asks for the read index of every read still waiting for one, after a short pause. */
  private reissueReadsLater(): void {
    if (this.reissueTimer !== undefined) return;
    this.reissueTimer = setTimeout(() => {
      this.reissueTimer = undefined;
      this.reissueReads();
    }, this.opts.tickMs * 5);
    this.reissueTimer.unref();
  }

  private reissueReads(): void {
    if (this.state !== 'running' || this.leaderId === 0 || this.joining) return;
    for (const ctx of this.requests.readContextsWaiting()) {
      try {
        this.driver.rawNode.readIndex(ctx);
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
        return; // asked again at the next leader change
      }
    }
    this.driver.kick();
  }

  private onSoftState(ss: SoftState): void {
    const before = this.leaderId;
    this.role = ss.role;
    this.leaderId = ss.leader;
    if (before !== ss.leader) {
      this.opts.log(`node ${this.id}: leader is ${ss.leader === 0 ? 'unknown' : ss.leader} (term ${this.driver.rawNode.status().term}, this node is ${ss.role})`);
      for (const w of this.leaderWaiters.splice(0)) w();
      // Reads sent to the old leader may be lost with it; reads are safe to ask for again.
      if (ss.leader !== 0) this.reissueReadsLater();
    }
    if (ss.role !== 'leader') this.snapshots.leadershipLost();
  }

  private onApplied(results: readonly ApplyResult[]): void {
    for (const r of results) {
      if (r.kind === 'put' || r.kind === 'del') {
        if (r.clientId === this.id) this.requests.writeApplied(r.requestId);
      } else if (r.kind === 'rejected') {
        this.opts.log(`node ${this.id}: entry ${r.index} is not a valid command, applied as a no-op: ${r.error.message}`);
      }
    }
  }

  private async onConfChangeApplied(cc: ConfChange, conf: ConfState, index: number): Promise<void> {
    const id = cc.nodeId;
    if (cc.type === 'removeVoter') {
      if (id !== this.id) {
        this.book.delete(id);
        this.transport.removePeer(id);
      } else {
        this.opts.log(`node ${this.id}: this node was removed from the cluster at index ${index}`);
      }
    } else {
      const address = decodeMemberContext(cc.context);
      if (address !== undefined && id !== this.id) {
        this.book.set(id, address);
        this.transport.setPeer(id, address);
      }
    }
    this.book.retainMembers(conf, this.id);
    await this.writeBook();
    this.requests.confChangeApplied(cc.type, id);
    this.opts.log(`node ${this.id}: applied ${cc.type} ${id} at ${index}: voters [${conf.voters.join(',')}] learners [${conf.learners.join(',')}]`);
  }

  /** Persists the address book; writes are chained so the last one written is the newest. */
  private writeBook(): Promise<void> {
    const book = this.book;
    const write = this.bookWrites.then(() => book.write(nodeFileSystem, this.dataDir));
    this.bookWrites = write.catch((err) => this.onFatal(err));
    return write;
  }

  private onReadStates(rs: readonly ReadState[]): void {
    const applied = this.sm?.appliedIndex ?? 0;
    for (const r of rs) this.requests.readIndexKnown(hex(r.context), r.index, applied);
  }

  // ---- snapshots ------------------------------------------------------------------------------

  // ---- snapshots (the shipping is snapshot-shipper.ts) ----------------------------------------

  /** Ready step 1 for a snapshot: the state tree first, then the log (see snapshot.ts). */
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
    const old = this.stateMachine();
    this.sm = undefined;
    await old.close();
    const { stateDir } = await installSnapshot(this.dataDir, received);
    await this.logStore.applySnapshot(s);
    this.stateDir = stateDir;
    this.sm = await KvStateMachine.open(stateDir, this.opts.tree);
    this.snapshotsInstalled++;
    assert(this.sm.appliedIndex === s.meta.index, () => `installed snapshot holds applied index ${this.sm?.appliedIndex}, expected ${s.meta.index}`);
    this.opts.log(`node ${this.id}: installed snapshot ${id} at ${s.meta.index}`);
  }

  // ---- frames -------------------------------------------------------------------------------

  private onFrame(frame: DecodedFrame, conn: Connection): void {
    if (this.state !== 'running') return;
    switch (frame.type) {
      case FrameType.HELLO: {
        // A peer this node has no address for (it learns of members through conf changes and
        // snapshots, but a restarted or joining node may hear from one first): remember its address.
        const address = conn.peerListenAddress;
        if (address !== undefined && this.book.get(frame.senderId) === undefined && frame.senderId !== this.id) {
          try {
            parseAddress(address);
          } catch {
            throw new BadFrameError(`HELLO from node ${frame.senderId} announces a bad address`);
          }
          this.book.set(frame.senderId, address);
          this.transport.setPeer(frame.senderId, address);
        }
        return;
      }
      case FrameType.RAFT:
        this.onRaftMessage(decodeMessage(frame.payload));
        return;
      case FrameType.CLIENT_REQUEST: {
        const req = decodeClientRequest(frame.payload);
        void serveClientRequest(this, req).then((res) => {
          this.transport.reply(conn, FrameType.CLIENT_RESPONSE, encodeClientResponse(res));
        });
        return;
      }
      case FrameType.JOIN_REQUEST: {
        const req = decodeJoinRequest(frame.payload);
        void this.handleJoin(req).then((res) => {
          this.transport.reply(conn, FrameType.JOIN_RESPONSE, encodeClientResponse(res));
        });
        return;
      }
      case FrameType.SNAPSHOT_CHUNK:
        this.snapshots.onChunk(frame.payload, (ack) => this.transport.reply(conn, FrameType.SNAPSHOT_ACK, ack));
        return;
      case FrameType.SNAPSHOT_ACK:
        this.snapshots.onAck(frame.senderId, frame.payload);
        return;
      default:
        throw new BadFrameError(`frame type ${frame.type} is not served by a node`);
    }
  }

  private onRaftMessage(m: Message): void {
    if (m.to !== this.id || this.joining) {
      if (m.to !== this.id) this.opts.log(`node ${this.id}: dropped a ${m.type} message addressed to node ${m.to}`);
      return;
    }
    if (m.type === 'snap') {
      if (m.snapshot === undefined) throw new BadFrameError('snap message without a snapshot');
      const id = snapshotIdOf(m.snapshot);
      if (id !== undefined && !this.snapshots.hasReceived(id)) {
        this.opts.log(`node ${this.id}: dropped snapshot message ${id}: its files were not received`);
        return;
      }
      if (m.context !== undefined && m.context.length > 0) {
        const book = AddressBook.decodeWire(m.context);
        this.book.replaceWith(book, this.id, this.advertise);
        for (const [pid, address] of this.book.entries()) if (pid !== this.id) this.transport.setPeer(pid, address);
        this.writeBook().catch(() => undefined); // a failure reaches onFatal through bookWrites
      }
    }
    this.driver.rawNode.step(m);
    this.driver.kick();
  }

  /** The target side of the JOIN handshake (membership.ts). Never rejects with a user error. */
  private async handleJoin(req: JoinRequest): Promise<ClientResponse> {
    try {
      return await this.joinCluster(req);
    } catch (err) {
      if (!(err instanceof LsmraftError)) throw err;
      return { requestId: req.requestId, ok: false, errorCode: err.code, message: err.message };
    }
  }

  private async joinCluster(req: JoinRequest): Promise<ClientResponse> {
    const refuse = (message: string): ClientResponse => ({ requestId: req.requestId, ok: false, errorCode: 'KV_ERR_MEMBERSHIP', message });
    if (req.leaderId === 0 || req.leaderId === this.id) return refuse(`bad join request: leader id ${req.leaderId}`);
    parseAddress(req.leaderAddress);
    if (this.state !== 'running') return refuse(`node ${this.id} is stopping`);
    if (this.joining) return refuse(`node ${this.id} is already joining a cluster`);
    const decide = (): string | 'already' | undefined =>
      joinRefusal({ nodeId: this.id, clusterId: this.identity.clusterId, hasUserData: this.stateMachine().hasUserData(), conf: this.driver.rawNode.status().conf }, req.clusterId, req.nodeId);
    const first = decide();
    if (first === 'already') return { requestId: req.requestId, ok: true };
    if (first !== undefined) return refuse(first);
    this.joining = true;
    await this.driver.pause();
    let raw: RawNode | undefined;
    let resetStarted = false;
    try {
      const again = decide();
      if (again === 'already') return { requestId: req.requestId, ok: true };
      if (again !== undefined) return refuse(again);
      resetStarted = true;
      raw = await this.resetForJoin(req);
      this.opts.log(`node ${this.id}: joined cluster ${formatClusterId(req.clusterId)} of leader ${req.leaderId} at ${req.leaderAddress}`);
      return { requestId: req.requestId, ok: true };
    } catch (err) {
      // Half reset: the disk state is the IO error's to explain; this node must stop.
      if (resetStarted) this.onFatal(err);
      throw err;
    } finally {
      this.joining = false;
      if (!resetStarted || raw !== undefined) this.driver.resume(raw);
    }
  }

  /**
   * Makes this node a blank member of the joined cluster: empty log and state tree, the cluster's
   * id, only the leader in the address book. The leader's snapshot and log bring the rest.
   * REQUIRES: the Ready loop is paused and the node holds no user data.
   */
  private async resetForJoin(req: JoinRequest): Promise<RawNode> {
    // The state tree first, durably, then the log: a crash in between leaves a log that still
    // bootstraps over an empty state tree (re-applied from the log), never the reverse.
    const old = this.stateMachine();
    this.sm = undefined;
    await old.close();
    removeTreeFiles(this.stateDir);
    await nodeFileSystem.syncDir(this.stateDir);
    this.sm = await KvStateMachine.open(this.stateDir, this.opts.tree);
    await this.logStore.reset();
    this.identity = { nodeId: this.id, clusterId: req.clusterId };
    await writeIdentity(nodeFileSystem, this.dataDir, this.identity);
    for (const [id] of this.book.entries()) if (id !== this.id) this.transport.removePeer(id);
    this.book.replaceWith(new AddressBook(), this.id, this.advertise);
    this.book.set(req.leaderId, req.leaderAddress);
    await this.writeBook();
    this.transport.setPeer(req.leaderId, req.leaderAddress);
    this.role = 'follower';
    this.leaderId = 0;
    return this.newRawNode();
  }

  /** Counters for tests and the bench. */
  stats(): { snapshotsSent: number; snapshotsInstalled: number; readyTurns: number; logSyncs: number; transport: ReturnType<Transport['stats']> } {
    const d = this.driver.stats;
    return { snapshotsSent: this.snapshots.snapshotsSent, snapshotsInstalled: this.snapshotsInstalled, readyTurns: d.turns, logSyncs: d.syncs, transport: this.transport.stats() };
  }
}
