/**
 * Auto-compaction of the MVCC history, after etcd's v3compactor (server/etcdserver/api/v3compactor:
 * periodic.go and revision.go; flags `--auto-compaction-mode` and `--auto-compaction-retention`).
 * Every write, native puts included, adds history (src/mvcc/history.ts) that only a Compact
 * removes, so without it the state tree grows forever.
 *
 *   revision  retention N (a count): every checkMs (etcd: 5 minutes) the leader compacts to
 *             currentRevision - N, keeping the last N revisions.
 *   periodic  retention D (a duration: "1h", "30m", "90s", "500ms"; a bare number is hours, as in
 *             etcd): every min(D, 1h)/10 (etcd's sampling period, periodic.go getRetryInterval)
 *             each member samples its current revision; the leader compacts to the newest sample
 *             at least D old, keeping at least D of history. etcd compacts at most every
 *             min(D, 1h); here a check that finds a newer target compacts at once (more, smaller
 *             Compacts; the retained history is the same).
 *
 * Only the leader proposes, and through Raft like any Compact (so every replica compacts at the
 * same log position). A leader change cannot compact wrongly: the target is always at least a
 * retention behind the revision the proposing leader has applied, a target at or below the applied
 * compact revision is not proposed, and a Compact that loses a race with another (a deposed
 * leader's, applied first) is refused by the apply with "required revision has been compacted",
 * which changes nothing and is ignored here. The Compact is logical (etcd's physical=false): the
 * history records go in the compaction steps the following writes take (src/mvcc/compaction.ts).
 *
 * lsmraft's default is periodic 1h, where etcd's is off: in lsmraft native KvClient writes are
 * MVCC writes too, and a store used only through them would have no client to compact it.
 * Retention 0 turns auto-compaction off.
 */
import { InvalidArgumentError } from '../errors.js';
import { MvccError } from '../mvcc/errors.js';
import { assert } from '../util/assert.js';
import { NodeRemovedError, NodeStoppedError, NotLeaderError, RequestTimeoutError, ConnectionClosedError } from './errors.js';

export type AutoCompactionMode = 'periodic' | 'revision';

export type AutoCompaction =
  | { mode: 'off' }
  | { mode: 'revision'; retentionRevisions: number; checkMs: number }
  | { mode: 'periodic'; retentionMs: number; checkMs: number };

/** etcd's revision compactor checks every 5 minutes. */
export const REVISION_CHECK_MS_DEFAULT = 5 * 60_000;
const HOUR_MS = 3_600_000;
/** etcd's retryDivisor: the periodic compactor samples 10 times per min(retention, 1h). */
const PERIODIC_SAMPLES_PER_PERIOD = 10;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: HOUR_MS };

/** Parses `--auto-compaction-mode`/`--auto-compaction-retention` (checkMs overrides the check period). */
export function parseAutoCompaction(mode: string, retention: string, checkMs?: number): AutoCompaction {
  const bad = (why: string) => new InvalidArgumentError(`auto-compaction: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
  if (checkMs !== undefined && (!Number.isSafeInteger(checkMs) || checkMs < 1)) throw bad(`check period must be a positive integer of ms, got ${String(checkMs)}`);
  if (mode === 'revision') {
    if (!/^\d{1,15}$/.test(retention)) throw bad(`revision retention must be a count of revisions, got "${retention}"`);
    const n = Number(retention);
    return n === 0 ? { mode: 'off' } : { mode: 'revision', retentionRevisions: n, checkMs: checkMs ?? REVISION_CHECK_MS_DEFAULT };
  }
  if (mode === 'periodic') {
    const m = /^(\d{1,12}(?:\.\d{1,6})?)(ms|s|m|h)?$/.exec(retention);
    if (m === null) throw bad(`periodic retention must be a duration like 1h, 30m, 90s (a bare number is hours), got "${retention}"`);
    const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'h']!);
    if (ms === 0) return { mode: 'off' };
    return { mode: 'periodic', retentionMs: ms, checkMs: checkMs ?? Math.max(1, Math.floor(Math.min(ms, HOUR_MS) / PERIODIC_SAMPLES_PER_PERIOD)) };
  }
  throw bad(`mode must be periodic or revision, got "${mode}"`);
}

export interface AutoCompactorHost {
  isLeader: () => boolean;
  currentRevision: () => number;
  compactRevision: () => number;
  /** Proposes a logical Compact at `revision` through Raft; resolves once applied here. */
  compact: (revision: number) => Promise<void>;
  log: (line: string) => void;
  /** An error this module does not expect (a bug): the node's fatal path. */
  fatal: (err: unknown) => void;
}

interface Sample {
  atMs: number;
  revision: number;
}

export class AutoCompactor {
  /** Periodic mode's revision samples, oldest first: at most retentionMs / checkMs + 2 of them. */
  private readonly samples: Sample[] = [];
  private readonly samplesMax: number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly cfg: AutoCompaction,
    private readonly host: AutoCompactorHost,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.samplesMax = cfg.mode === 'periodic' ? Math.ceil(cfg.retentionMs / cfg.checkMs) + 2 : 0;
  }

  start(): void {
    if (this.cfg.mode === 'off' || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), this.cfg.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check: sample, and on the leader propose a Compact if the retention allows a newer one. */
  async check(): Promise<void> {
    if (this.running) return; // the previous Compact is still in flight
    this.running = true;
    let target: number | undefined;
    try {
      // Reading the revisions fails (KV_ERR_STOPPED) while a snapshot replaces the state: transient.
      target = this.target();
      if (target === undefined || !this.host.isLeader() || target <= this.host.compactRevision()) return;
      assert(target <= this.host.currentRevision(), () => `auto-compaction target ${target} is a future revision`);
      await this.host.compact(target);
      this.host.log(`auto-compaction: compacted to revision ${target}`);
    } catch (err) {
      if (err instanceof MvccError && err.code === 'MVCC_ERR_COMPACTED') return; // another Compact got there first
      if (isTransient(err)) {
        this.host.log(`auto-compaction to revision ${target ?? '?'} not done, retried later: ${(err as Error).message}`);
        return;
      }
      this.host.fatal(err);
    } finally {
      this.running = false;
    }
  }

  private target(): number | undefined {
    const now = this.nowMs();
    const current = this.host.currentRevision();
    if (this.cfg.mode === 'revision') {
      const t = current - this.cfg.retentionRevisions;
      return t > 0 ? t : undefined;
    }
    if (this.cfg.mode !== 'periodic') return undefined;
    this.samples.push({ atMs: now, revision: current });
    // Keep the newest sample old enough, and everything after it.
    let newestOld = -1;
    for (let i = 0; i < this.samples.length; i++) if (this.samples[i]!.atMs <= now - this.cfg.retentionMs) newestOld = i;
    if (newestOld > 0) this.samples.splice(0, newestOld);
    if (this.samples.length > this.samplesMax) this.samples.splice(0, this.samples.length - this.samplesMax);
    const s = this.samples[0]!;
    return s.atMs <= now - this.cfg.retentionMs && s.revision > 0 ? s.revision : undefined;
  }
}

function isTransient(err: unknown): boolean {
  return (
    err instanceof NotLeaderError ||
    err instanceof RequestTimeoutError ||
    err instanceof NodeStoppedError ||
    err instanceof NodeRemovedError ||
    err instanceof ConnectionClosedError
  );
}
