/**
 * What a node re-applies when it starts: the state tree resumes from its durable applied index
 * (state-machine.ts), and the entries the log already held after it are applied again. Counting
 * them shows how far the state tree's durability lags the log (state-flush.ts bounds it); a
 * restart's time is that of opening the storage (kept here too) plus the time they take.
 *
 * What must hold: only entries of the log as it was at start, above the durable applied index, and
 * applied by this incarnation count; a snapshot installed meanwhile skips what it covers.
 */
export class ReplayProgress {
  private appliedTo: number;
  private replayed = 0;
  private doneMs: number | undefined;
  private readonly startMs: number;

  /**
   * @param appliedOnStart the state tree's applied index when it opened (its durable one)
   * @param logLastOnStart the log's last index when the node opened it
   * @param storageOpenMs the time opening the data directory took, before the replay began
   */
  constructor(
    readonly appliedOnStart: number,
    readonly logLastOnStart: number,
    readonly storageOpenMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.appliedTo = appliedOnStart;
    this.startMs = nowMs();
    if (logLastOnStart <= appliedOnStart) this.doneMs = this.startMs;
  }

  /** Entries of the log at start the node has still to re-apply (committed or not). */
  get pendingEntries(): number {
    return Math.max(0, this.logLastOnStart - this.appliedTo);
  }

  /** Entries re-applied so far. */
  get replayedEntries(): number {
    return this.replayed;
  }

  /** Time from start until the replay ended, or undefined while it goes on. */
  get replayMs(): number | undefined {
    return this.doneMs === undefined ? undefined : this.doneMs - this.startMs;
  }

  /** The state machine applied up to `index`. Returns true when this ends the replay. */
  applied(index: number): boolean {
    if (index <= this.appliedTo) return false;
    this.replayed += Math.max(0, Math.min(index, this.logLastOnStart) - this.appliedTo);
    this.appliedTo = index;
    if (this.doneMs !== undefined || index < this.logLastOnStart) return false;
    this.doneMs = this.nowMs();
    return true;
  }

  /** A snapshot replaced the state at `index`: what it covers was not re-applied. */
  installed(index: number): void {
    this.appliedTo = Math.max(this.appliedTo, index);
    if (this.doneMs === undefined && index >= this.logLastOnStart) this.doneMs = this.nowMs();
  }
}
