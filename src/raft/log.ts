/**
 * The Raft log as the core sees it: the durable part in Storage plus the part not yet persisted
 * (Unstable), with the committed and applied indexes. After etcd-io/raft's log.go and
 * log_unstable.go.
 *
 *   storage:  [firstIndex ........ storage.lastIndex]
 *   unstable:                 [offset ......... lastIndex]   (may overlap storage: a new suffix
 *                                                            replaces the stored one when persisted)
 *
 * Invariants: applied <= committed <= lastIndex(); firstIndex()-1 <= applied (a snapshot is applied).
 */
import { assert } from '../util/assert.js';
import { limitSize, type Storage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/** Entries and snapshot received but not yet handed to the driver as persisted. */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.meta.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.meta.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.meta.index === i) return this.snapshot.meta.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** Entries up to (i, t) were persisted: drop them, unless a newer suffix replaced them since. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // The whole unstable part is replaced (it may also replace a stored suffix).
      this.offset = after;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi,
      () => `unstable.slice[${lo},${hi}) out of bound [${this.offset},${this.offset + this.entries.length})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be stored on a quorum. */
  committed: number;
  /** Highest index the driver has applied (reported through advance()). */
  applied: number;
  /** Bound on the bytes of committed entries handed out in one Ready. */
  private readonly maxNextEntsBytes: number;

  constructor(storage: Storage, maxNextEntsBytes: number) {
    this.storage = storage;
    this.maxNextEntsBytes = maxNextEntsBytes;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1);
    // Everything up to the snapshot is committed and applied.
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  toString(): string {
    return `committed=${this.committed} applied=${this.applied} unstable.offset=${this.unstable.offset} unstable.len=${this.unstable.entries.length}`;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry i, or undefined if it is compacted away or past the end. */
  term(i: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1;
    if (i < dummyIndex || i > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last entry always has a term');
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft §5.4.1: is a log ending at (lasti, term) at least as up to date as ours? */
  isUpToDate(lasti: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && lasti >= this.lastIndex());
  }

  /**
   * Appends `ents` after (index, logTerm) if our log matches there; commits up to min(committed,
   * last new index). Returns the last new index, or undefined on a mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      // Raft §5.3: a conflicting suffix is replaced, but never one that is already committed.
      assert(ci > this.committed, () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    assert(after >= this.committed, () => `append after ${after} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` whose term differs from ours (or that we lack), or 0 if
   * all of them are already in our log.
   */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * etcd's findConflictByTerm: the largest index <= `index` whose term is <= `term`. A leader that
   * learns the follower's log has term `term` at `index` can skip every entry of a higher term in
   * one step. Stops at the first index whose term is unknown (compacted).
   */
  findConflictByTerm(index: number, term: number): number {
    const li = this.lastIndex();
    let i = Math.min(index, li);
    const floor = this.firstIndex() - 1;
    while (i > floor) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
      i--;
    }
    return i;
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet applied, bounded by maxNextEntsBytes. */
  nextEnts(): Entry[] {
    const off = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 > off) {
      const ents = this.slice(off, this.committed + 1, this.maxNextEntsBytes);
      assert(ents !== undefined, 'unapplied committed entries are never compacted');
      return ents;
    }
    return [];
  }

  hasNextEnts(): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return;
    assert(this.lastIndex() >= toCommit,
      () => `commit ${toCommit} is out of range [lastIndex ${this.lastIndex()}]; was the log corrupted, truncated or lost?`);
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(this.committed >= i && i >= this.applied,
      () => `applied ${i} is out of range [prevApplied ${this.applied}, committed ${this.committed}]`);
    this.applied = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Entries from i to the end, bounded by maxBytes; undefined if i is compacted. */
  entries(i: number, maxBytes: number): Entry[] | undefined {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** Entries [lo, hi) bounded by maxBytes (at least one); undefined if lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    assert(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, () => `slice[${lo},${hi}) out of bound lastIndex ${this.lastIndex()}`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const stored = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      // Storage stopped early (byte limit): do not append unstable entries after a gap.
      if (stored.length < Math.min(hi, offset) - lo) return stored;
      ents = stored;
    }
    if (hi > offset) {
      const unstable = this.unstable.slice(Math.max(lo, offset), hi);
      ents = ents.length > 0 ? ents.concat(unstable) : unstable;
    }
    return limitSize(ents, maxBytes);
  }

  /**
   * Consistency check behind INVARIANTS, run on every advance(): applied <= committed <= lastIndex,
   * unstable entries are contiguous from offset, and terms never decrease across the unstable part
   * and where it joins the stored log (the stored part was checked when it was unstable).
   */
  checkInvariants(): void {
    assert(this.applied <= this.committed, () => `applied ${this.applied} > committed ${this.committed}`);
    assert(this.committed <= this.lastIndex(), () => `committed ${this.committed} > lastIndex ${this.lastIndex()}`);
    const u = this.unstable;
    let prevTerm = this.term(u.offset - 1) ?? 0;
    for (let i = 0; i < u.entries.length; i++) {
      const e = u.entries[i]!;
      assert(e.index === u.offset + i, () => `unstable entry ${i} has index ${e.index}, want ${u.offset + i}`);
      assert(e.term >= prevTerm, () => `log terms decrease at ${e.index}: ${e.term} after ${prevTerm}`);
      prevTerm = e.term;
    }
  }

  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}
