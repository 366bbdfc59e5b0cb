/**
 * SpaceAlarm: raises this member's NOSPACE alarm through Raft (src/mvcc/alarms.ts: every member
 * then refuses writes that take space) when its storage runs out of room, after etcd's
 * quotaAlarmer (server/etcdserver/api/v3rpc/quota.go), which proposes AlarmRequest ACTIVATE
 * NOSPACE when the backend outgrows --quota-backend-bytes. Two causes here:
 *
 * - a tree's background work is failing with ENOSPC (a flush or compaction retried by the tree,
 *   src/lsm/error-handler.ts): the disk is full, whatever the quota says;
 * - the state tree's bytes (NodeEtcd.dbSizeBytes, etcd's dbSize) exceed quotaBackendBytes, when
 *   one is set (0: none; etcd's default is 2 GiB, lsmraft sets none unless asked).
 *
 * Checked every checkMs from the trees' stats (no IO). Only a member with no NOSPACE alarm of its
 * own in the applied state proposes, one proposal at a time; a failed proposal (no leader, a
 * timeout) is tried again at the next check. An operator disarms the alarm (etcdctl alarm disarm)
 * once space is freed; if it is not, the next check raises it again, as etcd's next write does.
 * A failed WAL append is not covered: the node stops on it (as etcd exits on a failed WAL write).
 */
import { LsmraftError } from '../errors.js';
import type { TreeStats } from '../lsm/db.js';
import { NodeStoppedError } from './errors.js';

/** How often the trees are looked at by default. */
export const SPACE_CHECK_MS_DEFAULT = 500;

export interface SpaceAlarmHost {
  trees(): Array<{ tree: 'log' | 'state'; stats: TreeStats }>;
  dbSizeBytes(): number;
  /** State tree bytes above which the alarm is raised; 0: no quota. */
  quotaBackendBytes: number;
  checkMs: number;
  /** Whether this member's NOSPACE alarm is in the applied state. */
  active(): boolean;
  /** Proposes this member's NOSPACE alarm; rejects with a typed error if it was not applied. */
  raise(): Promise<void>;
  log(line: string): void;
  fatal(err: unknown): void;
}

export class SpaceAlarm {
  private timer: NodeJS.Timeout | undefined;
  private raising = false;

  constructor(private readonly h: SpaceAlarmHost) {}

  start(): void {
    this.timer = setInterval(() => this.check(), this.h.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Why this member is out of space now, or undefined. */
  reason(): string | undefined {
    for (const { tree, stats } of this.h.trees()) {
      const bg = stats.background;
      if (bg.state !== 'ok' && bg.cause.errno === 'ENOSPC') return `${tree} tree: ${bg.cause.message}`;
    }
    const quota = this.h.quotaBackendBytes;
    if (quota > 0) {
      const size = this.h.dbSizeBytes();
      if (size > quota) return `state tree of ${size} bytes exceeds the quota of ${quota} bytes`;
    }
    return undefined;
  }

  /** One look (exported for tests): proposes the alarm if this member is out of space and has none. */
  check(): void {
    if (this.raising) return;
    let why: string | undefined;
    try {
      why = this.reason();
      if (why === undefined || this.h.active()) return;
    } catch (err) {
      // The state machine is being replaced by a snapshot (state-holder.ts): look again next time.
      if (err instanceof NodeStoppedError) return;
      throw err;
    }
    this.raising = true;
    this.h.log(`out of space (${why}): raising a NOSPACE alarm`);
    this.h
      .raise()
      .catch((err: unknown) => {
        if (!(err instanceof LsmraftError)) throw err;
        this.h.log(`NOSPACE alarm not raised (tried again): ${err.message}`);
      })
      .catch((err: unknown) => this.h.fatal(err))
      .finally(() => {
        this.raising = false;
      });
  }
}
