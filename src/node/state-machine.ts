/**
 * KvStateMachine: the replicated key-value state, applied from committed Raft entries into the
 * node's "state tree", an LsmTree without its own WAL. After etcd's apply loop (server/etcdserver
 * apply.go: decode, apply in order, record the applied index), with this durability scheme: the
 * Raft log is the state tree's log. Each apply() is one tree batch whose
 * `meta` is the applied index and the log time; the tree stores the meta of the last flushed
 * memtable in its manifest (`LsmTree.userMeta`), so after a crash the tree holds exactly the entries
 * up to `durableAppliedIndex` and the driver re-applies the committed entries after it (the node
 * flushes often enough to bound that: state-flush.ts).
 *
 * The tree holds the users' keys with their history (etcd's MVCC model: src/mvcc/store.ts, `mvcc`)
 * and the client session table (session-table.ts) that makes native writes exactly-once
 * (state-keys.ts), and the highest node id a conf change ever named (memberIdMax: new members'
 * ids go above it, member-rules.ts). Native puts and deletes are MVCC writes, as etcd writes (command 'etcd') are:
 * one keyspace, one revision counter. get/scan/hasUserData see the users' current values only; the
 * session table is loaded into memory at open and written back in every apply batch; the MVCC
 * store's writes of one apply() go into the same batch, and its revision is published (seen by
 * reads) once that batch is in the tree.
 *
 * API for the driver:
 *   KvStateMachine.open(dir, options)   dir: the current state tree directory (see snapshot/install.ts,
 *                                       openStateDir, for where it is after snapshot installs);
 *   appliedIndex / durableAppliedIndex  applied in memory / recorded in a flush (survives a crash);
 *   apply(entries)                      committed entries in order -> one result per entry;
 *   get(key), scan(from, to, limit)     local reads of user keys (the driver makes them linearizable);
 *   hasUserData()                       any user key present (refuse to join another cluster);
 *   flush()                             makes appliedIndex durable (lets the log be compacted);
 *   startFlush()                        the same in the background, applies going on meanwhile
 *                                       (state-flush.ts decides when);
 *   checkpoint(dir)                     a consistent copy for a snapshot (snapshot/checkpoint.ts);
 *   describe(), close().
 *
 * What must hold: entries are applied in index order, each exactly once per incarnation; the
 * outcome of an entry depends only on its bytes and the state before it (an undecodable command is
 * a no-op with an error result on every replica alike; no clock, no randomness), so the same log
 * gives the same tree on every replica.
 * REQUIRES: one apply() at a time (the driver awaits each). A rejected apply() (the tree failed or
 * was closed) leaves appliedIndex where it was and the node must stop: the tree's state is unknown,
 * and so is the in-memory session table.
 */
import { CorruptionError, InvalidArgumentError, type LsmraftError } from '../errors.js';
import { LsmTree } from '../lsm/db.js';
import type { TreeDescription } from '../lsm/describe.js';
import type { LsmTreeOptions } from '../lsm/options.js';
import type { MvccApplied } from '../mvcc/apply.js';
import { MvccError } from '../mvcc/errors.js';
import { MvccStore } from '../mvcc/store.js';
import type { RevisionEvents } from '../mvcc/types.js';
import { decodeConfChange, type Entry } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { fromUtf8, getVarint, putVarint, utf8, varintLength, type VarintRead } from '../util/bytes.js';
import { decodeKvCommand, isNoop, type KvCommandType } from './kv-command.js';
import { SessionTable } from './session-table.js';
import { MEMBER_ID_MAX_KEY, SESSION_RANGE_GTE, SESSION_RANGE_LT, USER_RANGE_GTE, USER_RANGE_LT, printableStateKey, userKeyOfTreeKey, userTreeKey } from './state-keys.js';

/** Bound on scan(): a local range read returns at most this many pairs. */
export const SCAN_LIMIT_MAX = 10_000;

/**
 * Version of the state tree's layout (its key namespaces and the meta below); a tree written by
 * another version is refused at open (docs/format/raft-log.md, "State tree").
 */
