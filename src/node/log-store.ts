/**
 * RaftLogStore: the Raft core's Storage (src/raft/storage.ts) on an LSM tree, the node's "log
 * tree". After etcd-io/raft's MemoryStorage semantics (a dummy entry at the snapshot/compaction
 * point) with durability in the manner of etcd's WAL + raft-engine/TiKV's "raft log in a KV
 * engine": entries are keys `0x01 ++ bigEndian64(index)`, the hard state, conf state, snapshot
 * metadata and the compaction point are single keys. Layout: docs/format/raft-log.md.
 *
 * API for the driver (beyond the synchronous Storage reads the core makes):
 *   RaftLogStore.open(dir, options)        opens (creating) the tree, with its WAL;
 *   append(entries, hardState?, sync=true) ONE batch: truncate the conflicting suffix, write entries
 *                                          and hard state; sync => one fsync. Await it before
 *                                          sending the Ready's messages (the Ready contract);
 *   setHardState(hs, sync=true), setConfState(cs) (synced: see below);
 *   createSnapshot(index, conf, data)      records the snapshot `snapshot()` returns (no compaction);
 *   applySnapshot(snapshot)                the log becomes empty, firstIndex = meta.index + 1;
 *   compact(index)                         drops entries <= index; term(index) stays answerable;
 *   bootstrap(selfId)                      a fresh one-member cluster (see below);
 *   reset()                                back to an empty, unbootstrapped log (to join a cluster);
 *   confStateAt(i), restoreConfStateAt(i)  the configuration as of entry i; make it the recorded one;
 *   close().
 * Mutations are serialized in call order; a failed write (an IO error) fails every later mutation
 * with the same error: the node must stop (fail-stop; the disk's state is unknown).
 *
 * In memory: the hard state, conf state, snapshot, the compaction point (dummyIndex/dummyTerm), the
 * last index, and the terms as runs (one run per term change), so term() and firstIndex() never
 * read the tree. Entries are read from the newest ones kept in memory (entry-cache.ts) or else with
 * a synchronous tree iterator. The in-memory state changes only after the tree has accepted (and,
 * if asked, synced) the batch, so reads never run ahead of it.
 *
 * Bootstrap (as the simulator's SimNode, itself after etcd's "bootstrap with a ConfState"): a
 * snapshot at index 1, term 1, conf voters [selfId], and hard state {term 1, vote 0, commit 1}. The
 * log's firstIndex is 2; the empty state machine is the snapshot's state. The node then elects
 * itself at term 2. A node that is to join another cluster calls reset() first (it must hold no
 * user data): its log becomes empty at index 0 with no members, so the leader sends it a snapshot.
 *
 * Why setConfState syncs: the state tree may be flushed (with an applied index past a conf change)
 * while the conf state write is still only in the log tree's OS buffers; after a crash the restart
 * would re-apply only entries after that index and never see the change again. The other way
 * round (the conf state past the state tree's durable applied index) is the normal case after a
 * crash: the node restores it to the configuration of that index before its core starts
 * (restoreConfStateAt, called by node-storage.ts), since the core re-applies the conf changes after it.
 *
 * REQUIRES of the driver: compact(i) only with i <= the state tree's DURABLE applied index
 * (KvStateMachine.durableAppliedIndex), since the state tree has no WAL and re-applies from there.
 */
import { ClosedError, CorruptionError } from '../errors.js';
import { LsmTree, type BatchOp } from '../lsm/db.js';
import type { LsmTreeOptions } from '../lsm/options.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from '../raft/errors.js';
import { type Storage } from '../raft/storage.js';
import {
  cloneConfState,
  confStateAfter,
  decodeConfChange,
  entrySizeBytes,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type NodeId,
  type Snapshot,
  type SnapshotMeta,
} from '../raft/types.js';
import { INVARIANTS, assert } from '../util/assert.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { EntryCache } from './entry-cache.js';

export const RAFT_LOG_FORMAT_VERSION = 1;

const PREFIX_FORMAT = 0x00;
const PREFIX_ENTRY = 0x01;
const PREFIX_HARD_STATE = 0x02;
const PREFIX_CONF_STATE = 0x03;
const PREFIX_SNAPSHOT = 0x04;
const PREFIX_DUMMY = 0x05;

