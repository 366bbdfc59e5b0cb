/**
 * What an operator sees of a node besides its logs: its metrics (metrics.ts), the storage watch
 * (storage-watch.ts), the HTTP status endpoint (http-status.ts) and the health and readiness
 * verdicts it serves, plus the few measurements taken from the node's message flow (heartbeat
 * round trips, snapshot send durations). KvNode calls the hooks; this file owns the clocks.
 *
 * Health (etcd's /health): the node runs, knows a leader, and no tree reports a fresh background
 * error. Ready: the node runs and has known a leader since it started (it elected one or joined
 * a cluster); a node waiting to be added is not ready.
 */
import { performance } from 'node:perf_hooks';
import type { Message, NodeId, SoftState } from '../raft/types.js';
import type { DriverLogStore, DriverStateMachine } from './driver.js';
import { StatusServer, type Verdict } from './http-status.js';
import { NodeMetrics, type MetricsSource } from './metrics.js';
import type { Logger } from './node-logger.js';
import { StorageWatch } from './storage-watch.js';
import { timedLogStore, TimedStateMachine } from './timed-storage.js';

/** A heartbeat unanswered this long is forgotten (the next one is timed instead). */
const HEARTBEAT_RTT_STALE_MS = 1_000;

export interface MonitorHost extends MetricsSource {
  log: Logger;
  isRunning(): boolean;
}

export class NodeMonitor {
  readonly metrics: NodeMetrics;
  private readonly storage: StorageWatch;
  private server: StatusServer | undefined;
  private leaderSeen = false;
  /** When the oldest unanswered heartbeat to each peer left (performance.now() ms). */
  private readonly heartbeatSentAt = new Map<NodeId, number>();
  /** When the snapshot transfer to each peer started. */
  private readonly snapshotStartedAt = new Map<NodeId, number>();
  /** The state machine as the driver sees it, remade when the node's instance is replaced. */
  private timedSm: TimedStateMachine<unknown> | undefined;

  constructor(private readonly host: MonitorHost) {
    this.metrics = new NodeMetrics(host);
    this.storage = new StorageWatch(() => host.trees(), host.log.child({ component: 'storage' }));
  }

  /** Starts the HTTP status server at `address` (KV_ERR_ADDRESS_IN_USE if taken). */
  async listen(address: string): Promise<void> {
    this.server = await StatusServer.listen(address, {
      metrics: this.metrics,
      health: () => this.health(),
      ready: () => this.ready(),
      log: this.host.log.child({ component: 'metrics' }),
    });
  }

  /** The status server's bound address, if it runs. */
  get address(): string | undefined {
    return this.server?.address;
  }

  start(): void {
    this.storage.start();
  }

  async stop(): Promise<void> {
    this.storage.stop();
    await this.server?.close();
  }

  health(): Verdict {
    const r = this.host.isRunning() ? this.host.raft() : undefined;
    if (r === undefined) return { ok: false, reason: 'NOT RUNNING' };
    if (r.leader === 0) return { ok: false, reason: 'RAFT NO LEADER' };
    const storage = this.storage.problem();
    if (storage !== undefined) return { ok: false, reason: `STORAGE: ${storage}` };
    return { ok: true, reason: '' };
  }

  ready(): Verdict {
    const r = this.host.isRunning() ? this.host.raft() : undefined;
    if (r === undefined) return { ok: false, reason: 'NOT RUNNING' };
    if (!this.leaderSeen) return { ok: false, reason: 'NO LEADER SINCE START' };
    return { ok: true, reason: '' };
  }

  // ---- hooks ------------------------------------------------------------------------------------

  /** The leader this node knows changed from `before` (0: none) to ss.leader, at `term`. */
  leaderChanged(before: NodeId, ss: SoftState, term: number): void {
    const log = this.host.log;
    if (ss.leader === 0) {
      log.warn({ component: 'raft', term, role: ss.role, previousLeader: before }, `lost leader ${before} (term ${term})`);
      return;
    }
    log.info({ component: 'raft', leader: ss.leader, term, role: ss.role }, `leader is ${ss.leader} (term ${term}, this node is ${ss.role})`);
    this.leaderSeen = true;
    this.metrics.leaderChanged();
  }

  /** The log store with its synced appends timed (etcd_disk_wal_fsync_duration_seconds). */
  timedLogStore(store: DriverLogStore): DriverLogStore {
    return timedLogStore(store, (s) => this.metrics.walSynced(s));
  }

  /** `sm` with its batch commits timed (etcd_disk_backend_commit_duration_seconds). */
  timedStateMachine<R>(sm: DriverStateMachine<R>): DriverStateMachine<R> {
    if (this.timedSm?.inner !== sm) this.timedSm = new TimedStateMachine<R>(sm, (s) => this.metrics.backendCommitted(s)) as TimedStateMachine<unknown>;
    return this.timedSm as TimedStateMachine<R>;
  }

  messageSent(m: Message): void {
    if (m.type === 'heartbeat') {
      const at = this.heartbeatSentAt.get(m.to);
      const now = performance.now();
      if (at === undefined || now - at > HEARTBEAT_RTT_STALE_MS) this.heartbeatSentAt.set(m.to, now);
    } else if (m.type === 'snap') {
      this.snapshotStartedAt.set(m.to, performance.now());
    }
  }

  messageReceived(m: Message): void {
    if (m.type !== 'heartbeatResp') return;
    const at = this.heartbeatSentAt.get(m.from);
    if (at === undefined) return;
    this.heartbeatSentAt.delete(m.from);
    this.metrics.peerRoundTrip(m.from, (performance.now() - at) / 1000);
  }

  snapshotReported(to: NodeId, ok: boolean): void {
    const at = this.snapshotStartedAt.get(to);
    this.snapshotStartedAt.delete(to);
    this.metrics.snapshotSent(to, ok, at === undefined ? 0 : (performance.now() - at) / 1000);
  }

  /** A proposal's promise, with its failure counted (etcd_server_proposals_failed_total). */
  async countFailure(proposal: Promise<void>): Promise<void> {
    try {
      await proposal;
    } catch (err) {
      this.metrics.proposalFailed();
      throw err;
    }
  }

  /** Runs `install` and records its outcome and duration. */
  async timeInstall<T>(install: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const result = await install();
      this.metrics.snapshotInstalled(true, (performance.now() - t0) / 1000);
      return result;
    } catch (err) {
      this.metrics.snapshotInstalled(false, 0);
      throw err;
    }
  }
}
