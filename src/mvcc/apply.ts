/**
 * MvccBatch: applies etcd writes (Put, DeleteRange, Txn, Compact, lease grant / revoke /
 * checkpoint) and the native API's put and delete to the state of one state machine apply(), after
 * etcd v3.4's applier (server/etcdserver/apply.go) and MVCC store (mvcc/kvstore_txn.go):
 *
 * - One revision per write transaction that changes something; each change inside it gets the next
 *   sub-revision. A put sets create_revision (kept, or this revision on creation), version
 *   (+1, or 1 on creation), mod_revision and lease; a delete writes a tombstone.
 * - A txn is decided before it runs, as etcd's applyTxn does: the compares of the whole txn tree on
 *   the state before it (compareToPath), then the checks of the chosen path (a put's lease exists,
 *   ignore_value / ignore_lease need the key, a range's revision is in the history); a failed check
 *   fails the whole txn and nothing is written. Reads inside the txn see its earlier writes.
 * - Compaction at C: reads below C fail at once; the records it makes unreachable are removed in
 *   bounded steps, one with the Compact and one after each write (compaction.ts).
 * - A lease revoke deletes its keys in one revision.
 * - Alarms (alarms.ts): an alarm command activates or deactivates a member's alarm (no revision);
 *   while a NOSPACE alarm is active, puts, txns that put and lease grants fail with
 *   MVCC_ERR_NO_SPACE (etcd's applierV3Capped).
 *
 * What must hold: the outcome depends only on the request and the state (no clock, no randomness),
 * so every replica computes the same revisions and records. REQUIRES: one batch at a time per store.
 */