const KEY_FORMAT = Uint8Array.of(PREFIX_FORMAT);
const KEY_HARD_STATE = Uint8Array.of(PREFIX_HARD_STATE);
const KEY_CONF_STATE = Uint8Array.of(PREFIX_CONF_STATE);
const KEY_SNAPSHOT = Uint8Array.of(PREFIX_SNAPSHOT);
const KEY_DUMMY = Uint8Array.of(PREFIX_DUMMY);
/** Upper bound (exclusive) of every entry key. */
const KEY_ENTRIES_END = Uint8Array.of(PREFIX_ENTRY + 1);

const ENTRY_TYPE_NORMAL = 1;
const ENTRY_TYPE_CONF_CHANGE = 2;

const EMPTY = new Uint8Array(0);

/** Bound on the entry bytes confStateAt holds at once. */
const CONF_SCAN_BYTES_MAX = 1 << 20;

/** Whether two entry lists are equal entry by entry, data byte for byte (an INVARIANTS check). */
function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  return a.length === b.length && a.every((e, i) => {
    const f = b[i]!;
    return e.index === f.index && e.term === f.term && e.type === f.type && Buffer.compare(e.data, f.data) === 0;
  });
}

/** For the mutation chain: outcomes are reported to each caller, not through the chain. */
function ignore(): void {}

/** Entry key: 0x01 then the index as a big-endian 64-bit integer (so keys sort by index). */
export function entryKey(index: number): Uint8Array {
  assert(Number.isSafeInteger(index) && index >= 0, () => `bad log index ${index}`);
  const k = new Uint8Array(9);
  k[0] = PREFIX_ENTRY;
  const high = Math.floor(index / 0x1_0000_0000);
  const low = index >>> 0;
  k[1] = high >>> 24; k[2] = (high >>> 16) & 0xff; k[3] = (high >>> 8) & 0xff; k[4] = high & 0xff;
  k[5] = low >>> 24; k[6] = (low >>> 16) & 0xff; k[7] = (low >>> 8) & 0xff; k[8] = low & 0xff;
  return k;
}

function indexOfEntryKey(k: Uint8Array): number {
  if (k.length !== 9 || k[0] !== PREFIX_ENTRY) throw new CorruptionError('raft log: malformed entry key');
  const high = ((k[1]! << 24) | (k[2]! << 16) | (k[3]! << 8) | k[4]!) >>> 0;
  const low = ((k[5]! << 24) | (k[6]! << 16) | (k[7]! << 8) | k[8]!) >>> 0;
  return high * 0x1_0000_0000 + low;
}

// ---- value codecs (docs/format/raft-log.md) ----------------------------------------------------

/** Entry value: type byte, varint term, then the data to the end. */
export function encodeEntryValue(e: Entry): Uint8Array {
  const out = new Uint8Array(1 + varintLength(e.term) + e.data.length);
  out[0] = e.type === 'normal' ? ENTRY_TYPE_NORMAL : ENTRY_TYPE_CONF_CHANGE;
  const pos = putVarint(out, 1, e.term);
  out.set(e.data, pos);
  return out;
}

export function decodeEntryValue(index: number, v: Uint8Array): Entry {
  const typeCode = v[0];
  let type: EntryType;
  if (typeCode === ENTRY_TYPE_NORMAL) type = 'normal';
  else if (typeCode === ENTRY_TYPE_CONF_CHANGE) type = 'confChange';
  else throw new CorruptionError(`raft log: entry ${index} has unknown type ${String(typeCode)}`);
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(v, 1, v.length, r);
  if (r.pos < 0) throw new CorruptionError(`raft log: entry ${index} has a bad term`);
  return { index, term: r.value, type, data: v.slice(r.pos) };
}

/** Term of an entry value without copying its data. */
function entryValueTerm(index: number, v: Uint8Array): number {
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(v, 1, v.length, r);
  if (r.pos < 0 || (v[0] !== ENTRY_TYPE_NORMAL && v[0] !== ENTRY_TYPE_CONF_CHANGE)) {
    throw new CorruptionError(`raft log: entry ${index} is malformed`);
  }
  return r.value;
}