export const STATE_FORMAT_VERSION = 3;

export interface StateMeta {
  appliedIndex: number;
  /** The log time after the applied index (session-table.ts). */
  logTimeMs: number;
}

/** The state tree's userMeta: version byte, varint applied index, varint log time. */
export function encodeStateMeta(m: StateMeta): Uint8Array {
  const out = new Uint8Array(1 + varintLength(m.appliedIndex) + varintLength(m.logTimeMs));
  out[0] = STATE_FORMAT_VERSION;
  putVarint(out, putVarint(out, 1, m.appliedIndex), m.logTimeMs);
  return out;
}

export function decodeStateMeta(meta: Uint8Array | undefined, dir?: string): StateMeta {
  if (meta === undefined) return { appliedIndex: 0, logTimeMs: 0 };
  if (meta.length >= 1 && meta[0] !== STATE_FORMAT_VERSION) {
    throw new CorruptionError(`state tree: format version ${meta[0]}, this build reads version ${STATE_FORMAT_VERSION} only`, dir);
  }
  const r: VarintRead = { value: 0, pos: 0 };
  if (meta.length >= 3) getVarint(meta, 1, meta.length, r);
  else r.pos = -1;
  const appliedIndex = r.value;
  if (r.pos > 0) getVarint(meta, r.pos, meta.length, r);
  if (r.pos !== meta.length) throw new CorruptionError('state tree: malformed applied index and log time in the manifest', dir);
  return { appliedIndex, logTimeMs: r.value };
}

/**
 * The outcome of one applied entry. A command (put, del, register, keepAlive) carries its proposal
 * tag, so the node that proposed it can answer the waiting request, and either `error` (the command
 * was not applied: its session expired, its seq was discarded, too many outstanding) or success
 * (`sessionId` for a register). A duplicate of an applied write succeeds without being applied again.
 * `noop` is a leader's empty entry; `confChange` is left to the driver (it calls
 * RawNode.applyConfChange and logStore.setConfState); `rejected` is a command that does not decode
 * (error says why), applied as a no-op.
 */
export type ApplyResult =
  | {
      index: number;
      kind: KvCommandType;
      proposerId: number;
      proposalId: number;
      error?: LsmraftError;
      sessionId?: number;
      /** An etcd write's outcome (kind 'etcd', no error). */
      etcd?: MvccApplied;
      /** The MVCC revisions this entry produced (puts, deletes, etcd writes that changed keys). */
      revisions?: RevisionEvents[];
    }
  | { index: number; kind: 'noop' | 'confChange' }
  | { index: number; kind: 'rejected'; error: LsmraftError };

export interface StateMachineDescription {
  appliedIndex: number;
  durableAppliedIndex: number;
  tree: TreeDescription;
}

/** Options of the state tree; `wal` is always off (the Raft log is its log). */
export type KvStateMachineOptions = Omit<LsmTreeOptions, 'wal'>;

export class KvStateMachine {
  private readonly tree: LsmTree;
  private applied: number;
  private applying = false;
  /** The flush startFlush() started, until it settles. */
  private flushing: Promise<void> | undefined;
  private readonly sessions: SessionTable;
  /** The highest node id a conf change applied so far named (0: none). */
  private idMax: number;
  /** etcd's MVCC model over the same tree (src/mvcc/store.ts): native writes go through it too. */
  readonly mvcc: MvccStore;

  private constructor(tree: LsmTree, applied: number, sessions: SessionTable, idMax: number) {
    this.tree = tree;
    this.applied = applied;
    this.sessions = sessions;
    this.idMax = idMax;
    this.mvcc = new MvccStore(tree);
  }

