/**
 * Raft's safety properties (Ongaro's thesis, figure 3.2), checked as the simulation runs:
 *
 *   election safety       at most one leader per term, over the whole run
 *   leader append-only    a leader never overwrites or deletes entries of its log while leader
 *   log matching          two logs with an entry of the same index and term agree on it and on
 *                         every entry before it
 *   leader completeness   an entry committed in term T is in the log of every leader of a term > T
 *   state machine safety  no two nodes apply different entries at the same index
 *
 * plus two rules the safety proof leans on, checked directly because the histories that expose
 * their violation are rare: a leader advances its commit index only to an entry of its own term
 * (thesis 3.6.2; older entries are committed indirectly), and a leader appends a configuration
 * change only when no other one is pending above its applied index (thesis 4.1).
 *
 * Every check is incremental, fed by the driver as it handles each Ready, so the cost is
 * proportional to the entries that move, not to the log length: log matching keeps one registry
 * of (index, term) -> (payload, previous term), which by induction on the index proves the whole
 * prefixes equal. Leader completeness is checked when a node is seen to become leader, against the
 * entries known committed, each tagged with the lowest term in which some node reported it
 * committed (a node's hard state {term, commit} proves the leader of that term had it committed).
 */

import type { Entry, HardState, NodeId, Snapshot } from '../raft/types.js';
import type { Storage } from '../raft/storage.js';
import { equalBytes } from '../util/bytes.js';

export type InvariantName =
  | 'election-safety'
  | 'leader-append-only'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'conf-change-one-at-a-time'
  | 'leader-commit-rule'
  | 'apply-order'
  | 'linearizability'
  | 'core-error';

/** The simulator found the core breaking a safety property. Not a user error: a bug report. */
export class SafetyViolation extends Error {
  readonly invariant: InvariantName;
  constructor(invariant: InvariantName, message: string) {
    super(`${invariant}: ${message}`);
    this.name = 'SafetyViolation';
    this.invariant = invariant;
  }
}

interface EntryRecord {
  type: Entry['type'];
  data: Uint8Array;
  /** Term of the entry before it in the log that held it, or -1 when that entry was compacted. */
  prevTerm: number;
}

interface CommittedRecord {
  term: number;
  /** Lowest node term seen together with a commit index covering this entry. */
  commitTerm: number;
  /** The applied payload, once some node applied it. */
  applied: { type: Entry['type']; data: Uint8Array } | undefined;
}

/** What the driver tells the checker about one handled Ready of one node. */
export interface PersistEvent {
  nodeId: NodeId;
  /** Leader term before this Ready (0: was not leader) and after it. */
  leaderTermBefore: number;
  leaderTermAfter: number;
  /** lastIndex() of the node's storage before the Ready's entries were appended. */
  lastIndexBefore: number;
  /** The node's applied index when the Ready is persisted (before its committed entries). */
  appliedIndex: number;
  entries: readonly Entry[];
  snapshot: Snapshot | undefined;
  hardState: HardState | undefined;
  /** The node's storage after persisting. */
  storage: Storage;
  /** The commit index of the node's last persisted hard state before this Ready. */
  commitBefore: number;
}

export interface SafetyCheckerOptions {
  /**
   * Also check the two protocol rules (leader commit rule, one conf change at a time) directly.
   * Default true. Turned off, only the five properties are checked, which shows whether a broken
   * rule is caught by its consequences.
   */
  ruleChecks?: boolean;
}

export class SafetyChecker {
  private readonly ruleChecks: boolean;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** log-matching registry: index -> term -> record. */
  private readonly byIndex = new Map<number, Map<number, EntryRecord>>();
  /** Committed entries by index (sparse until learned). */
  private readonly committed: (CommittedRecord | undefined)[] = [];
  private readonly commitSeen = new Map<NodeId, number>();
  checks = 0;