/** A small reader of versioned records of varints, reporting corruption with the record's name. */
class RecordReader {
  private readonly r: VarintRead = { value: 0, pos: 1 };
  constructor(private readonly buf: Uint8Array, private readonly what: string) {
    if (buf.length < 1 || buf[0] !== RAFT_LOG_FORMAT_VERSION) {
      throw new CorruptionError(`raft log: ${what} has unknown version ${String(buf[0])}`);
    }
  }
  varint(): number {
    getVarint(this.buf, this.r.pos, this.buf.length, this.r);
    if (this.r.pos < 0) throw new CorruptionError(`raft log: ${this.what} is truncated`);
    return this.r.value;
  }
  ids(): NodeId[] {
    const n = this.varint();
    if (n > this.buf.length) throw new CorruptionError(`raft log: ${this.what} has a bad member count`);
    const out: NodeId[] = [];
    for (let i = 0; i < n; i++) out.push(this.varint());
    return out;
  }
  bytes(): Uint8Array {
    const n = this.varint();
    const start = this.r.pos;
    if (start + n > this.buf.length) throw new CorruptionError(`raft log: ${this.what} is truncated`);
    this.r.pos = start + n;
    return this.buf.slice(start, start + n);
  }
  end(): void {
    if (this.r.pos !== this.buf.length) throw new CorruptionError(`raft log: ${this.what} has trailing bytes`);
  }
}

/** A versioned record of varints (and at most one trailing byte string). */
function encodeRecord(ints: readonly number[], tail?: Uint8Array): Uint8Array {
  let size = 1;
  for (const v of ints) size += varintLength(v);
  if (tail !== undefined) size += varintLength(tail.length) + tail.length;
  const out = new Uint8Array(size);
  out[0] = RAFT_LOG_FORMAT_VERSION;
  let pos = 1;
  for (const v of ints) pos = putVarint(out, pos, v);
  if (tail !== undefined) {
    pos = putVarint(out, pos, tail.length);
    out.set(tail, pos);
    pos += tail.length;
  }
  assert(pos === size, 'record size');
  return out;
}

function confInts(cs: ConfState): number[] {
  return [cs.voters.length, ...cs.voters, cs.learners.length, ...cs.learners];
}

export function encodeHardState(hs: HardState): Uint8Array {
  return encodeRecord([hs.term, hs.vote, hs.commit]);
}

export function decodeHardState(v: Uint8Array): HardState {
  const r = new RecordReader(v, 'hard state');
  const hs = { term: r.varint(), vote: r.varint(), commit: r.varint() };
  r.end();
  return hs;
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return encodeRecord(confInts(cs));
}

export function decodeConfState(v: Uint8Array): ConfState {
  const r = new RecordReader(v, 'conf state');
  const cs = { voters: r.ids(), learners: r.ids() };
  r.end();
  return cs;
}

export function encodeSnapshotRecord(s: Snapshot): Uint8Array {
  return encodeRecord([s.meta.index, s.meta.term, ...confInts(s.meta.conf)], s.data);
}

export function decodeSnapshotRecord(v: Uint8Array): Snapshot {
  const r = new RecordReader(v, 'snapshot');
  const index = r.varint();
  const term = r.varint();
  const conf = { voters: r.ids(), learners: r.ids() };
  const data = r.bytes();
  r.end();
  return { meta: { index, term, conf }, data };
}

// ---- the store ---------------------------------------------------------------------------------

/** Options of the log tree; `wal` is always on (the log tree's WAL is what makes appends durable). */
export type RaftLogStoreOptions = Omit<LsmTreeOptions, 'wal'>;

/** A run of entries of one term: indexes [start, next run's start) (or to lastIndex). */
interface TermRun {
  start: number;
  term: number;
}

export class RaftLogStore implements Storage {
  private readonly tree: LsmTree;
  private hardState: HardState;
  private confState: ConfState;
  private snap: Snapshot;
  /** The compaction point: entries <= dummyIndex are gone; term(dummyIndex) = dummyTerm. */
  private dummyIndex: number;
  private dummyTerm: number;
  private last: number;
  /** Terms of [dummyIndex, last]: runs[0].start === dummyIndex; starts ascend, terms do not descend. */
  private runs: TermRun[];
  /** Tail of the chain of mutations: each waits for the one before (and fails if it failed). */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  /** The error of a failed write: every later mutation fails with it (see the module comment). */
  private failure: unknown = undefined;
  /** The newest entries, as the tree holds them. */
  private readonly cache = new EntryCache();

