/**
 * A node's Prometheus metrics (prom-client), after etcd's server/etcdserver/metrics.go,
 * server/storage/wal/metrics.go, server/storage/backend/metrics.go and rafthttp/metrics.go: etcd's
 * names where etcd has one, `lsmraft_*` for the rest; the table is in docs/cli.md.
 *
 * Each node has its own Registry (several nodes may run in one process, as in the tests), never
 * prom-client's global one. Gauges and the counters the node already keeps (Raft indexes, tree
 * stats, per-peer bytes) are read at scrape time through `collect` callbacks from MetricsSource,
 * so the hot path pays nothing for them; only events nothing else counts (a leader change, a failed
 * proposal, a WAL sync, a state-tree batch, a heartbeat round trip, a snapshot transfer) are
 * recorded by the hooks below, each one counter increment or histogram observation.
 *
 * Counters read from stats are set from the source's running totals at each scrape; a state tree
 * replaced by a snapshot starts its totals at zero again, which Prometheus' rate() treats as a
 * counter reset.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TreeStats } from '../lsm/db.js';
import type { NodeId, Role } from '../raft/types.js';
import type { PeerTraffic } from './transport.js';

/** What the node reports at scrape time. Every read is cheap (no IO). */
export interface MetricsSource {
  /** undefined while the node is not running. */
  raft(): { term: number; role: Role; leader: NodeId; commit: number; applied: number; logFirstIndex: number; logLastIndex: number; snapshotIndex: number } | undefined;
  pendingProposals(): number;
  /** The node's trees (the state tree is absent while a snapshot replaces it). */
  trees(): Array<{ tree: 'log' | 'state'; stats: TreeStats }>;
  peerTraffic(): ReadonlyMap<NodeId, PeerTraffic>;
}

/** etcd's buckets: WAL fsync and backend commit, 1 ms to ~8 s doubling. */
const DISK_BUCKETS_S = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);
/** etcd's peer round trip buckets: 0.1 ms to ~0.8 s doubling. */
const RTT_BUCKETS_S = Array.from({ length: 14 }, (_, i) => 0.0001 * 2 ** i);
/** etcd's snapshot transfer buckets: 0.1 s to ~400 s doubling. */
const SNAPSHOT_BUCKETS_S = Array.from({ length: 14 }, (_, i) => 0.1 * 2 ** i);

