/**
 * The simulator's replicated state machine: an in-memory key-value map the real driver
 * (src/node/driver.ts's RaftDriver) applies committed entries to, in place of the LSM-backed
 * KvStateMachine (src/node/state-machine.ts). It is volatile: a crash loses it, and a restart
 * rebuilds it from the storage's snapshot while the core re-delivers the committed entries after it.
 *
 * A command can reach the log twice (the network duplicates a forwarded proposal), and applying
 * it twice could undo a later write; like a real store's client sessions (Raft thesis 6.3), the
 * state machine applies each command id once.
 *
 * What must hold (checked): entries arrive in index order without a gap, and each matches what
 * every other node applied at that index (SafetyChecker.onApply).
 */

import type { DriverStateMachine } from '../node/driver.js';
import type { Entry, NodeId, Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { fromUtf8, utf8 } from '../util/bytes.js';
import { SafetyViolation, type SafetyChecker } from './invariants.js';

/** A client command as carried in a log entry. */
export type KvCommand = { opId: number; kind: 'put'; key: string; value: string } | { opId: number; kind: 'delete'; key: string };

export function encodeCommand(c: KvCommand): Uint8Array {
  return utf8(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const c = JSON.parse(fromUtf8(data)) as KvCommand;
  assert(typeof c.opId === 'number' && typeof c.key === 'string', 'malformed command in a log entry');
  return c;
}

/** What a snapshot holds: the pairs and the ids of the commands already applied. */
export interface KvState {
  kv: Map<string, string>;
  appliedOps: Set<number>;
}

/** The state machine's snapshot bytes: its pairs sorted by key, and its applied command ids. */
export function encodeKvSnapshot(sm: KvState): Uint8Array {
  const kv = [...sm.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return utf8(JSON.stringify({ kv, ops: [...sm.appliedOps].sort((a, b) => a - b) }));
}

export function decodeKvSnapshot(data: Uint8Array): KvState {
  if (data.length === 0) return { kv: new Map(), appliedOps: new Set() };
  const o = JSON.parse(fromUtf8(data)) as { kv: Array<[string, string]>; ops: number[] };
  return { kv: new Map(o.kv), appliedOps: new Set(o.ops) };
}

/** Per applied entry: the client operation it completed, or undefined (noop, conf change, duplicate). */
export type SimApplyResult = number | undefined;

export class SimStateMachine implements DriverStateMachine<SimApplyResult>, KvState {
  kv: Map<string, string>;
  appliedOps: Set<number>;
  private applied: number;

  constructor(
    private readonly nodeId: NodeId,
    private readonly checker: SafetyChecker,
    private readonly log: (line: string) => void,
    snapshot: Snapshot,
  ) {
    const s = decodeKvSnapshot(snapshot.data);
    this.kv = s.kv;
    this.appliedOps = s.appliedOps;
    this.applied = snapshot.meta.index;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Replaces the state with a snapshot's (the driver installs a snapshot the leader sent). */
  install(snapshot: Snapshot): void {
    const s = decodeKvSnapshot(snapshot.data);
    this.kv = s.kv;
    this.appliedOps = s.appliedOps;
    this.applied = snapshot.meta.index;
  }

  apply(entries: readonly Entry[]): Promise<SimApplyResult[]> {
    const results: SimApplyResult[] = [];
    for (const e of entries) {
      if (e.index !== this.applied + 1) {
        throw new SafetyViolation('apply-order', `node ${this.nodeId} applies index ${e.index} after ${this.applied}`);
      }
      this.checker.onApply(this.nodeId, e);
      this.applied = e.index;
      results.push(this.applyEntry(e));
    }
    return Promise.resolve(results);
  }

  private applyEntry(e: Entry): SimApplyResult {
    // A conf change reaches the core through the driver (RawNode.applyConfChange); here it only
    // takes its index. An empty entry is a new leader's, or a refused conf change.
    if (e.type === 'confChange' || e.data.length === 0) return undefined;
    const c = decodeCommand(e.data);
    if (this.appliedOps.has(c.opId)) {
      this.log(`node ${this.nodeId} skips duplicate command ${c.opId} at ${e.index}`);
      return undefined;
    }
    this.appliedOps.add(c.opId);
    if (c.kind === 'put') this.kv.set(c.key, c.value);
    else this.kv.delete(c.key);
    return c.opId;
  }
}
