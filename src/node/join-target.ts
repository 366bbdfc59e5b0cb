/**
 * The target side of the JOIN handshake (membership.ts): a leader asks this node to join its
 * cluster; the node checks it may (joinRefusal), pauses its Ready loop, and resets itself into a
 * blank member of that cluster: empty log and state tree, the cluster's id, only the leader in its
 * address book. The leader's snapshot and log bring the rest.
 *
 * What must hold: the decision is made again after the pause (a request or conf change may have
 * landed meanwhile); nothing is stepped into the core while the reset runs (`joining`); a reset
 * that fails half-way stops the node (its disk state is the IO error's to explain), and the order
 * of the reset's steps leaves a state startup can repair after a crash at any point (see
 * resetForJoin and KvNode.start).
 */
import { LsmraftError } from '../errors.js';
import type { FileSystem } from '../lsm/fs.js';
import type { RawNode } from '../raft/raw-node.js';
import type { ConfState, NodeId } from '../raft/types.js';
import { parseAddress } from './address.js';
import type { ClientResponse, JoinRequest } from './codec.js';
import { formatClusterId, writeIdentity, type NodeIdentity } from './identity.js';
import type { RaftLogStore } from './log-store.js';
import { joinRefusal } from './membership.js';
import { removeTreeFiles } from './snapshot/dir-files.js';

/** What the join target needs of its node. */
export interface JoinTargetHost {
  readonly id: NodeId;
  readonly fs: FileSystem;
  readonly dataDir: string;
  readonly logStore: RaftLogStore;
  log(line: string): void;
  isRunning(): boolean;
  clusterId(): bigint;
  hasUserData(): boolean;
  conf(): ConfState;
  /** Marks the node as joining (nothing is stepped into the core) or not. */
  setJoining(joining: boolean): void;
  joining(): boolean;
  pauseDriver(): Promise<void>;
  resumeDriver(raw: RawNode | undefined): void;
  /** The state tree's directory. */
  stateDir(): string;
  /** Closes the state machine (the node serves no reads until reopenStateMachine). */
  closeStateMachine(): Promise<void>;
  reopenStateMachine(): Promise<void>;
  setIdentity(identity: NodeIdentity): void;
  /** Forgets every peer but `leaderId` at `leaderAddress` and persists the address book. */
  resetPeers(leaderId: NodeId, leaderAddress: string): Promise<void>;
  /** Forgets the role and leader of the old cluster. */
  forgetLeader(): void;
  newRawNode(): RawNode;
  fatal(err: unknown): void;
}

export class JoinTarget {
  constructor(private readonly h: JoinTargetHost) {}

  /** Answers a JOIN_REQUEST. Never rejects with a user error (it becomes an error response). */
  async handleJoin(req: JoinRequest): Promise<ClientResponse> {
    try {
      return await this.joinCluster(req);
    } catch (err) {
      if (!(err instanceof LsmraftError)) throw err;
      return { requestId: req.requestId, ok: false, errorCode: err.code, message: err.message };
    }
  }

  private async joinCluster(req: JoinRequest): Promise<ClientResponse> {
    const h = this.h;
    const refuse = (message: string): ClientResponse => ({ requestId: req.requestId, ok: false, errorCode: 'KV_ERR_MEMBERSHIP', message });
    if (req.leaderId === 0 || req.leaderId === h.id) return refuse(`bad join request: leader id ${req.leaderId}`);
    parseAddress(req.leaderAddress);
    if (!h.isRunning()) return refuse(`node ${h.id} is stopping`);
    if (h.joining()) return refuse(`node ${h.id} is already joining a cluster`);
    const decide = (): string | 'already' | undefined =>
      joinRefusal({ nodeId: h.id, clusterId: h.clusterId(), hasUserData: h.hasUserData(), conf: h.conf() }, req.clusterId, req.nodeId);
    const first = decide();
    if (first === 'already') return { requestId: req.requestId, ok: true };
    if (first !== undefined) return refuse(first);
    h.setJoining(true);
    await h.pauseDriver();
    let raw: RawNode | undefined;
    let resetStarted = false;
    try {
      const again = decide();
      if (again === 'already') return { requestId: req.requestId, ok: true };
      if (again !== undefined) return refuse(again);
      resetStarted = true;
      raw = await this.resetForJoin(req);
      h.log(`node ${h.id}: joined cluster ${formatClusterId(req.clusterId)} of leader ${req.leaderId} at ${req.leaderAddress}`);
      return { requestId: req.requestId, ok: true };
    } catch (err) {
      // Half reset: the disk state is the IO error's to explain; this node must stop.
      if (resetStarted) h.fatal(err);
      throw err;
    } finally {
      h.setJoining(false);
      if (!resetStarted || raw !== undefined) h.resumeDriver(raw);
    }
  }

  /**
   * Makes this node a blank member of the joined cluster.
   * REQUIRES: the Ready loop is paused and the node holds no user data.
   */
  private async resetForJoin(req: JoinRequest): Promise<RawNode> {
    const h = this.h;
    // The state tree first, durably, then the log: a crash in between leaves a log that still
    // bootstraps over an empty state tree (re-applied from the log), never the reverse.
    await h.closeStateMachine();
    removeTreeFiles(h.fs, h.stateDir());
    await h.fs.syncDir(h.stateDir());
    await h.reopenStateMachine();
    await h.logStore.reset();
    const identity = { nodeId: h.id, clusterId: req.clusterId };
    h.setIdentity(identity);
    await writeIdentity(h.fs, h.dataDir, identity);
    await h.resetPeers(req.leaderId, req.leaderAddress);
    h.forgetLeader();
    return h.newRawNode();
  }
}
