/**
 * StateView: the state tree as an apply sees it, its own writes not yet in the tree included. The
 * state machine writes each apply() as ONE tree batch (src/node/state-machine.ts), but a command
 * must read what the commands before it in the same batch wrote (a put then a txn comparing that
 * key), so the view keeps the pending writes in memory and merges them over the tree on every read.
 *
 * What must hold: at most one pending write per tree key (a later write replaces an earlier one), so
 * the batch takeOps() returns has no two ops on one key and its order does not matter. The pending
 * set is bounded by what one apply() writes (the driver bounds the entries of an apply).
 */
import type { BatchOp, LsmTree } from '../lsm/db.js';
import { compareBytes } from '../util/bytes.js';

interface Pending {
  key: Uint8Array;
  /** undefined: deleted. */
  value: Uint8Array | undefined;
}

function mapKey(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
}

/** Reads of the state tree: the tree itself (read path) or a StateView (apply path). */
export interface StateReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * Calls visit(key, value) for each entry with gte <= key < lt, ascending (descending if reverse),
   * until visit returns false. The arrays are valid during the call only.
   */
  scan(gte: Uint8Array, lt: Uint8Array, visit: (key: Uint8Array, value: Uint8Array) => boolean, reverse?: boolean): void;
}

/** The tree alone, as the read path sees it. */
export class TreeReader implements StateReader {
  constructor(private readonly tree: LsmTree) {}
  get(key: Uint8Array): Uint8Array | undefined {
    return this.tree.getSync(key);
  }
  scan(gte: Uint8Array, lt: Uint8Array, visit: (key: Uint8Array, value: Uint8Array) => boolean, reverse = false): void {
    const it = this.tree.iterator({ gte, lt, reverse });
    try {
      // Bounded by the range: each pass consumes one entry.
      while (it.next()) if (!visit(it.key(), it.value())) return;
    } finally {
      it.close();
    }
  }
}

export class StateView implements StateReader {
  private readonly pending = new Map<string, Pending>();
  private readonly base: TreeReader;

  constructor(tree: LsmTree) {
    this.base = new TreeReader(tree);
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const p = this.pending.get(mapKey(key));
    return p !== undefined ? p.value : this.base.get(key);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.pending.set(mapKey(key), { key, value });
  }

  del(key: Uint8Array): void {
    this.pending.set(mapKey(key), { key, value: undefined });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  scan(gte: Uint8Array, lt: Uint8Array, visit: (key: Uint8Array, value: Uint8Array) => boolean, reverse = false): void {
    const mine: Pending[] = [];
    for (const p of this.pending.values()) if (compareBytes(p.key, gte) >= 0 && compareBytes(p.key, lt) < 0) mine.push(p);
    const dir = reverse ? -1 : 1;
    mine.sort((a, b) => dir * compareBytes(a.key, b.key));
    let i = 0;
    let stopped = false;
    /** Emits the pending entries ordered before `key` (all of them if undefined); false once visit stopped. */
    const drainBefore = (key: Uint8Array | undefined): boolean => {
      while (i < mine.length && (key === undefined || dir * compareBytes(mine[i]!.key, key) < 0)) {
        const p = mine[i++]!;
        if (p.value !== undefined && !visit(p.key, p.value)) return false;
      }
      return true;
    };
    this.base.scan(
      gte,
      lt,
      (key, value) => {
        if (!drainBefore(key)) {
          stopped = true;
          return false;
        }
        if (i < mine.length && compareBytes(mine[i]!.key, key) === 0) {
          const p = mine[i++]!;
          if (p.value === undefined) return true;
          if (!visit(p.key, p.value)) {
            stopped = true;
            return false;
          }
          return true;
        }
        if (!visit(key, value)) {
          stopped = true;
          return false;
        }
        return true;
      },
      reverse,
    );
    if (!stopped) drainBefore(undefined);
  }

  /** The pending writes as one tree batch; the view is empty afterwards. */
  takeOps(): BatchOp[] {
    const ops: BatchOp[] = [];
    for (const p of this.pending.values()) ops.push(p.value === undefined ? { type: 'del', key: p.key } : { type: 'put', key: p.key, value: p.value });
    this.pending.clear();
    return ops;
  }
}
