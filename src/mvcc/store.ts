/**
 * MvccStore: etcd's MVCC model (a cluster-wide revision per write transaction; per key create /
 * mod revision, version and lease; history until compacted; leases) kept in the node's state tree
 * under the namespaces of keys.ts. After etcd v3.4's mvcc package (kvstore.go, kvstore_txn.go)
 * with the history in the LSM tree instead of bbolt plus an in-memory key index.
 *
 * Two paths:
 * - apply (the state machine, src/node/state-machine.ts): beginBatch() gives an MvccBatch over the
 *   tree plus the apply's pending writes (apply.ts); its takeOps() go into the apply's one tree
 *   batch; once that batch is in the tree, publish(batch) makes its revision the one reads see.
 * - reads (range, readEvents, leases): from the tree, at the published revision. A read never sees
 *   a revision before publish(): records above the published revision are skipped by revision, and
 *   a compaction is visible at once (reads below it fail before its deletions land). A Range at the
 *   current revision reads the current records ('k', 'u') when no batch is in progress (the tree
 *   then holds exactly the published state), else the history.
 *
 * What must hold: one batch in progress at a time; the published revision only grows.
 */
import type { LsmTree } from '../lsm/db.js';
import { crc32c } from '../format/crc32c.js';
import { assert } from '../util/assert.js';
import { compactedError } from './errors.js';
import { scanCurrent } from './current.js';
import { kvAt, rangeAt, rangeOf, readRevision } from './history.js';
import { MvccBatch, type MvccApplied } from './apply.js';
import { hasNoSpaceAlarm, readAlarms, type AlarmMember } from './alarms.js';
import { HISTORY_END, HISTORY_START, decodeHistoryKey, LEASE_END, LEASE_START, META_KEY, attachPrefix, decodeEventKey, eventKey, historyKey, inKeyRange, leaseIdOfKey, leaseKey, prefixEnd } from './keys.js';
import { decodeHistoryRecord, decodeLease, decodeMeta, FIRST_REVISION, type MvccMeta } from './records.js';
import type { RangeRequest, RangeResponse, TxnRequest } from './requests.js';
import { checkRange, isReadOnlyTxn } from './requests.js';
import { StateView, TreeReader } from './state-view.js';
import type { KeyValue, MvccEvent, RevisionEvents } from './types.js';

/** A granted lease as the applied state holds it. */
export interface LeaseInfo {
  id: bigint;
  ttlSeconds: number;
  /** The remaining TTL last checkpointed by a leader; 0 when none. */
  remainingTtlSeconds: number;
}

/** Bounds of every state tree key: each begins with a namespace letter (keys.ts, src/node/state-keys.ts). */
const TREE_START = Uint8Array.of(0x00);
const TREE_END = Uint8Array.of(0xff);

/** Bound on the keys lease() lists for one lease. */
export const LEASE_KEYS_MAX = 100_000;

export class MvccStore {
  private published: MvccMeta;
  /** The compact revision of the batch in progress, if it compacted (reads below fail at once). */
  private compactFloor: number;
  private batching = false;
  private readonly reader: TreeReader;
  /** Whether a NOSPACE alarm is active in the published state (alarms.ts). */
  private noSpace: boolean;

  constructor(private readonly tree: LsmTree) {
    this.published = decodeMeta(tree.getSync(META_KEY));
    this.compactFloor = this.published.compactRevision;
    this.reader = new TreeReader(tree);
    this.noSpace = hasNoSpaceAlarm(this.reader);
  }

  /** The revision of the last published write. */
  get revision(): number {
    return this.published.revision;
  }

  get compactRevision(): number {
    return this.compactFloor;
  }

  /** Whether the published state still has physical compaction steps to take (compaction.ts). */
  get compactionPending(): boolean {
    return this.published.compacting !== undefined;
  }

  beginBatch(): MvccBatch {
    assert(!this.batching, 'a second mvcc batch while one is in progress');
    this.batching = true;
    return new MvccBatch(
      new StateView(this.tree),
      this.published,
      (c) => {
        this.compactFloor = Math.max(this.compactFloor, c);
      },
      this.noSpace,
    );
  }

  /** The batch's writes are in the tree: reads now see its revision. */
  publish(batch: MvccBatch): void {
    assert(this.batching, 'publish without a batch');
    const after = batch.after;
    assert(after.revision >= this.published.revision, 'mvcc revision going back');
    this.published = after;
    this.compactFloor = Math.max(this.compactFloor, after.compactRevision);
    this.noSpace = batch.noSpaceAlarm;
    this.batching = false;
  }

  /** Whether a NOSPACE alarm is active: writes that take space are refused (alarms.ts). */
  get noSpaceAlarm(): boolean {
    return this.noSpace;
  }

  /** Every active alarm of the published state, by type then member id. */
  alarms(): AlarmMember[] {
    return readAlarms(this.reader);
  }

  /** A batch that will not be published (its tree batch failed: the node stops). */
  abandon(): void {
    this.batching = false;
  }

  /**
   * A txn that writes nothing (isReadOnlyTxn), decided and read on the published state, as etcd
   * serves one without Raft (server/etcdserver/v3_server.go Txn, isTxnReadonly); the caller makes
   * it linearizable first (ReadIndex). Undefined while an apply batch is in progress: its writes may
   * already be in the tree's current records, ahead of the published revision (the caller then
   * goes through Raft). Throws the MvccError the apply would have answered.
   */
  readTxn(txn: TxnRequest): MvccApplied | undefined {
    assert(isReadOnlyTxn(txn), 'readTxn of a txn that writes');
    if (this.batching) return undefined;
    // A batch that is never taken: a read-only txn makes no revision and writes nothing, and with
    // no compaction in progress on it, no compaction step runs.
    const batch = new MvccBatch(new StateView(this.tree), { ...this.published, compacting: undefined }, () => {}, this.noSpace);
    const applied = batch.apply({ type: 'txn', txn });
    assert(batch.after.revision === this.published.revision, 'a read-only txn made a revision');
    return applied;
  }

