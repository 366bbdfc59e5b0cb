/** Every key and value of a state machine's tree, hex, in order: what two replicas compare. */
import type { KvStateMachine } from '../../src/node/state-machine.js';

export function rawTree(sm: KvStateMachine): string[] {
  const out: string[] = [];
  const it = sm.lsm.iterator({});
  try {
    // Bounded by the tree's (small) size.
    while (it.next()) out.push(`${Buffer.from(it.key()).toString('hex')}=${Buffer.from(it.value()).toString('hex')}`);
  } finally {
    it.close();
  }
  return out;
}
