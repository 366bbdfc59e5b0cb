/**
 * The node's current state tree (KvStateMachine) and its directory, replaced whole when a snapshot
 * is installed or a join empties the node (snapshot/install.ts: the STATE pointer names the
 * directory). Between closing the old tree and opening the new one there is none: requests then
 * fail with KV_ERR_STOPPED, which clients retry.
 *
 * What must hold: at most one tree open; a snapshot's state replaces the tree before the log
 * (Ready step 1), so a crash between the two is repaired at start (reconcileLogWithState).
 */
import type { FileSystem } from '../lsm/fs.js';
import type { Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { NodeStoppedError } from './errors.js';
import type { RaftLogStore } from './log-store.js';
import type { ResolvedNodeOptions } from './node-options.js';
import { installSnapshot } from './snapshot/install.js';
import type { ReceivedSnapshot } from './snapshot/receiver.js';
import { KvStateMachine } from './state-machine.js';

export class StateHolder {
  constructor(
    private readonly nodeId: number,
    private tree: KvStateMachine | undefined,
    private dir: string,
    private readonly o: { fs: FileSystem; dataDir: string; logStore: RaftLogStore; tree: ResolvedNodeOptions['tree'] },
  ) {}

  /** The open tree, or undefined while it is being replaced or after close. */
  get current(): KvStateMachine | undefined {
    return this.tree;
  }

  get directory(): string {
    return this.dir;
  }

  /** The open tree; KV_ERR_STOPPED while it is being replaced (retry). */
  get(): KvStateMachine {
    if (this.tree === undefined) throw new NodeStoppedError(`node ${this.nodeId}: the state machine is being replaced by a snapshot; retry`);
    return this.tree;
  }

  /** Closes the tree; requests meanwhile fail with KV_ERR_STOPPED (retry). */
  async close(): Promise<void> {
    const old = this.get();
    this.tree = undefined;
    await old.close();
  }

  /** Opens the tree of the current directory again (after a join emptied it). */
  async reopen(): Promise<void> {
    assert(this.tree === undefined, 'reopening a state tree that is open');
    this.tree = await KvStateMachine.open(this.dir, this.o.tree);
  }

  /** The bootstrap snapshot (an empty state at index 1): this node was emptied by its join. */
  async installEmpty(s: Snapshot): Promise<void> {
    const sm = this.get();
    assert(sm.appliedIndex <= s.meta.index && !sm.hasUserData(), () => `empty snapshot at ${s.meta.index} over a state applied to ${sm.appliedIndex}`);
    await this.o.logStore.applySnapshot(s);
  }

  /** Ready step 1 for a received snapshot: the state tree first, then the log. */
  async install(s: Snapshot, received: ReceivedSnapshot): Promise<void> {
    await this.close();
    const { stateDir } = await installSnapshot(this.o.dataDir, received, { fs: this.o.fs });
    await this.o.logStore.applySnapshot(s);
    this.dir = stateDir;
    this.tree = await KvStateMachine.open(stateDir, this.o.tree);
    assert(this.tree.appliedIndex === s.meta.index, () => `installed snapshot holds applied index ${this.tree?.appliedIndex}, expected ${s.meta.index}`);
  }
}
