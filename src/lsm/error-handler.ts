/**
 * What a tree does when background work fails (after RocksDB's ErrorHandler, db/error_handler.cc,
 * and its "auto-recovery from retryable IO errors"): each failure is classified by severity.
 *
 * - Retryable (an IO error such as ENOSPC or EIO, or a job whose worker failed): the failing work is
 *   retried after a backoff that doubles from RETRY_DELAY_MS_MIN to RETRY_DELAY_MS_MAX. The state
 *   is 'retrying' until the work that failed succeeds. Writers that wait for it (a full memtable
 *   whose flush fails, L0 at l0StopWritesTrigger) fail with LSM_ERR_JOB_FAILED once they have
 *   waited backgroundErrorStallMsMax; they are certainly not applied.
 * - Not retryable (a compaction input fails its checksum, a job fails in a way a retry repeats):
 *   the tree turns read-only for good (until reopened): reads work, every write and flush fails at
 *   once with LSM_ERR_BACKGROUND (BackgroundError) whose cause is the original error, and no more
 *   background work starts.
 *
 * A manifest write that fails with an IO error is retryable too, although its outcome is unknown:
 * version-set.ts starts a new manifest from the in-memory state on the next edit, so the retry
 * itself settles it (the failed edit is then certainly not applied), and the job's outputs are
 * kept meanwhile (TreeCore.uncertainOutputs). A WAL write failure is recovered from by the write
 * path (write-path.ts: a fresh WAL, then a flush before any write is acknowledged).
 *
 * What must hold:
 * - the retry timer keeps the process alive exactly while someone waits on it (hold()): a script
 *   whose only pending work is a write stalled behind a retry must not exit part-way;
 * - the read-only state is sticky; nothing leaves it but a reopen;
 * - every error is counted and its summary kept (stats().lastBackgroundError).
 */
import { BackgroundError, LsmraftError } from '../errors.js';
import { isSystemError } from './system-error.js';

const RETRY_DELAY_MS_MIN = 50;
const RETRY_DELAY_MS_MAX = 5_000;

/** The kinds of background work whose failure changes the state; each is cleared by its success. */
export type BackgroundWork = 'flush' | 'compaction' | 'wal';

export interface ErrorSummary {
  code: string;
  message: string;
  /** The system error code behind it ("ENOSPC", "EIO"), if its cause chain holds one. */
  errno?: string;
  /** Date.now() when it happened. */
  at: number;
}

/** The background state shown by stats() and describe(). */
export type BackgroundStatus =
  | { state: 'ok' }
  | { state: 'retrying'; cause: ErrorSummary; attempts: number; nextRetryAt: number | undefined }
  | { state: 'read-only'; cause: ErrorSummary };

/** Causes looked through for a system error (an IoError inside a JobFailedError is two deep). */
const CAUSE_DEPTH_MAX = 8;

/** The errno code of the first system error in err's cause chain (a node may act on ENOSPC). */
function errnoOf(err: unknown): string | undefined {
  let e = err;
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && e instanceof Error; depth++) {
    if (!(e instanceof LsmraftError) && isSystemError(e)) return e.code;
    e = e.cause;
  }
  return undefined;
}

function summarize(err: unknown): ErrorSummary {
  const code = err instanceof LsmraftError ? err.code : 'LSM_ERR_JOB_FAILED';
  const errno = errnoOf(err);
  const summary: ErrorSummary = { code, message: err instanceof Error ? err.message : String(err), at: Date.now() };
  if (errno !== undefined) summary.errno = errno;
  return summary;
}

