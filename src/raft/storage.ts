/**
 * The Raft core's view of durable state, and an in-memory implementation of it. After
 * etcd-io/raft's storage.go (Storage interface, MemoryStorage).
 *
 * The core only reads Storage. The driver writes it, following the Ready contract: it appends
 * rd.entries, sets rd.hardState and applies rd.snapshot before sending rd.messages.
 *
 * MemoryStorage keeps `ents[0]` as a dummy entry standing for the snapshot: its index and term are the
 * snapshot's, so term(snapshotIndex) is answerable and firstIndex() = ents[0].index + 1.
 */
import { assert } from '../util/assert.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import {
  cloneConfState,
  entrySizeBytes,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.js';

export interface Storage {
  /** The hard state and the configuration as of the last applied snapshot/conf change. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries [lo, hi), at most maxBytes of them (but always at least one if any are in range).
   * Throws CompactedError if lo <= the snapshot index, UnavailableError if hi > lastIndex()+1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i, for i in [snapshot index, lastIndex()]; else CompactedError/UnavailableError. */
  term(i: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

/** How many entries of ents[from, to) fit in maxBytes by entrySizeBytes: at least one if any. */
export function countWithinBytes(ents: readonly Entry[], from: number, to: number, maxBytes: number): number {
  if (from >= to) return 0;
  let size = entrySizeBytes(ents[from]!);
  let i = from + 1;
  for (; i < to; i++) {
    size += entrySizeBytes(ents[i]!);
    if (size > maxBytes) break;
  }
  return i - from;
}

/** Limits a run of entries to maxBytes by entrySizeBytes, keeping at least the first. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  const n = countWithinBytes(ents, 0, ents.length, maxBytes);
  return n === ents.length ? ents : ents.slice(0, n);
}

const EMPTY = new Uint8Array(0);

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY };
  /** The conf state the driver last recorded (after applying a conf change), or the snapshot's. */
  private confState: ConfState = { voters: [], learners: [] };
  /** ents[0] is the dummy entry at the snapshot's index and term. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: EMPTY }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** Records the configuration after the driver applied a conf change (read back by initialState). */
  setConfState(cs: ConfState): void {
    this.confState = cloneConfState(cs);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    assert(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    // Only what fits is copied: a follower far behind asks for the whole rest of the log.
    const from = lo - offset;
    return this.ents.slice(from, from + countWithinBytes(this.ents, from, hi - offset, maxBytes));
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new CompactedError(i, offset + 1);
    if (i - offset >= this.ents.length) throw new UnavailableError(i, this.lastIndex());
    return this.ents[i - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with the snapshot. Throws SnapshotOutOfDateError for an older one. */
  applySnapshot(s: Snapshot): void {
    if (s.meta.index < this.snap.meta.index) throw new SnapshotOutOfDateError(s.meta.index, this.snap.meta.index);
    this.snap = s;
    this.confState = cloneConfState(s.meta.conf);
    this.ents = [{ term: s.meta.term, index: s.meta.index, type: 'normal', data: EMPTY }];
  }

  /**
   * Makes a snapshot at `index` (<= the committed index the driver applied) and returns it. Does not
   * compact: call compact() separately. Throws SnapshotOutOfDateError for an index at or below the
   * current snapshot's.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) throw new SnapshotOutOfDateError(index, this.snap.meta.index);
    const offset = this.ents[0]!.index;
    assert(index <= this.lastIndex(), () => `snapshot ${index} is out of bound lastIndex ${this.lastIndex()}`);
    this.snap = { meta: { index, term: this.ents[index - offset]!.term, conf: cloneConfState(conf) }, data };
    return this.snap;
  }

  /**
   * Discards entries before `index`; entry `index` becomes the dummy. The driver must not compact past
   * its applied index. Throws CompactedError if already compacted to or past it.
   */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) throw new CompactedError(index, offset + 1);
    assert(index <= this.lastIndex(), () => `compact ${index} is out of bound lastIndex ${this.lastIndex()}`);
    const i = index - offset;
    const dummy: Entry = { term: this.ents[i]!.term, index, type: 'normal', data: EMPTY };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
  }

  /**
   * Appends entries, truncating any existing suffix they conflict with. Entries already compacted
   * away are skipped. The entries must be contiguous and must not leave a gap after lastIndex().
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    let ents = entries;
    if (first > ents[0]!.index) ents = ents.slice(first - ents[0]!.index);
    const offset = ents[0]!.index - this.ents[0]!.index;
    assert(offset <= this.ents.length, () => `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`);
    this.ents = [...this.ents.slice(0, offset), ...ents];
  }
}
