/**
 * KvStateMachine: the replicated key-value state, applied from committed Raft entries into the
 * node's "state tree", an LsmTree without its own WAL. After etcd's apply loop (server/etcdserver
 * apply.go: decode, apply in order, record the applied index), with this durability scheme: the
 * Raft log is the state tree's log. Each apply() is one tree batch whose
 * `meta` is the applied index; the tree stores the meta of the last flushed memtable in its
 * manifest (`LsmTree.userMeta`), so after a crash the tree holds exactly the entries up to
 * `durableAppliedIndex` and the driver re-applies the committed entries after it.
 *
 * API for the driver:
 *   KvStateMachine.open(dir, options)   dir: the current state tree directory (see snapshot/install.ts,
 *                                       openStateDir, for where it is after snapshot installs);
 *   appliedIndex / durableAppliedIndex  applied in memory / recorded in a flush (survives a crash);
 *   apply(entries)                      committed entries in order -> one result per entry;
 *   get(key), scan(from, to, limit)     local reads (the driver makes them linearizable);
 *   hasUserData()                       any user key present (refuse to join another cluster);
 *   flush()                             makes appliedIndex durable (lets the log be compacted);
 *   checkpoint(dir)                     a consistent copy for a snapshot (snapshot/checkpoint.ts);
 *   describe(), close().
 *
 * What must hold: entries are applied in index order, each exactly once per incarnation; the
 * outcome of an entry depends only on its bytes (an undecodable command is a no-op with an error
 * result on every replica alike). User keys are stored as they are: the tree holds nothing else.
 * REQUIRES: one apply() at a time (the driver awaits each). A rejected apply() (the tree failed or
 * was closed) leaves appliedIndex where it was and the node must stop: the tree's state is unknown.
 */
import { CorruptionError, InvalidArgumentError, type LsmraftError } from '../errors.js';
import { LsmTree, type BatchOp } from '../lsm/db.js';
import type { TreeDescription } from '../lsm/describe.js';
import type { LsmTreeOptions } from '../lsm/options.js';
import type { Entry } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { decodeKvCommand, isNoop } from './kv-command.js';

/** Bound on scan(): a local range read returns at most this many pairs. */
export const SCAN_LIMIT_MAX = 10_000;

const APPLIED_META_VERSION = 1;

/** The state tree's userMeta: version byte then varint applied index (docs/format/raft-log.md). */
export function encodeAppliedIndex(index: number): Uint8Array {
  const out = new Uint8Array(1 + varintLength(index));
  out[0] = APPLIED_META_VERSION;
  putVarint(out, 1, index);
  return out;
}

export function decodeAppliedIndex(meta: Uint8Array | undefined, dir?: string): number {
  if (meta === undefined) return 0;
  const r: VarintRead = { value: 0, pos: 0 };
  if (meta.length >= 2 && meta[0] === APPLIED_META_VERSION) getVarint(meta, 1, meta.length, r);
  else r.pos = -1;
  if (r.pos !== meta.length) throw new CorruptionError('state tree: malformed applied index in the manifest', dir);
  return r.value;
}

/**
 * The outcome of one applied entry. `put`/`del` carry the request tag of the command so the driver
 * can answer the waiting client; `noop` is a leader's empty entry; `confChange` is left to the
 * driver (it calls RawNode.applyConfChange and logStore.setConfState); `rejected` is a command
 * that does not decode (error says why), applied as a no-op.
 */
export type ApplyResult =
  | { index: number; kind: 'put' | 'del'; clientId: number; requestId: number }
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

  private constructor(tree: LsmTree, applied: number) {
    this.tree = tree;
    this.applied = applied;
  }

  static async open(dir: string, options: KvStateMachineOptions = {}): Promise<KvStateMachine> {
    const tree = await LsmTree.open(dir, { ...options, wal: false });
    try {
      return new KvStateMachine(tree, decodeAppliedIndex(tree.userMeta, dir));
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
    return decodeAppliedIndex(this.tree.userMeta, this.tree.dir);
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
    const ops: BatchOp[] = [];
    const results: ApplyResult[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      assert(e.index === first + i, () => `apply: entries not contiguous at ${e.index}`);
      if (e.type === 'confChange') {
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
      if (cmd.type === 'put') ops.push({ type: 'put', key: cmd.key, value: cmd.value });
      else ops.push({ type: 'del', key: cmd.key });
      results.push({ index: e.index, kind: cmd.type, clientId: cmd.clientId, requestId: cmd.requestId });
    }
    const last = entries[entries.length - 1]!.index;
    this.applying = true;
    try {
      await this.tree.batch(ops, { meta: encodeAppliedIndex(last) });
    } finally {
      this.applying = false;
    }
    this.applied = last;
    return results;
  }

  /** The value of `key` in the local state, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    return this.tree.getSync(key);
  }

  /** Pairs with from <= key <= to (both inclusive), ascending, at most `limit` (1..SCAN_LIMIT_MAX). */
  scan(from: Uint8Array, to: Uint8Array, limit: number): Array<[Uint8Array, Uint8Array]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) {
      throw new InvalidArgumentError(`scan limit must be an integer in [1, ${SCAN_LIMIT_MAX}], got ${String(limit)}`, 'KV_ERR_INVALID_ARGUMENT');
    }
    const out: Array<[Uint8Array, Uint8Array]> = [];
    const it = this.tree.iterator({ gte: from, lte: to, limit });
    try {
      // At most `limit` passes (the iterator enforces it).
      while (it.next()) out.push([it.key().slice(), it.value().slice()]);
    } finally {
      it.close();
    }
    return out;
  }

  /** True when any user key is present: such a node must not join another cluster. */
  hasUserData(): boolean {
    const it = this.tree.iterator({ limit: 1 });
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

  /**
   * Writes a consistent copy of the state at appliedIndex into `dir` (a new directory) and returns
   * that index. REQUIRES: no apply() running.
   */
  async checkpoint(dir: string): Promise<{ appliedIndex: number }> {
    assert(!this.applying, 'checkpoint() while apply() is running');
    const cp = await this.tree.checkpoint(dir);
    const index = decodeAppliedIndex(cp.userMeta, dir);
    assert(index === this.applied, () => `checkpoint holds applied index ${index}, expected ${this.applied}`);
    return { appliedIndex: index };
  }

  describe(): StateMachineDescription {
    return { appliedIndex: this.applied, durableAppliedIndex: this.durableAppliedIndex, tree: this.tree.describe() };
  }

  /** Flushes (the tree has no WAL) and closes. Idempotent. */
  async close(): Promise<void> {
    await this.tree.close();
  }
}