/**
 * True when retrying may succeed: an IO error, or a failed job whose cause is one (or unknown, as
 * a worker that died). Corruption and every other typed error repeat on a retry.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof LsmraftError)) return false;
  if (err.code === 'LSM_ERR_IO') return true;
  if (err.code !== 'LSM_ERR_JOB_FAILED') return false;
  return !(err.cause instanceof LsmraftError) || isRetryable(err.cause);
}

export class ErrorHandler {
  /** Work that failed and has not succeeded since. */
  private readonly failing = new Set<BackgroundWork>();
  private readOnlyCause: unknown = undefined;
  private readOnlySummary: ErrorSummary | undefined = undefined;
  /** The last error of work still failing (what a stalled writer reports as its cause). */
  private lastFailure: { err: unknown; summary: ErrorSummary } | undefined = undefined;
  private lastSummary: ErrorSummary | undefined = undefined;
  private attempts = 0;
  private retryDelayMs = RETRY_DELAY_MS_MIN;
  private timer: NodeJS.Timeout | undefined = undefined;
  private nextRetryAt: number | undefined = undefined;
  /** Callers waiting for background progress: while > 0 the retry timer keeps the process alive. */
  private holders = 0;
  private closed = false;

  /**
   * @param onRetry runs when the backoff ends: reschedules the failed work and wakes waiters.
   * @param onError counts each error (TreeCore.counters.backgroundErrors).
   */
  constructor(
    private readonly onRetry: () => void,
    private readonly onError: () => void,
  ) {}

  /** True while a retry is pending: failed work waits for it rather than starting again at once. */
  get retryPending(): boolean {
    return this.timer !== undefined;
  }

  get readOnly(): boolean {
    return this.readOnlyCause !== undefined;
  }

  get lastError(): ErrorSummary | undefined {
    return this.lastSummary;
  }

  /** The error a writer stalled behind failing work reports as its cause (undefined when none). */
  get failure(): unknown {
    return this.readOnlyCause ?? (this.failing.size > 0 ? this.lastFailure?.err : undefined);
  }

  status(): BackgroundStatus {
    if (this.readOnlySummary !== undefined) return { state: 'read-only', cause: this.readOnlySummary };
    if (this.failing.size === 0) return { state: 'ok' };
    return { state: 'retrying', cause: this.lastFailure!.summary, attempts: this.attempts, nextRetryAt: this.nextRetryAt };
  }

  /** Throws LSM_ERR_BACKGROUND once the tree is read-only. */
  checkWritable(): void {
    if (this.readOnlyCause !== undefined) throw new BackgroundError(this.readOnlyCause);
  }

  /** Counts and keeps an error that changes no state (a failed unlink: the next pass retries it). */
  record(err: unknown): ErrorSummary {
    this.onError();
    this.lastSummary = summarize(err);
    return this.lastSummary;
  }

  /** `work` failed with `err`: retried after the backoff, or the tree turns read-only. */
  report(work: BackgroundWork, err: unknown): void {
    const summary = this.record(err);
    if (this.readOnlyCause !== undefined) return;
    if (!isRetryable(err)) {
      this.readOnlyCause = err;
      this.readOnlySummary = summary;
      this.cancelRetry();
      return;
    }
    this.failing.add(work);
    this.lastFailure = { err, summary };
    this.attempts++;
    if (this.closed || this.timer !== undefined) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_DELAY_MS_MAX);
    this.nextRetryAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.nextRetryAt = undefined;
      this.onRetry();
    }, delay);
    if (this.holders === 0) this.timer.unref();
  }

  /** `work` succeeded: once nothing fails any more the state is ok and the backoff starts over. */
  succeeded(work: BackgroundWork): void {
    if (!this.failing.delete(work) || this.failing.size > 0) return;
    this.attempts = 0;
    this.retryDelayMs = RETRY_DELAY_MS_MIN;
  }

  /**
   * A caller starts waiting for background progress; the returned function ends the wait. While
   * anyone waits, a pending retry keeps the process alive (it is what will make progress).
   */
  hold(): () => void {
    if (this.holders++ === 0) this.timer?.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders === 0) this.timer?.unref();
    };
  }

  /** The tree is closing: no retry is pending or armed from now on. */
  close(): void {
    this.closed = true;
    this.cancelRetry();
  }

  private cancelRetry(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextRetryAt = undefined;
  }
}