  static async open(dir: string, options: KvStateMachineOptions = {}): Promise<KvStateMachine> {
    const tree = await LsmTree.open(dir, { ...options, wal: false });
    try {
      const meta = decodeStateMeta(tree.userMeta, dir);
      const records: Array<[Uint8Array, Uint8Array]> = [];
      const it = tree.iterator({ gte: SESSION_RANGE_GTE, lt: SESSION_RANGE_LT });
      try {
        // One pass per session record: bounded by the table's size (SESSIONS_MAX).
        while (it.next()) records.push([it.key().slice(), it.value().slice()]);
      } finally {
        it.close();
      }
      const idMaxBytes = tree.getSync(MEMBER_ID_MAX_KEY);
      const idMax = idMaxBytes === undefined ? 0 : Number(fromUtf8(idMaxBytes));
      if (!Number.isSafeInteger(idMax) || idMax < 0) throw new CorruptionError('state tree: malformed highest member id', dir);
      return new KvStateMachine(tree, meta.appliedIndex, SessionTable.load(records, meta.logTimeMs, dir), idMax);
    } catch (err) {
      await tree.close();
      throw err;
    }
  }

  /** Index of the last entry applied (in memory; see durableAppliedIndex for what survives a crash). */
  get appliedIndex(): number {
    return this.applied;
  }

  /** Index of the last entry whose effect is in a flushed table: what a restart starts from. */
  get durableAppliedIndex(): number {
    return decodeStateMeta(this.tree.userMeta, this.tree.dir).appliedIndex;
  }

  /** The log time (session-table.ts) after appliedIndex. */
  get logTimeMs(): number {
    return this.sessions.logTimeMs;
  }

  /** The highest node id any applied conf change named (0: none); see member-rules.ts. */
  get memberIdMax(): number {
    return this.idMax;
  }

  /** Live client session ids, least recently active first (tests, status). */
  sessionIds(): number[] {
    return this.sessions.ids();
  }

  /** The state tree, for introspection (`lsm s`, stats) only: never write to it. */
  get lsm(): LsmTree {
    return this.tree;
  }