  private constructor(tree: LsmTree, init: {
    hardState: HardState; confState: ConfState; snap: Snapshot; dummyIndex: number; dummyTerm: number; last: number; runs: TermRun[];
  }) {
    this.tree = tree;
    this.hardState = init.hardState;
    this.confState = init.confState;
    this.snap = init.snap;
    this.dummyIndex = init.dummyIndex;
    this.dummyTerm = init.dummyTerm;
    this.last = init.last;
    this.runs = init.runs;
  }

  /**
   * Opens the log tree in `dir` (creating it), reads its records and scans the entries once to
   * rebuild the last index and the term runs. A gap in the entries, or a record that does not
   * parse, is LSM_ERR_CORRUPTION.
   */
  static async open(dir: string, options: RaftLogStoreOptions = {}): Promise<RaftLogStore> {
    const tree = await LsmTree.open(dir, { ...options, wal: true });
    try {
      const format = tree.getSync(KEY_FORMAT);
      if (format === undefined) {
        await tree.put(KEY_FORMAT, Uint8Array.of(RAFT_LOG_FORMAT_VERSION), { sync: true });
      } else if (format.length !== 1 || format[0] !== RAFT_LOG_FORMAT_VERSION) {
        throw new CorruptionError(`raft log: unknown format version ${String(format[0])}`, dir);
      }
      const hsBytes = tree.getSync(KEY_HARD_STATE);
      const csBytes = tree.getSync(KEY_CONF_STATE);
      const snapBytes = tree.getSync(KEY_SNAPSHOT);
      const dummyBytes = tree.getSync(KEY_DUMMY);
      const hardState = hsBytes === undefined ? { term: 0, vote: 0, commit: 0 } : decodeHardState(hsBytes);
      const confState = csBytes === undefined ? { voters: [], learners: [] } : decodeConfState(csBytes);
      const snap = snapBytes === undefined
        ? { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY }
        : decodeSnapshotRecord(snapBytes);
      let dummyIndex = 0;
      let dummyTerm = 0;
      if (dummyBytes !== undefined) {
        const r = new RecordReader(dummyBytes, 'compaction point');
        dummyIndex = r.varint();
        dummyTerm = r.varint();
        r.end();
      }
      const runs: TermRun[] = [{ start: dummyIndex, term: dummyTerm }];
      let last = dummyIndex;
      const it = tree.iterator({ gt: entryKey(dummyIndex), lt: KEY_ENTRIES_END });
      try {
        // One pass per stored entry; the log is bounded by compaction.
        while (it.next()) {
          const index = indexOfEntryKey(it.key());
          if (index !== last + 1) throw new CorruptionError(`raft log: entry ${last + 1} is missing (found ${index})`, dir);
          const term = entryValueTerm(index, it.value());
          const lastRun = runs[runs.length - 1]!;
          if (term < lastRun.term) throw new CorruptionError(`raft log: entry ${index} has term ${term} below ${lastRun.term}`, dir);
          if (term !== lastRun.term) runs.push({ start: index, term });
          last = index;
        }
      } finally {
        it.close();
      }
      return new RaftLogStore(tree, { hardState, confState, snap, dummyIndex, dummyTerm, last, runs });
    } catch (err) {
      await tree.close();
      throw err;
    }
  }

  // ---- Storage (synchronous reads) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.confState) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.dummyIndex) throw new CompactedError(lo, this.dummyIndex + 1);
    if (hi > this.last + 1) throw new UnavailableError(hi - 1, this.last);
    assert(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    if (lo === hi) return [];
    const cached = this.cache.entries(lo, hi, maxBytes);
    if (cached === undefined) return this.treeEntries(lo, hi, maxBytes);
    if (INVARIANTS) assert(sameEntries(cached, this.treeEntries(lo, hi, maxBytes)), () => `raft log: cached entries [${lo}, ${hi}) differ from the tree's`);
    return cached;
  }

  private treeEntries(lo: number, hi: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let size = 0;
    const it = this.tree.iterator({ gte: entryKey(lo), lt: entryKey(hi) });
    try {
      // At most hi - lo passes; stops early once over maxBytes (keeping at least one entry).
      for (let index = lo; index < hi; index++) {
        assert(it.next(), () => `raft log: entry ${index} missing from the tree (last ${this.last})`);
        const got = indexOfEntryKey(it.key());
        assert(got === index, () => `raft log: expected entry ${index}, found ${got}`);
        const e = decodeEntryValue(index, it.value());
        size += entrySizeBytes(e);
        if (out.length > 0 && size > maxBytes) break;
        out.push(e);
      }
    } finally {
      it.close();
    }
    return out;
  }

