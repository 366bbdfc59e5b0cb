/**
 * Watching a node's two LSM trees from outside (their stats(), read once a second): a write stall
 * or a failed flush/compaction is logged when it happens instead of only counted, and /health
 * (http-status.ts) learns whether storage is failing. A tree retries a failed job with a backoff of
 * at most 5 s (src/lsm/background.ts), so an error newer than BACKGROUND_ERROR_FRESH_MS means the
 * tree is still failing; one older than that was followed by successful retries or no work.
 *
 * What must hold: the watch holds no tree open and never throws into its timer (stats() does no
 * IO); its log lines are bounded: at most one stall line per tree per STALL_LOG_INTERVAL_MS.
 */
import type { TreeStats } from '../lsm/db.js';
import type { Logger } from './node-logger.js';

/** How often the trees' stats are read. */
export const STORAGE_WATCH_INTERVAL_MS = 1_000;
/** A background error this recent makes the node unhealthy. */
export const BACKGROUND_ERROR_FRESH_MS = 10_000;
/** Write stalls are summed and logged at most once per tree per this interval. */
export const STALL_LOG_INTERVAL_MS = 30_000;

export type TreeName = 'log' | 'state';

interface Seen {
  backgroundErrors: number;
  stallMs: number;
  stallLoggedAtMs: number;
  stallMsUnlogged: number;
}

export class StorageWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly seen = new Map<TreeName, Seen>();

  constructor(
    private readonly trees: () => Array<{ tree: TreeName; stats: TreeStats }>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(Date.now()), STORAGE_WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Why storage is unhealthy now, or undefined. */
  problem(nowMs = Date.now()): string | undefined {
    for (const { tree, stats } of this.trees()) {
      const e = stats.lastBackgroundError;
      if (e !== undefined && nowMs - e.at < BACKGROUND_ERROR_FRESH_MS) return `${tree} tree background error ${e.code}: ${e.message}`;
    }
    return undefined;
  }

  /** Logs what changed since the last check (exported for the tests' clock). */
  check(nowMs: number): void {
    for (const { tree, stats } of this.trees()) {
      let s = this.seen.get(tree);
      if (s === undefined || stats.backgroundErrors < s.backgroundErrors || stats.writes.stallMs < s.stallMs) {
        // First look, or the tree was replaced (a snapshot install): start from its counts.
        s = { backgroundErrors: stats.backgroundErrors, stallMs: stats.writes.stallMs, stallLoggedAtMs: 0, stallMsUnlogged: 0 };
        this.seen.set(tree, s);
        continue;
      }
      if (stats.backgroundErrors > s.backgroundErrors && stats.lastBackgroundError !== undefined) {
        const e = stats.lastBackgroundError;
        this.log.error({ tree, code: e.code, failures: stats.backgroundErrors - s.backgroundErrors }, `${tree} tree: background job failed (retried): ${e.message}`);
      }
      s.backgroundErrors = stats.backgroundErrors;
      s.stallMsUnlogged += stats.writes.stallMs - s.stallMs;
      s.stallMs = stats.writes.stallMs;
      if (s.stallMsUnlogged > 0 && nowMs - s.stallLoggedAtMs >= STALL_LOG_INTERVAL_MS) {
        this.log.warn({ tree, stallMs: Math.round(s.stallMsUnlogged) }, `${tree} tree: writes stalled ${Math.round(s.stallMsUnlogged)} ms waiting for flushes or compactions`);
        s.stallMsUnlogged = 0;
        s.stallLoggedAtMs = nowMs;
      }
    }
  }
}