  /**
   * Applies committed entries, ascending and contiguous, all after appliedIndex, in ONE tree batch
   * carrying the new applied index. Returns one result per entry, in order.
   */
  async apply(entries: readonly Entry[]): Promise<ApplyResult[]> {
    assert(!this.applying, 'apply() while another apply() is running');
    if (entries.length === 0) return [];
    const first = entries[0]!.index;
    assert(first > this.applied, () => `apply: entry ${first} is at or below the applied index ${this.applied}`);
    const results: ApplyResult[] = [];
    const batch = this.mvcc.beginBatch();
    let idMax = this.idMax;
    let published = false;
    try {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        assert(e.index === first + i, () => `apply: entries not contiguous at ${e.index}`);
        if (e.type === 'confChange') {
          // The driver has already decoded it (it could not have applied it otherwise).
          idMax = Math.max(idMax, decodeConfChange(e.data).nodeId);
          results.push({ index: e.index, kind: 'confChange' });
          continue;
        }
        if (isNoop(e.data)) {
          results.push({ index: e.index, kind: 'noop' });
          continue;
        }
        let cmd;
        try {
          cmd = decodeKvCommand(e.data);
        } catch (err) {
          if (!(err instanceof InvalidArgumentError)) throw err;
          results.push({ index: e.index, kind: 'rejected', error: err });
          continue;
        }
        const result: ApplyResult = { index: e.index, kind: cmd.type, proposerId: cmd.proposerId, proposalId: cmd.proposalId };
        this.sessions.advance(cmd.timeMs);
        const eventsBefore = batch.events.length;
        if (cmd.type === 'etcd') {
          try {
            result.etcd = batch.apply(cmd.write);
          } catch (err) {
            if (!(err instanceof MvccError)) throw err;
            result.error = err;
          }
        } else {
          let outcome;
          if (cmd.type === 'register') outcome = this.sessions.register(e.index);
          else if (cmd.type === 'keepAlive') outcome = this.sessions.keepAlive(cmd.sessionId);
          else outcome = this.sessions.write(cmd);
          if (outcome === 'apply') {
            if (cmd.type === 'put') batch.nativePut(cmd.key, cmd.value);
            else if (cmd.type === 'del') batch.nativeDelete(cmd.key);
          } else if (outcome.error !== undefined) {
            result.error = outcome.error;
          } else if (outcome.sessionId !== undefined) {
            result.sessionId = outcome.sessionId;
          }
        }
        if (batch.events.length > eventsBefore) result.revisions = batch.events.slice(eventsBefore);
        results.push(result);
      }
      const ops = batch.takeOps();
      ops.push(...this.sessions.takeOps());
      if (idMax !== this.idMax) ops.push({ type: 'put', key: MEMBER_ID_MAX_KEY, value: utf8(String(idMax)) });
      const last = entries[entries.length - 1]!.index;
      this.applying = true;
      try {
        await this.tree.batch(ops, { meta: encodeStateMeta({ appliedIndex: last, logTimeMs: this.sessions.logTimeMs }) });
      } finally {
        this.applying = false;
      }
      this.mvcc.publish(batch);
      this.idMax = idMax;
      published = true;
    } finally {
      if (!published) this.mvcc.abandon();
    }
    this.applied = entries[entries.length - 1]!.index;
    return results;
  }

  /** The value of user key `key` in the local state, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    return this.tree.getSync(userTreeKey(key));
  }

  /** Pairs with from <= key <= to (both inclusive), ascending, at most `limit` (1..SCAN_LIMIT_MAX). */
  scan(from: Uint8Array, to: Uint8Array, limit: number): Array<[Uint8Array, Uint8Array]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) {
      throw new InvalidArgumentError(`scan limit must be an integer in [1, ${SCAN_LIMIT_MAX}], got ${String(limit)}`, 'KV_ERR_INVALID_ARGUMENT');
    }
    const out: Array<[Uint8Array, Uint8Array]> = [];
    const it = this.tree.iterator({ gte: userTreeKey(from), lte: userTreeKey(to), limit });
    try {
      // At most `limit` passes (the iterator enforces it).
      while (it.next()) out.push([userKeyOfTreeKey(it.key()).slice(), it.value().slice()]);
    } finally {
      it.close();
    }
    return out;
  }

  /** True when any user key is present: such a node must not join another cluster. */
  hasUserData(): boolean {
    const it = this.tree.iterator({ gte: USER_RANGE_GTE, lt: USER_RANGE_LT, limit: 1 });
    try {
      return it.next();
    } finally {
      it.close();
    }
  }

  /** Flushes the memtable: afterwards durableAppliedIndex === appliedIndex. */
  async flush(): Promise<void> {
    await this.tree.flush();
  }

  /** Whether the flush startFlush() started is still running. */
  get flushInProgress(): boolean {
    return this.flushing !== undefined;
  }

  /**
   * Starts flushing what was applied so far, without waiting for it: the tree switches to a new
   * memtable (applies go on into it) and writes the old one as tables in its job runner (the worker
   * pool on a real directory). When the returned promise resolves, durableAppliedIndex is at least
   * the appliedIndex of the call. REQUIRES: no flush of startFlush() in progress (one at a time).
   */
  startFlush(): Promise<void> {
    assert(this.flushing === undefined, 'startFlush() while its previous flush runs');
    const flushing = this.tree.flush().finally(() => {
      this.flushing = undefined;
    });
    this.flushing = flushing;
    return flushing;
  }

  /**
   * Writes a consistent copy of the state at appliedIndex into `dir` (a new directory) and returns
   * that index. REQUIRES: no apply() running.
   */
  async checkpoint(dir: string): Promise<{ appliedIndex: number }> {
    assert(!this.applying, 'checkpoint() while apply() is running');
    const cp = await this.tree.checkpoint(dir);
    const index = decodeStateMeta(cp.userMeta, dir).appliedIndex;
    assert(index === this.applied, () => `checkpoint holds applied index ${index}, expected ${this.applied}`);
    return { appliedIndex: index };
  }

  describe(): StateMachineDescription {
    return { appliedIndex: this.applied, durableAppliedIndex: this.durableAppliedIndex, tree: this.tree.describe(printableStateKey) };
  }

  /**
   * Waits for a flush of startFlush() to settle (its caller handles its outcome), then flushes (the
   * tree has no WAL) and closes. Idempotent.
   */
  async close(): Promise<void> {
    await Promise.allSettled([this.flushing]);
    await this.tree.close();
  }
}