type Labels<L extends string> = Partial<Record<L, string>>;

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly leaderChanges: Counter;
  private readonly proposalsFailed: Counter;
  private readonly walFsync: Histogram;
  private readonly backendCommit: Histogram;
  private readonly peerRtt: Histogram<'To'>;
  private readonly snapshotSend: Counter<'To' | 'result'>;
  private readonly snapshotSendSeconds: Histogram<'To'>;
  private readonly snapshotReceive: Counter<'result'>;
  private readonly snapshotInstallSeconds: Histogram;

  constructor(private readonly source: MetricsSource) {
    const registers = [this.registry];
    this.leaderChanges = new Counter({ name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.', registers });
    this.proposalsFailed = new Counter({ name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.', registers });
    this.walFsync = new Histogram({
      name: 'etcd_disk_wal_fsync_duration_seconds',
      help: 'The latency of the log tree\'s synced appends (one WAL fsync each, group committed).',
      buckets: DISK_BUCKETS_S,
      registers,
    });
    this.backendCommit = new Histogram({
      name: 'etcd_disk_backend_commit_duration_seconds',
      help: 'The latency of state tree batch commits (one batch per run of applied entries).',
      buckets: DISK_BUCKETS_S,
      registers,
    });
    this.peerRtt = new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds',
      help: 'Round-trip time of heartbeats to peers (measured at the leader).',
      labelNames: ['To'],
      buckets: RTT_BUCKETS_S,
      registers,
    });
    this.snapshotSend = new Counter({ name: 'lsmraft_snapshot_send_total', help: 'Snapshots streamed to a follower, by result (success, failure).', labelNames: ['To', 'result'], registers });
    this.snapshotSendSeconds = new Histogram({
      name: 'etcd_network_snapshot_send_total_duration_seconds',
      help: 'Total latency of snapshot sends (files streamed, snapshot message delivered).',
      labelNames: ['To'],
      buckets: SNAPSHOT_BUCKETS_S,
      registers,
    });
    this.snapshotReceive = new Counter({ name: 'lsmraft_snapshot_receive_total', help: 'Snapshots received and installed, by result (success, failure).', labelNames: ['result'], registers });
    this.snapshotInstallSeconds = new Histogram({
      name: 'lsmraft_snapshot_install_duration_seconds',
      help: 'Latency of installing a received snapshot (state tree switch, then log).',
      buckets: SNAPSHOT_BUCKETS_S,
      registers,
    });
    this.raftGauges();
    this.treeMetrics();
    this.peerBytes();
  }

  // ---- event hooks (one call each at the event) -------------------------------------------------

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  proposalFailed(): void {
    this.proposalsFailed.inc();
  }

  walSynced(seconds: number): void {
    this.walFsync.observe(seconds);
  }

  backendCommitted(seconds: number): void {
    this.backendCommit.observe(seconds);
  }

  peerRoundTrip(peer: NodeId, seconds: number): void {
    this.peerRtt.observe({ To: String(peer) }, seconds);
  }

  snapshotSent(peer: NodeId, ok: boolean, seconds: number): void {
    this.snapshotSend.inc({ To: String(peer), result: ok ? 'success' : 'failure' });
    if (ok) this.snapshotSendSeconds.observe({ To: String(peer) }, seconds);
  }

  snapshotInstalled(ok: boolean, seconds: number): void {
    this.snapshotReceive.inc({ result: ok ? 'success' : 'failure' });
    if (ok) this.snapshotInstallSeconds.observe(seconds);
  }

  /** The exposition text of every metric (Prometheus text format 0.0.4). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // ---- read at scrape time ----------------------------------------------------------------------

  private raftGauges(): void {
    const registers = [this.registry];
    const source = this.source;
    const fromRaft = (name: string, help: string, read: (r: NonNullable<ReturnType<MetricsSource['raft']>>) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const r = source.raft();
          if (r === undefined) this.reset();
          else this.set(read(r));
        },
      });
    };
    fromRaft('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', (r) => (r.leader === 0 ? 0 : 1));
    fromRaft('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', (r) => (r.role === 'leader' ? 1 : 0));
    fromRaft('lsmraft_raft_term', 'The Raft term of this member.', (r) => r.term);
    fromRaft('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed (the commit index).', (r) => r.commit);
    fromRaft('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied (the applied index).', (r) => r.applied);
    fromRaft('lsmraft_raft_log_first_index', 'The first index of the Raft log kept on disk.', (r) => r.logFirstIndex);
    fromRaft('lsmraft_raft_log_last_index', 'The last index of the Raft log on disk.', (r) => r.logLastIndex);
    fromRaft('lsmraft_raft_snapshot_index', 'The index of the last snapshot.', (r) => r.snapshotIndex);
    new Gauge({
      name: 'etcd_server_proposals_pending',
      help: 'The current number of pending requests (writes, reads, membership changes) on this member.',
      registers,
      collect() {
        this.set(source.pendingProposals());
      },
    });
  }

  private treeMetrics(): void {
    const registers = [this.registry];
    const source = this.source;
    const perTree = (labelNames: Array<'tree' | 'level'>, read: (tree: 'log' | 'state', s: TreeStats) => Array<[Labels<'tree' | 'level'>, number]>) => {
      return (): Array<[Labels<'tree' | 'level'>, number]> => source.trees().flatMap(({ tree, stats }) => read(tree, stats));
    };
    const gauge = (name: string, help: string, rows: () => Array<[Labels<'tree' | 'level'>, number]>, labelNames: Array<'tree' | 'level'> = ['tree']): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [labels, v] of rows()) this.set(labels, v);
        },
      });
    };
    const counter = (name: string, help: string, rows: () => Array<[Labels<'tree' | 'level'>, number]>): void => {
      new Counter({
        name,
        help,
        labelNames: ['tree'],
        registers,
        collect() {
          this.reset();
          for (const [labels, v] of rows()) this.inc(labels, v);
        },
      });
    };
    const one = (read: (s: TreeStats) => number) => perTree(['tree'], (tree, s) => [[{ tree }, read(s)]]);
    gauge('lsmraft_lsm_memtable_bytes', 'Bytes in the mutable memtable.', one((s) => s.memtable.bytes));
    gauge('lsmraft_lsm_immutable_memtable_bytes', 'Bytes in the memtable being flushed.', one((s) => s.memtable.immutableBytes));
    const levels = (read: (l: TreeStats['levels'][number]) => number) =>
      perTree(['tree', 'level'], (tree, s) => s.levels.map((l): [Labels<'tree' | 'level'>, number] => [{ tree, level: String(l.level) }, read(l)]));
    gauge('lsmraft_lsm_level_files', 'Table files per level.', levels((l) => l.files), ['tree', 'level']);
    gauge('lsmraft_lsm_level_bytes', 'Bytes of table files per level.', levels((l) => l.bytes), ['tree', 'level']);
    gauge('lsmraft_lsm_block_cache_bytes', 'Bytes held by the block cache.', one((s) => s.blockCache.usedBytes));
    gauge('lsmraft_lsm_open_tables', 'Table files open in the table cache.', one((s) => s.openTables));
    counter('lsmraft_lsm_flushes_total', 'Memtable flushes.', one((s) => s.flushes.count));
    counter('lsmraft_lsm_flush_written_bytes_total', 'Bytes written by flushes.', one((s) => s.flushes.outputBytes));
    counter('lsmraft_lsm_compactions_total', 'Compactions (trivial moves included).', one((s) => s.compactions.count));
    counter('lsmraft_lsm_compaction_read_bytes_total', 'Bytes read by compactions.', one((s) => s.compactions.inputBytes));
    counter('lsmraft_lsm_compaction_written_bytes_total', 'Bytes written by compactions.', one((s) => s.compactions.outputBytes));
    counter('lsmraft_lsm_write_stall_seconds_total', 'Time writes waited for a flush or compaction (write stalls).', one((s) => s.writes.stallMs / 1000));
    counter('lsmraft_lsm_wal_written_bytes_total', 'Bytes appended to the WAL.', one((s) => s.writes.walBytes));
    counter('lsmraft_lsm_block_cache_hits_total', 'Block cache hits.', one((s) => s.blockCache.hits));
    counter('lsmraft_lsm_block_cache_misses_total', 'Block cache misses.', one((s) => s.blockCache.misses));
    counter('lsmraft_lsm_bloom_filter_checks_total', 'Point lookups a table bloom filter was asked about.', one((s) => s.bloom.checks));
    counter('lsmraft_lsm_bloom_filter_useful_total', 'Point lookups a table bloom filter answered "absent" (a block read saved).', one((s) => s.bloom.useful));
    counter('lsmraft_lsm_background_errors_total', 'Failed flushes and compactions (each is retried).', one((s) => s.backgroundErrors));
  }

  private peerBytes(): void {
    const registers = [this.registry];
    const source = this.source;
    // etcd labels sent bytes by `To` and received bytes by `From`.
    const perPeer = (name: string, help: string, label: 'To' | 'From', read: (t: PeerTraffic) => number): void => {
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [peer, t] of source.peerTraffic()) this.inc({ [label]: String(peer) }, read(t));
        },
      });
    };
    perPeer('etcd_network_peer_sent_bytes_total', 'The total number of bytes sent to peers.', 'To', (t) => t.sentBytes);
    perPeer('etcd_network_peer_received_bytes_total', 'The total number of bytes received from peers.', 'From', (t) => t.receivedBytes);
  }
}