  term(i: number): number {
    if (i < this.dummyIndex) throw new CompactedError(i, this.dummyIndex + 1);
    if (i > this.last) throw new UnavailableError(i, this.last);
    const runs = this.runs;
    // Binary search for the last run starting at or before i.
    let lo = 0;
    let hi = runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (runs[mid]!.start <= i) lo = mid;
      else hi = mid - 1;
    }
    return runs[lo]!.term;
  }

  firstIndex(): number {
    return this.dummyIndex + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** The snapshot metadata (index, term, conf) of the last created or installed snapshot. */
  snapshotMeta(): SnapshotMeta {
    return { index: this.snap.meta.index, term: this.snap.meta.term, conf: cloneConfState(this.snap.meta.conf) };
  }

  /**
   * The configuration as of entry `index` (snapshot index <= index <= lastIndex): the snapshot's,
   * with the conf changes of (snapshot index, index] applied over it in log order (confStateAfter).
   * Reads those entries, CONF_SCAN_BYTES_MAX at a time.
   */
  confStateAt(index: number): ConfState {
    const from = this.snap.meta.index;
    assert(index >= from && index <= Math.max(this.last, from), () => `confStateAt(${index}): outside [${from}, ${this.last}]`);
    let cs = cloneConfState(this.snap.meta.conf);
    // Each pass reads at least one entry; at most index - from passes.
    for (let lo = from + 1; lo <= index;) {
      const batch = this.entries(lo, index + 1, CONF_SCAN_BYTES_MAX);
      for (const e of batch) if (e.type === 'confChange') cs = confStateAfter(cs, decodeConfChange(e.data));
      lo += batch.length;
    }
    return cs;
  }

  /**
   * Makes the recorded configuration (initialState's) the one as of `index`, the applied index a
   * restarting node resumes from, and says whether it had to change it. The recorded one is the
   * latest the driver applied (setConfState), which can be past `index`: the state tree records its
   * applied index only when it flushes, so a crash can lose applies whose conf changes were already
   * recorded. The core must restart from the configuration of `index` (as etcd's raft restarts from
   * its snapshot's ConfState and re-applies the conf changes after it): otherwise it re-applies
   * those changes over a later configuration and passes through configurations its cluster never
   * had, elects and counts votes with them, and a snapshot made meanwhile records one.
   */
  async restoreConfStateAt(index: number): Promise<boolean> {
    const cs = this.confStateAt(index);
    if (JSON.stringify(cs) === JSON.stringify(this.confState)) return false;
    await this.setConfState(cs);
    return true;
  }

  /** True once bootstrap() ran or a snapshot/entries were received: the log is not blank. */
  get isInitialized(): boolean {
    return this.last > 0 || this.snap.meta.index > 0 || this.confState.voters.length > 0;
  }

  /** The log tree, for `describe`/`stats` style introspection only (never write to it). */
  get lsm(): LsmTree {
    return this.tree;
  }

  // ---- mutations (serialized) ----

  private enqueue(op: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('raft log store'));
    const next = this.tail.then(() => {
      if (this.failure !== undefined) throw this.failure;
      return op();
    });
    // The chain only orders the mutations; each caller sees its own outcome through `next`.
    this.tail = next.then(ignore, ignore);
    return next;
  }

  /** Every write to the tree goes through here: a failed write makes the store fail-stop. */
  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    try {
      await this.tree.batch(ops, { sync });
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  /**
   * Appends entries (contiguous, ascending) and, in the same batch, the hard state. Entries at or
   * below the compaction point are skipped; existing entries from the first new index on are
   * replaced and any beyond the new last index deleted (a conflicting suffix). The first new entry
   * must not leave a gap after lastIndex(). With sync, the batch is fsynced before this resolves.
   */
  append(entries: Entry[], hardState?: HardState, sync = true): Promise<void> {
    return this.enqueue(async () => {
      let ents = entries;
      for (let i = 1; i < ents.length; i++) {
        assert(ents[i]!.index === ents[i - 1]!.index + 1, () => `append: entries not contiguous at ${ents[i]!.index}`);
        assert(ents[i]!.term >= ents[i - 1]!.term, () => `append: term decreases at ${ents[i]!.index}`);
      }
      const first = this.dummyIndex + 1;
      if (ents.length > 0 && ents[ents.length - 1]!.index < first) ents = [];
      if (ents.length > 0 && ents[0]!.index < first) ents = ents.slice(first - ents[0]!.index);
      const ops: BatchOp[] = [];
      let newLast = this.last;
      if (ents.length > 0) {
        const start = ents[0]!.index;
        assert(start <= this.last + 1, () => `missing log entry [last: ${this.last}, append at: ${start}]`);
        assert(ents[0]!.term >= this.term(start - 1), () => `append: entry ${start} has a term below its predecessor's`);
        newLast = ents[ents.length - 1]!.index;
        // Bounded by the old suffix length: each pass deletes one stale entry past the new end.
        for (let i = newLast + 1; i <= this.last; i++) ops.push({ type: 'del', key: entryKey(i) });
        for (const e of ents) ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntryValue(e) });
      }
      if (hardState !== undefined) ops.push({ type: 'put', key: KEY_HARD_STATE, value: encodeHardState(hardState) });
      if (ops.length === 0) return;
      await this.write(ops, sync);
      if (ents.length > 0) {
        this.truncateRunsAfter(ents[0]!.index - 1);
        for (const e of ents) this.pushTerm(e.index, e.term);
        this.last = newLast;
        this.cache.append(ents);
      }
      if (hardState !== undefined) this.hardState = { ...hardState };
      this.checkInvariants();
    });
  }

  setHardState(hs: HardState, sync = true): Promise<void> {
    return this.append([], hs, sync);
  }

  /** Records the configuration after the driver applied a conf change (read by initialState). */
  setConfState(cs: ConfState): Promise<void> {
    return this.enqueue(async () => {
      await this.write([{ type: 'put', key: KEY_CONF_STATE, value: encodeConfState(cs) }], true);
      this.confState = cloneConfState(cs);
    });
  }

  /**
   * Records a snapshot of the state at `index` (<= lastIndex, > the current snapshot's index) so
   * snapshot() returns it; does not compact. Throws SnapshotOutOfDateError for an older index.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    let made: Snapshot | undefined;
    return this.enqueue(async () => {
      if (index <= this.snap.meta.index) throw new SnapshotOutOfDateError(index, this.snap.meta.index);
      assert(index <= this.last, () => `snapshot ${index} is out of bound lastIndex ${this.last}`);
      const s: Snapshot = { meta: { index, term: this.term(index), conf: cloneConfState(conf) }, data: data.slice() };
      await this.write([{ type: 'put', key: KEY_SNAPSHOT, value: encodeSnapshotRecord(s) }], true);
      this.snap = s;
      made = s;
    }).then(() => made!);
  }

  /**
   * Replaces the whole log with the snapshot: every entry is deleted, firstIndex() becomes
   * meta.index + 1, the conf state becomes the snapshot's. One synced batch. Throws
   * SnapshotOutOfDateError for a snapshot older than the current one.
   */
  applySnapshot(s: Snapshot): Promise<void> {
    return this.enqueue(async () => {
      if (s.meta.index < this.snap.meta.index) throw new SnapshotOutOfDateError(s.meta.index, this.snap.meta.index);
      const copy: Snapshot = { meta: { index: s.meta.index, term: s.meta.term, conf: cloneConfState(s.meta.conf) }, data: s.data.slice() };
      await this.replaceLog(copy, undefined);
    });
  }

  /**
   * Bootstraps a fresh one-member cluster (see the module comment). REQUIRES an uninitialized log.
   */
  bootstrap(selfId: NodeId): Promise<void> {
    return this.enqueue(async () => {
      assert(Number.isSafeInteger(selfId) && selfId > 0, () => `bootstrap: bad node id ${selfId}`);
      assert(!this.isInitialized, 'bootstrap on an initialized log');
      const snap: Snapshot = { meta: { index: 1, term: 1, conf: { voters: [selfId], learners: [] } }, data: EMPTY };
      await this.replaceLog(snap, { term: 1, vote: 0, commit: 1 });
    });
  }

  /**
   * Makes the log blank again (no entries, no members, snapshot index 0, zero hard state), so the
   * node can join another cluster and receive its snapshot. Only for a node that holds no user data
   * and has never been a member of any cluster but its own.
   */
  reset(): Promise<void> {
    return this.enqueue(async () => {
      const snap: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY };
      await this.replaceLog(snap, { term: 0, vote: 0, commit: 0 }, true);
    });
  }

  /** One synced batch: deletes every entry, writes snapshot, compaction point, conf (and hard state). */
  private async replaceLog(snap: Snapshot, hs: HardState | undefined, allowBackwards = false): Promise<void> {
    assert(allowBackwards || snap.meta.index >= this.snap.meta.index, 'replaceLog backwards');
    const ops: BatchOp[] = [];
    // Bounded by the log's length: one delete per stored entry.
    for (let i = this.dummyIndex + 1; i <= this.last; i++) ops.push({ type: 'del', key: entryKey(i) });
    ops.push({ type: 'put', key: KEY_SNAPSHOT, value: encodeSnapshotRecord(snap) });
    ops.push({ type: 'put', key: KEY_DUMMY, value: encodeRecord([snap.meta.index, snap.meta.term]) });
    ops.push({ type: 'put', key: KEY_CONF_STATE, value: encodeConfState(snap.meta.conf) });
    if (hs !== undefined) ops.push({ type: 'put', key: KEY_HARD_STATE, value: encodeHardState(hs) });
    await this.write(ops, true);
    this.snap = snap;
    this.confState = cloneConfState(snap.meta.conf);
    this.dummyIndex = snap.meta.index;
    this.dummyTerm = snap.meta.term;
    this.last = snap.meta.index;
    this.runs = [{ start: snap.meta.index, term: snap.meta.term }];
    this.cache.clear();
    if (hs !== undefined) this.hardState = { ...hs };
    this.checkInvariants();
  }

  /**
   * Discards entries up to and including `index`; entry `index`'s term stays answerable (it becomes
   * the compaction point) and firstIndex() = index + 1. Throws CompactedError if the log is already
   * compacted to or past `index`. Not synced: losing a compaction in a crash only brings entries back.
   */
  compact(index: number): Promise<void> {
    return this.enqueue(async () => {
      if (index <= this.dummyIndex) throw new CompactedError(index, this.dummyIndex + 1);
      assert(index <= this.last, () => `compact ${index} is out of bound lastIndex ${this.last}`);
      const term = this.term(index);
      const ops: BatchOp[] = [];
      // Bounded by index - dummyIndex: one delete per compacted entry.
      for (let i = this.dummyIndex + 1; i <= index; i++) ops.push({ type: 'del', key: entryKey(i) });
      ops.push({ type: 'put', key: KEY_DUMMY, value: encodeRecord([index, term]) });
      await this.write(ops, false);
      this.dummyIndex = index;
      this.dummyTerm = term;
      let k = 0;
      while (k + 1 < this.runs.length && this.runs[k + 1]!.start <= index) k++;
      this.runs = [{ start: index, term }, ...this.runs.slice(k + 1)];
      this.cache.compactTo(index);
      this.checkInvariants();
    });
  }

  /** Waits for pending mutations, then closes the tree. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.tree.close();
  }

  // ---- term runs ----

  /** Keeps only terms of indexes <= k. */
  private truncateRunsAfter(k: number): void {
    while (this.runs.length > 1 && this.runs[this.runs.length - 1]!.start > k) this.runs.pop();
  }

  private pushTerm(index: number, term: number): void {
    const lastRun = this.runs[this.runs.length - 1]!;
    assert(term >= lastRun.term, () => `term ${term} of entry ${index} below ${lastRun.term}`);
    if (term !== lastRun.term) this.runs.push({ start: index, term });
  }

  private checkInvariants(): void {
    assert(this.runs[0]!.start === this.dummyIndex && this.runs[0]!.term === this.dummyTerm, 'first term run is the compaction point');
    assert(this.last >= this.dummyIndex, () => `last ${this.last} < compaction point ${this.dummyIndex}`);
    if (!INVARIANTS) return;
    for (let i = 1; i < this.runs.length; i++) {
      const a = this.runs[i - 1]!;
      const b = this.runs[i]!;
      assert(a.start < b.start && a.term < b.term && b.start <= this.last, () => `term runs out of order at ${i}`);
    }
  }
}