import type { BatchOp } from '../lsm/db.js';
import { assert } from '../util/assert.js';
import { compareBytes } from '../util/bytes.js';
import { alarmRecordKey, hasNoSpaceAlarm, noSpaceError } from './alarms.js';
import { compactedError, futureRevisionError, leaseNotFoundError, MvccError } from './errors.js';
import { rangeAt, readRevision } from './history.js';
import {
  HISTORY_START,
  META_KEY,
  attachKey,
  attachPrefix,
  currentKey,
  eventKey,
  historyKey,
  leaseKey,
  prefixEnd,
  valueKey,
} from './keys.js';
import { compactStep } from './compaction.js';
import { currentKv, scanCurrent } from './current.js';
import { decodeLease, encodeCurrent, encodeHistoryRecord, encodeLease, encodeMeta, type MvccMeta } from './records.js';
import {
  checkWrite,
  takesSpace,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type MvccWrite,
  type MvccWriteResponse,
  type PutRequest,
  type PutResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './requests.js';
import type { StateView } from './state-view.js';
import type { AlarmMember } from './alarms.js';
import type { KeyValue, MvccEvent, RevisionEvents } from './types.js';

const EMPTY = new Uint8Array(0);

/** The outcome of one applied write: the store revision after it and etcd's response. */
export interface MvccApplied {
  revision: number;
  response: MvccWriteResponse;
}

/** The changes of one write transaction in progress. */
class WriteTxn {
  readonly events: MvccEvent[] = [];
  constructor(readonly revision: number) {}
  get changed(): boolean {
    return this.events.length > 0;
  }
}

/** The txn's decision tree: whether its compares held, and the same for the txns on its path. */
interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

export class MvccBatch {
  private meta: MvccMeta;
  private metaChanged = false;
  /** The revisions this batch produced, in order. */
  readonly events: RevisionEvents[] = [];

  constructor(
    private readonly view: StateView,
    start: MvccMeta,
    /** Told the new compact revision at once: reads below it must fail from now on. */
    private readonly onCompact: (compactRevision: number) => void,
    /** Whether a NOSPACE alarm is active before the batch (kept up to date by alarm commands). */
    private noSpace: boolean,
  ) {
    this.meta = { ...start };
  }

  get revision(): number {
    return this.meta.revision;
  }

  get compactRevision(): number {
    return this.meta.compactRevision;
  }

  /** Whether a NOSPACE alarm is active after the writes applied so far. */
  get noSpaceAlarm(): boolean {
    return this.noSpace;
  }

  /**
   * Applies one write; throws MvccError (and writes nothing) when etcd would refuse it. A step of
   * physical compaction follows either way: it depends on the log position only.
   */
  apply(w: MvccWrite): MvccApplied {
    try {
      return this.applyWrite(w);
    } finally {
      this.compactionStep();
    }
  }

  private applyWrite(w: MvccWrite): MvccApplied {
    checkWrite(w);
    if (this.noSpace && takesSpace(w)) throw noSpaceError();
    switch (w.type) {
      case 'put': {
        this.checkPut(w.put);
        const t = this.begin();
        const put = this.put(t, w.put);
        return { revision: this.end(t), response: { type: 'put', put } };
      }
      case 'deleteRange': {
        const t = this.begin();
        const deleteRange = this.deleteRange(t, w.deleteRange);
        return { revision: this.end(t), response: { type: 'deleteRange', deleteRange } };
      }
      case 'txn': {
        const path = this.compareToPath(w.txn);
        this.checkPath(w.txn, path);
        const t = this.begin();
        const txn = this.txn(t, w.txn, path);
        return { revision: this.end(t), response: { type: 'txn', txn } };
      }
      case 'compact':
        this.compact(w.revision);
        return { revision: this.meta.revision, response: { type: 'compact' } };
      case 'leaseGrant':
        return { revision: this.meta.revision, response: this.leaseGrant(w.id, w.ttlSeconds) };
      case 'leaseRevoke':
        return { revision: this.leaseRevoke(w.id), response: { type: 'leaseRevoke', id: w.id } };
      case 'leaseCheckpoint': {
        const raw = this.view.get(leaseKey(w.id));
        if (raw !== undefined) this.view.put(leaseKey(w.id), encodeLease({ ...decodeLease(raw), remainingTtlSeconds: w.remainingTtlSeconds }));
        return { revision: this.meta.revision, response: { type: 'leaseCheckpoint', id: w.id, remainingTtlSeconds: w.remainingTtlSeconds } };
      }
      case 'alarm':
        return { revision: this.meta.revision, response: this.alarm(w.action, w.member) };
    }
  }

  /**
   * etcd's applier Alarm (v3alarm/alarms.go): an activation answers the alarm, new or already
   * active; a deactivation answers it if it was active, else nothing.
   */
  private alarm(action: 'activate' | 'deactivate', member: AlarmMember): MvccWriteResponse {
    const key = alarmRecordKey(member);
    const active = this.view.get(key) !== undefined;
    if (action === 'deactivate' && !active) return { type: 'alarm', alarms: [] };
    if (action === 'activate' && active) return { type: 'alarm', alarms: [member] };
    if (action === 'activate') this.view.put(key, EMPTY);
    else this.view.del(key);
    this.noSpace = hasNoSpaceAlarm(this.view);
    return { type: 'alarm', alarms: [member] };
  }

  /** The native API's put: an etcd put without lease; returns the new revision. */
  nativePut(key: Uint8Array, value: Uint8Array): number {
    const t = this.begin();
    this.put(t, { key, value });
    const rev = this.end(t);
    this.compactionStep();
    return rev;
  }

  /** The native API's delete of one key; returns the revision after it. */
  nativeDelete(key: Uint8Array): number {
    const t = this.begin();
    this.deleteRange(t, { key });
    const rev = this.end(t);
    this.compactionStep();
    return rev;
  }

  /** The pending writes as one tree batch (with the new revision and compact revision). */
  takeOps(): BatchOp[] {
    if (this.metaChanged) this.view.put(META_KEY, encodeMeta(this.meta));
    this.metaChanged = false;
    return this.view.takeOps();
  }

  /** The revision and compact revision after this batch, for the store to publish. */
  get after(): MvccMeta {
    return { ...this.meta };
  }

  private begin(): WriteTxn {
    assert(this.meta.revision < Number.MAX_SAFE_INTEGER - 2, 'mvcc revision at 2^53');
    return new WriteTxn(this.meta.revision + 1);
  }

  /** Ends a write txn: the revision advances if it changed something. */
  private end(t: WriteTxn): number {
    if (!t.changed) return this.meta.revision;
    t.events.forEach((e, sub) => this.view.put(eventKey(t.revision, sub), e.kv.key));
    this.meta.revision = t.revision;
    this.metaChanged = true;
    this.events.push({ revision: t.revision, events: t.events });
    return t.revision;
  }

  /** The key as it is now (this batch's writes included). */
  private current(key: Uint8Array): KeyValue | undefined {
    return currentKv(this.view, key);
  }

  /** The keys of the etcd range [key, rangeEnd) as they are now, ascending. */
  private scanCurrent(key: Uint8Array, rangeEnd: Uint8Array | undefined, visit: (kv: KeyValue) => void): void {
    scanCurrent(this.view, key, rangeEnd, (kv) => {
      visit(kv);
      return true;
    });
  }

  private leaseExists(id: bigint): boolean {
    return this.view.get(leaseKey(id)) !== undefined;
  }

  /** etcd's checks of a put against the state before its txn. */
  private checkPut(p: PutRequest): void {
    if (p.ignoreValue === true || p.ignoreLease === true) {
      if (this.current(p.key) === undefined) throw new MvccError('MVCC_ERR_KEY_NOT_FOUND', 'key not found');
    }
    const lease = p.lease ?? 0n;
    if (p.ignoreLease !== true && lease !== 0n && !this.leaseExists(lease)) throw leaseNotFoundError(lease);
  }

  private put(t: WriteTxn, p: PutRequest): PutResponse {
    const prev = this.current(p.key);
    const value = p.ignoreValue === true ? prev!.value : p.value;
    const lease = p.ignoreLease === true ? prev!.lease : (p.lease ?? 0n);
    const key = p.key.slice();
    const rec = {
      sub: t.events.length,
      live: true,
      createRevision: prev !== undefined ? prev.createRevision : t.revision,
      version: prev !== undefined ? prev.version + 1 : 1,
      lease,
      value,
    };
    this.view.put(historyKey(key, t.revision), encodeHistoryRecord(rec));
    this.view.put(valueKey(key), value);
    this.view.put(currentKey(key), encodeCurrent({ createRevision: rec.createRevision, modRevision: t.revision, version: rec.version, lease }));
    if (prev !== undefined && prev.lease !== 0n && prev.lease !== lease) this.view.del(attachKey(prev.lease, key));
    if (lease !== 0n) this.view.put(attachKey(lease, key), EMPTY);
    const kv: KeyValue = { key, createRevision: rec.createRevision, modRevision: t.revision, version: rec.version, value, lease };
    t.events.push(prev !== undefined ? { type: 'PUT', kv, prevKv: prev } : { type: 'PUT', kv });
    return p.prevKv === true && prev !== undefined ? { prevKv: prev } : {};
  }

  private deleteRange(t: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
    const doomed: KeyValue[] = [];
    this.scanCurrent(d.key, d.rangeEnd, (kv) => doomed.push(kv));
    for (const prev of doomed) this.deleteKey(t, prev);
    return { deleted: doomed.length, prevKvs: d.prevKv === true ? doomed : [] };
  }

  private deleteKey(t: WriteTxn, prev: KeyValue): void {
    this.view.put(historyKey(prev.key, t.revision), encodeHistoryRecord({ sub: t.events.length, live: false, createRevision: 0, version: 0, lease: 0n, value: EMPTY }));
    this.view.del(valueKey(prev.key));
    this.view.del(currentKey(prev.key));
    if (prev.lease !== 0n) this.view.del(attachKey(prev.lease, prev.key));
    const kv: KeyValue = { key: prev.key, createRevision: 0, modRevision: t.revision, version: 0, value: EMPTY, lease: 0n };
    t.events.push({ type: 'DELETE', kv, prevKv: prev });
  }

  private compareHolds(c: Compare): boolean {
    const kvs: KeyValue[] = [];
    this.scanCurrent(c.key, c.rangeEnd, (kv) => kvs.push(kv));
    // A value compare on a missing key always fails (a missing value cannot be told from an empty
    // one on the wire); the other targets compare a missing key's zero fields.
    if (kvs.length === 0) return c.target === 'VALUE' ? false : compareKv(c, undefined);
    return kvs.every((kv) => compareKv(c, kv));
  }

  private compareToPath(txn: TxnRequest): TxnPath {
    const succeeded = txn.compare.every((c) => this.compareHolds(c));
    const nested: TxnPath[] = [];
    for (const op of succeeded ? txn.success : txn.failure) if ('txn' in op) nested.push(this.compareToPath(op.txn));
    return { succeeded, nested };
  }

  private checkPath(txn: TxnRequest, path: TxnPath): void {
    let n = 0;
    for (const op of path.succeeded ? txn.success : txn.failure) {
      if ('put' in op) this.checkPut(op.put);
      else if ('range' in op) readRevision(op.range.revision, this.meta.revision, this.meta.compactRevision);
      else if ('txn' in op) this.checkPath(op.txn, path.nested[n++]!);
    }
  }

  private txn(t: WriteTxn, txn: TxnRequest, path: TxnPath): TxnResponse {
    const responses: ResponseOp[] = [];
    let n = 0;
    for (const op of path.succeeded ? txn.success : txn.failure) responses.push(this.op(t, op, () => path.nested[n++]!));
    return { succeeded: path.succeeded, responses };
  }

  private op(t: WriteTxn, op: RequestOp, nextPath: () => TxnPath): ResponseOp {
    if ('put' in op) return { put: this.put(t, op.put) };
    if ('deleteRange' in op) return { deleteRange: this.deleteRange(t, op.deleteRange) };
    if ('txn' in op) return { txn: this.txn(t, op.txn, nextPath()) };
    // A range inside a txn reads the txn's own writes (at its revision once it wrote something).
    const current = t.changed ? t.revision : this.meta.revision;
    const rev = op.range.revision !== undefined && op.range.revision > 0 ? op.range.revision : current;
    return { range: rangeAt(this.view, op.range, rev) };
  }

  private compact(revision: number): void {
    if (revision <= this.meta.compactRevision) throw compactedError(revision, this.meta.compactRevision);
    if (revision > this.meta.revision) throw futureRevisionError(revision, this.meta.revision);
    this.meta.compactRevision = revision;
    // A compaction still in progress is replaced: the new one removes all it would have.
    this.meta.compacting = { revision, cursor: HISTORY_START };
    this.metaChanged = true;
    this.onCompact(revision);
  }

  /** One bounded step of the physical compaction in progress, if any (after every write). */
  private compactionStep(): void {
    if (this.meta.compacting === undefined) return;
    this.meta.compacting = compactStep(this.view, this.meta.compacting);
    this.metaChanged = true;
  }

  private leaseGrant(id: bigint, ttlSeconds: number): MvccWriteResponse {
    if (id === 0n) throw new MvccError('MVCC_ERR_LEASE_NOT_FOUND', 'lease id 0 cannot be granted');
    if (this.leaseExists(id)) throw new MvccError('MVCC_ERR_LEASE_EXISTS', `lease ${id} already exists`);
    this.view.put(leaseKey(id), encodeLease({ ttlSeconds, remainingTtlSeconds: 0 }));
    return { type: 'leaseGrant', id, ttlSeconds };
  }

  /** Deletes the lease and, in one revision, its keys; returns the revision after it. */
  private leaseRevoke(id: bigint): number {
    if (!this.leaseExists(id)) throw leaseNotFoundError(id);
    const prefix = attachPrefix(id);
    const keys: Uint8Array[] = [];
    this.view.scan(prefix, prefixEnd(prefix), (k) => {
      keys.push(k.slice(prefix.length));
      return true;
    });
    const t = this.begin();
    for (const key of keys) {
      const prev = this.current(key);
      assert(prev !== undefined && prev.lease === id, 'a lease attachment of a key that does not carry the lease');
      this.deleteKey(t, prev);
    }
    this.view.del(leaseKey(id));
    return this.end(t);
  }
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let r: number;
  switch (c.target) {
    case 'VALUE':
      r = compareBytes(kv?.value ?? EMPTY, c.value ?? EMPTY);
      break;
    case 'VERSION':
      r = Math.sign((kv?.version ?? 0) - (c.version ?? 0));
      break;
    case 'CREATE':
      r = Math.sign((kv?.createRevision ?? 0) - (c.createRevision ?? 0));
      break;
    case 'MOD':
      r = Math.sign((kv?.modRevision ?? 0) - (c.modRevision ?? 0));
      break;
    case 'LEASE': {
      const a = kv?.lease ?? 0n;
      const b = c.lease ?? 0n;
      r = a < b ? -1 : a > b ? 1 : 0;
      break;
    }
  }
  switch (c.result) {
    case 'EQUAL':
      return r === 0;
    case 'NOT_EQUAL':
      return r !== 0;
    case 'GREATER':
      return r > 0;
    case 'LESS':
      return r < 0;
  }
}