  /** etcd's Range at the published revision (or req.revision within the history). */
  range(req: RangeRequest): { revision: number; response: RangeResponse } {
    checkRange(req);
    const current = this.published.revision;
    const rev = readRevision(req.revision, current, this.compactFloor);
    // With no batch in progress the tree is exactly the published state: its current records serve.
    if (rev === current && !this.batching) return { revision: current, response: rangeOf(req, (visit) => scanCurrent(this.reader, req.key, req.rangeEnd, visit)) };
    return { revision: current, response: rangeAt(this.reader, req, rev) };
  }

  /**
   * The retained changes with fromRevision <= revision <= toRevision (capped at the published
   * revision) to keys in the etcd range [key, rangeEnd), grouped by revision, ascending; stops after
   * the revision at which countMax events are reached. Throws etcd's compacted error when
   * fromRevision is below the compact revision.
   */
  readEvents(fromRevision: number, toRevision: number, key: Uint8Array, rangeEnd: Uint8Array | undefined, countMax: number): RevisionEvents[] {
    assert(countMax >= 1, 'readEvents countMax < 1');
    if (fromRevision < this.compactFloor) throw compactedError(fromRevision, this.compactFloor);
    const to = Math.min(toRevision, this.published.revision);
    const out: RevisionEvents[] = [];
    if (fromRevision > to) return out;
    let count = 0;
    this.reader.scan(eventKey(Math.max(fromRevision, 1), 0), eventKey(to + 1, 0), (k, v) => {
      const { revision } = decodeEventKey(k);
      const last = out[out.length - 1];
      if (count >= countMax && (last === undefined || last.revision !== revision)) return false;
      if (!inKeyRange(v, key, rangeEnd)) return true;
      const raw = this.tree.getSync(historyKey(v, revision));
      // An event whose record a compaction removed (a tombstone at the compact revision) is gone.
      if (raw === undefined) return true;
      const rec = decodeHistoryRecord(raw);
      const prev = kvAt(this.reader, v, revision - 1);
      const kv: KeyValue = rec.live
        ? { key: v.slice(), createRevision: rec.createRevision, modRevision: revision, version: rec.version, value: rec.value, lease: rec.lease }
        : { key: v.slice(), createRevision: 0, modRevision: revision, version: 0, value: new Uint8Array(0), lease: 0n };
      const event: MvccEvent = prev !== undefined ? { type: rec.live ? 'PUT' : 'DELETE', kv, prevKv: prev } : { type: rec.live ? 'PUT' : 'DELETE', kv };
      if (last !== undefined && last.revision === revision) last.events.push(event);
      else out.push({ revision, events: [event] });
      count++;
      return true;
    });
    return out;
  }

  /**
   * etcd's HashKV: a CRC32C of every history record (key and value bytes, in tree order) at or
   * below `revision` (<= 0: the current one), for comparing replicas: members that applied the
   * same log answer the same hash. Reads the whole history once.
   */
  hashKv(revision: number): { revision: number; hash: number; compactRevision: number } {
    const current = this.published.revision;
    const rev = readRevision(revision, current, this.compactFloor);
    const hash = this.crcOf(HISTORY_START, HISTORY_END, (k) => decodeHistoryKey(k).revision <= rev);
    return { revision: current, hash, compactRevision: this.compactFloor };
  }

  /**
   * etcd's Hash (a hash of the whole backend): a CRC32C of every pair of the state tree (the MVCC
   * namespaces and the session table: all of it is applied state), equal on members that applied
   * the same log. The revision is the one the hashed tree holds (its 'm' record, read in the same
   * synchronous scan), so hash and revision match even while an apply batch awaits its publish.
   */
  hash(): { revision: number; hash: number } {
    let revision = FIRST_REVISION;
    const hash = this.crcOf(TREE_START, TREE_END, (k, v) => {
      if (k.length === 1 && k[0] === META_KEY[0]) revision = decodeMeta(v).revision;
      return true;
    });
    return { revision, hash };
  }

  /** CRC32C over the pairs of [gte, lt) that `keep` accepts, key then value, in tree order. */
  private crcOf(gte: Uint8Array, lt: Uint8Array, keep: (key: Uint8Array, value: Uint8Array) => boolean): number {
    let hash = 0;
    this.reader.scan(gte, lt, (k, v) => {
      if (keep(k, v)) hash = crc32c(v, crc32c(k, hash));
      return true;
    });
    return hash;
  }

  /** Every granted lease, by id (as stored: two's-complement order). */
  leases(): LeaseInfo[] {
    const out: LeaseInfo[] = [];
    this.reader.scan(LEASE_START, LEASE_END, (k, v) => {
      out.push({ id: leaseIdOfKey(k), ...decodeLease(v) });
      return true;
    });
    return out;
  }

  /** A lease and its keys (at most LEASE_KEYS_MAX), or undefined if it is not granted. */
  lease(id: bigint): (LeaseInfo & { keys: Uint8Array[] }) | undefined {
    const raw = this.tree.getSync(leaseKey(id));
    if (raw === undefined) return undefined;
    const keys: Uint8Array[] = [];
    const prefix = attachPrefix(id);
    this.reader.scan(prefix, prefixEnd(prefix), (k) => {
      keys.push(k.slice(prefix.length));
      return keys.length < LEASE_KEYS_MAX;
    });
    return { id, ...decodeLease(raw), keys };
  }
}
