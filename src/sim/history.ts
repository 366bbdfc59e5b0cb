/**
 * The client history of a simulation run: every invocation and completion of a key-value
 * operation, stamped with a logical clock, in the form the linearizability checker reads (Jepsen's
 * history, Porcupine's Operation). The clock is an event counter, not the simulation step, so two
 * events never share a time: an operation that completed before another was invoked is always
 * strictly ordered before it, even within one simulation step.
 */

import { assert } from '../util/assert.js';
import type { KvInput, KvOperation, KvOutput } from './kv-model.js';

interface OpenOp {
  clientId: number;
  input: KvInput;
  callTime: number;
}

export class History {
  private clock = 0;
  private readonly open = new Map<number, OpenOp>();
  private readonly done: KvOperation[] = [];
  private nextOpId = 1;

  /** Records an invocation; returns the operation's id, unique within the run. */
  invoke(clientId: number, input: KvInput): number {
    const opId = this.nextOpId++;
    this.open.set(opId, { clientId, input, callTime: ++this.clock });
    return opId;
  }

  /** Records the operation's result as seen by its client. */
  complete(opId: number, output: KvOutput): void {
    const op = this.take(opId);
    this.done.push({ clientId: op.clientId, input: op.input, callTime: op.callTime, returnTime: ++this.clock, output });
  }

  /**
   * The client gave up (timeout, node crashed): the operation may or may not have taken effect,
   * now or at any later time.
   */
  timeout(opId: number): void {
    const op = this.take(opId);
    // A read with an unknown outcome constrains nothing: it changed no state and its answer was
    // never seen. Leaving it out keeps the search small.
    if (op.input.kind === 'get') return;
    this.done.push({ clientId: op.clientId, input: op.input, callTime: op.callTime, returnTime: Infinity, output: undefined });
  }

  /** The operation was refused before it reached the log (proposal dropped): it never happened. */
  cancel(opId: number): void {
    this.take(opId);
  }

  isOpen(opId: number): boolean {
    return this.open.has(opId);
  }

  /** All operations; those still open are given an unknown outcome (the run ended before they did). */
  operations(): KvOperation[] {
    const ops = this.done.slice();
    for (const op of this.open.values()) {
      if (op.input.kind === 'get') continue;
      ops.push({ clientId: op.clientId, input: op.input, callTime: op.callTime, returnTime: Infinity, output: undefined });
    }
    return ops;
  }

  get completedCount(): number {
    return this.done.length;
  }

  private take(opId: number): OpenOp {
    const op = this.open.get(opId);
    assert(op !== undefined, () => `operation ${opId} is not open`);
    this.open.delete(opId);
    return op;
  }
}