  constructor(options: SafetyCheckerOptions = {}) {
    this.ruleChecks = options.ruleChecks ?? true;
  }

  /** A node is leader in `term` (called once the Ready that made it so is persisted). */
  onLeader(nodeId: NodeId, term: number, storage: Storage): void {
    this.checks++;
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== nodeId) {
      throw new SafetyViolation('election-safety', `nodes ${other} and ${nodeId} are both leader of term ${term}`);
    }
    if (other !== undefined) return;
    this.leaderOfTerm.set(term, nodeId);
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    for (let i = Math.max(first, 1); i < this.committed.length; i++) {
      const c = this.committed[i];
      if (c === undefined || c.commitTerm >= term) continue;
      if (i > last) {
        throw new SafetyViolation('leader-completeness', `leader ${nodeId} of term ${term} lacks entry ${i} (term ${c.term}, committed by term ${c.commitTerm}); its log ends at ${last}`);
      }
      const t = storage.term(i);
      if (t !== c.term) {
        throw new SafetyViolation('leader-completeness', `leader ${nodeId} of term ${term} has term ${t} at index ${i}, but term ${c.term} was committed there (by term ${c.commitTerm})`);
      }
    }
  }

  onPersist(ev: PersistEvent): void {
    this.checks++;
    const stillLeader = ev.leaderTermBefore !== 0 && ev.leaderTermBefore === ev.leaderTermAfter;
    if (stillLeader) {
      if (ev.snapshot !== undefined && ev.snapshot.meta.index > 0) {
        throw new SafetyViolation('leader-append-only', `leader ${ev.nodeId} of term ${ev.leaderTermAfter} installed a snapshot at ${ev.snapshot.meta.index}`);
      }
      if (ev.entries.length > 0 && ev.entries[0]!.index !== ev.lastIndexBefore + 1) {
        throw new SafetyViolation('leader-append-only', `leader ${ev.nodeId} of term ${ev.leaderTermAfter} wrote entries from ${ev.entries[0]!.index} over its log ending at ${ev.lastIndexBefore}`);
      }
      if (this.ruleChecks) this.checkLeaderRules(ev);
    }
    if (ev.snapshot !== undefined && ev.snapshot.meta.index > 0) {
      const c = this.committed[ev.snapshot.meta.index];
      if (c !== undefined && c.term !== ev.snapshot.meta.term) {
        throw new SafetyViolation('state-machine-safety', `node ${ev.nodeId} installed a snapshot at ${ev.snapshot.meta.index} term ${ev.snapshot.meta.term}, but term ${c.term} is committed there`);
      }
    }
    this.checkLogMatching(ev);
    if (ev.hardState !== undefined) this.onCommit(ev.nodeId, ev.hardState, ev.storage);
  }

  /** A node applied `entry` (in index order; the driver checks the order). */
  onApply(nodeId: NodeId, entry: Entry): void {
    this.checks++;
    let c = this.committed[entry.index];
    if (c === undefined) {
      c = { term: entry.term, commitTerm: Infinity, applied: undefined };
      this.committed[entry.index] = c;
    }
    if (c.term !== entry.term) {
      throw new SafetyViolation('state-machine-safety', `node ${nodeId} applied index ${entry.index} of term ${entry.term}, but term ${c.term} is committed there`);
    }
    if (c.applied === undefined) {
      c.applied = { type: entry.type, data: entry.data };
    } else if (c.applied.type !== entry.type || !equalBytes(c.applied.data, entry.data)) {
      throw new SafetyViolation('state-machine-safety', `node ${nodeId} applied a different entry at index ${entry.index} (term ${entry.term}) than another node`);
    }
  }

  get leaderTerms(): number {
    return this.leaderOfTerm.size;
  }

  get committedCount(): number {
    return this.committed.length === 0 ? 0 : this.committed.length - 1;
  }

  private onCommit(nodeId: NodeId, hs: HardState, storage: Storage): void {
    const seen = this.commitSeen.get(nodeId) ?? 0;
    if (hs.commit <= seen) return;
    this.commitSeen.set(nodeId, hs.commit);
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    // Entries a node reports committed must be in its log once the Ready is persisted.
    if (hs.commit > last) {
      throw new SafetyViolation('log-matching', `node ${nodeId} reports commit ${hs.commit} beyond its persisted log ending at ${last}`);
    }
    for (let i = Math.max(seen + 1, first); i <= hs.commit; i++) {
      const t = storage.term(i);
      let c = this.committed[i];
      if (c === undefined) {
        c = { term: t, commitTerm: hs.term, applied: undefined };
        this.committed[i] = c;
      } else if (c.term !== t) {
        throw new SafetyViolation('state-machine-safety', `node ${nodeId} has term ${t} at committed index ${i}, but term ${c.term} was committed there`);
      } else if (hs.term < c.commitTerm) {
        c.commitTerm = hs.term;
      }
    }
  }

  private checkLogMatching(ev: PersistEvent): void {
    const snapIndex = ev.storage.firstIndex() - 1;
    for (let k = 0; k < ev.entries.length; k++) {
      const e = ev.entries[k]!;
      let prevTerm: number;
      if (k > 0) prevTerm = ev.entries[k - 1]!.term;
      else if (e.index - 1 >= snapIndex && e.index - 1 <= ev.storage.lastIndex()) prevTerm = ev.storage.term(e.index - 1);
      else prevTerm = -1;
      let terms = this.byIndex.get(e.index);
      if (terms === undefined) {
        terms = new Map();
        this.byIndex.set(e.index, terms);
      }
      const rec = terms.get(e.term);
      if (rec === undefined) {
        terms.set(e.term, { type: e.type, data: e.data, prevTerm });
        continue;
      }
      if (rec.type !== e.type || !equalBytes(rec.data, e.data)) {
        throw new SafetyViolation('log-matching', `node ${ev.nodeId} holds a different entry at index ${e.index} term ${e.term} than another log`);
      }
      if (rec.prevTerm === -1) {
        rec.prevTerm = prevTerm;
      } else if (prevTerm !== -1 && prevTerm !== rec.prevTerm) {
        throw new SafetyViolation('log-matching', `node ${ev.nodeId} has entry ${e.index}/${e.term} after term ${prevTerm}, another log after term ${rec.prevTerm}`);
      }
    }
  }

  private checkLeaderRules(ev: PersistEvent): void {
    this.checkConfChangesOneAtATime(ev);
    const hs = ev.hardState;
    if (hs !== undefined && hs.commit > ev.commitBefore && hs.commit >= ev.storage.firstIndex()) {
      const t = ev.storage.term(hs.commit);
      if (t !== ev.leaderTermAfter) {
        throw new SafetyViolation('leader-commit-rule', `leader ${ev.nodeId} of term ${ev.leaderTermAfter} advanced its commit index to ${hs.commit}, an entry of term ${t}`);
      }
    }
  }

  private checkConfChangesOneAtATime(ev: PersistEvent): void {
    let pendingAt = -1;
    for (const e of ev.entries) {
      if (e.type !== 'confChange') continue;
      if (pendingAt < 0) {
        // Look for an unapplied change already in the log before this batch.
        const lo = Math.max(ev.appliedIndex + 1, ev.storage.firstIndex());
        const hi = e.index;
        if (lo < hi) {
          for (const old of ev.storage.entries(lo, hi, Number.MAX_SAFE_INTEGER)) {
            if (old.type === 'confChange') pendingAt = old.index;
          }
        }
      }
      if (pendingAt >= 0) {
        throw new SafetyViolation('conf-change-one-at-a-time', `leader ${ev.nodeId} appended a conf change at ${e.index} while the one at ${pendingAt} is not applied (applied ${ev.appliedIndex})`);
      }
      pendingAt = e.index;
    }
  }
}
