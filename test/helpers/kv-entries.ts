/**
 * Raft entries carrying kv commands (src/node/kv-command.ts), for state machine and snapshot
 * tests: a session registered at some index, then writes numbered in it. Each write acknowledges
 * every earlier one (firstOutstandingSeq = seq) unless told otherwise.
 */
import { encodeKvCommand } from '../../src/node/kv-command.js';
import type { Entry } from '../../src/raft/types.js';
import { utf8 } from '../../src/util/bytes.js';

export interface EntryOptions {
  term?: number;
  /** The leader's clock stamped in the command. Default 1_000. */
  timeMs?: number;
  /** Default seq. */
  firstOutstandingSeq?: number;
  proposerId?: number;
}

const proposal = (index: number, o: EntryOptions) => ({ proposerId: o.proposerId ?? 9, proposalId: index, timeMs: o.timeMs ?? 1_000 });

export function registerEntry(index: number, o: EntryOptions = {}): Entry {
  return { index, term: o.term ?? 1, type: 'normal', data: encodeKvCommand({ type: 'register', ...proposal(index, o) }) };
}

export function keepAliveEntry(index: number, sessionId: number, o: EntryOptions = {}): Entry {
  return { index, term: o.term ?? 1, type: 'normal', data: encodeKvCommand({ type: 'keepAlive', sessionId, ...proposal(index, o) }) };
}

export function putEntry(index: number, session: { id: number; seq: number }, key: string, value: string | Uint8Array, o: EntryOptions = {}): Entry {
  const tag = { sessionId: session.id, seq: session.seq, firstOutstandingSeq: o.firstOutstandingSeq ?? session.seq };
  const v = typeof value === 'string' ? utf8(value) : value;
  return { index, term: o.term ?? 1, type: 'normal', data: encodeKvCommand({ type: 'put', key: utf8(key), value: v, ...tag, ...proposal(index, o) }) };
}

export function delEntry(index: number, session: { id: number; seq: number }, key: string, o: EntryOptions = {}): Entry {
  const tag = { sessionId: session.id, seq: session.seq, firstOutstandingSeq: o.firstOutstandingSeq ?? session.seq };
  return { index, term: o.term ?? 1, type: 'normal', data: encodeKvCommand({ type: 'del', key: utf8(key), ...tag, ...proposal(index, o) }) };
}
