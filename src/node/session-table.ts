/**
 * The client session table: exactly-once writes (Raft dissertation §6.3, "Implementing
 * linearizable semantics"; LogCabin's Server/StateMachine.cc sessions). A client registers a
 * session through Raft (its id is the log index of the register entry), numbers its writes 1, 2, 3
 * in it, and tags each with the lowest number it has not yet seen answered. The state machine keeps,
 * per session, the responses of the writes it applied that the client may still ask about; a write
 * it sees again (a retry, a forwarded copy, a re-proposal) is not applied again: the stored response
 * is replayed. This table is part of the replicated state: its records live in the state tree (under
 * state-keys.ts's session namespace), so snapshots carry it and restarts find it.
 *
 * Log time. Expiry must be decided alike on every replica, so it never reads a clock: each command
 * carries the clock of the leader that appended it (kv-command.ts, stampCommand), and the log time
 * is the largest stamp applied so far (monotonic even when leaders' clocks disagree; stored with the
 * applied index, state-machine.ts). Rules, applied in this order for each command:
 *   1. logTimeMs = max(logTimeMs, command.timeMs);
 *   2. every session whose last command is more than SESSION_TIMEOUT_MS of log time before
 *      logTimeMs expires: its record is deleted;
 *   3. the command runs: a register adds a session (evicting the least recently active one, lowest
 *      id first among equals, past SESSIONS_MAX); a keep-alive, put or delete of a live session makes
 *      logTimeMs its last activity; of a missing session it fails with KV_ERR_SESSION_EXPIRED.
 * A put or delete with seq below the session's first outstanding seq fails with
 * KV_ERR_SESSION_SEQ_DISCARDED; one more than SESSION_REQUESTS_OUTSTANDING_MAX above it is refused
 * (KV_ERR_INVALID_ARGUMENT): so a session stores at most that many responses.
 *
 * What must hold: the table after applying the same entries is the same on every replica, and the
 * same after a restart that reloads it from the tree (load() orders sessions by activity, then id).
 * The in-memory map mirrors the tree: every change is written in the same apply batch.
 */
import { CorruptionError, InvalidArgumentError, type LsmraftError } from '../errors.js';
import type { BatchOp } from '../lsm/db.js';
import { assert } from '../util/assert.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { SessionExpiredError, SessionSeqDiscardedError } from './errors.js';
import type { SessionTag } from './kv-command.js';
import { sessionIdOfTreeKey, sessionTreeKey } from './state-keys.js';

/** A session with no command for this long, in log time, expires. */
export const SESSION_TIMEOUT_MS = 60 * 60 * 1000;
/** Bound on seq - firstOutstandingSeq of a write, hence on the responses a session stores. */
export const SESSION_REQUESTS_OUTSTANDING_MAX = 1024;
/** Bound on live sessions: a register past it evicts the least recently active session. */
export const SESSIONS_MAX = 100_000;

const SESSION_RECORD_VERSION = 1;
/** The response of a write that was applied (puts and deletes have no other). */
const RESULT_OK = 0;

interface Session {
  id: number;
  lastActiveMs: number;
  firstOutstandingSeq: number;
  /** seq -> result code, for the applied writes at or above firstOutstandingSeq. */
  answered: Map<number, number>;
}

/** A session record: version, lastActiveMs, firstOutstandingSeq, count, count x (seq, result). */
export function encodeSessionRecord(s: Session): Uint8Array {
  const seqs = [...s.answered.keys()].sort((a, b) => a - b);
  let n = 1 + varintLength(s.lastActiveMs) + varintLength(s.firstOutstandingSeq) + varintLength(seqs.length);
  for (const q of seqs) n += varintLength(q) + 1;
  const out = new Uint8Array(n);
  out[0] = SESSION_RECORD_VERSION;
  let pos = putVarint(out, 1, s.lastActiveMs);
  pos = putVarint(out, pos, s.firstOutstandingSeq);
  pos = putVarint(out, pos, seqs.length);
  for (const q of seqs) {
    pos = putVarint(out, pos, q);
    out[pos++] = s.answered.get(q)!;
  }
  assert(pos === n, 'session record size');
  return out;
}

export function decodeSessionRecord(id: number, b: Uint8Array, dir?: string): Session {
  const r: VarintRead = { value: 0, pos: 1 };
  const bad = (): never => {
    throw new CorruptionError(`state tree: malformed record of session ${id}`, dir);
  };
  const next = (): number => {
    getVarint(b, r.pos, b.length, r);
    if (r.pos < 0) bad();
    return r.value;
  };
  if (b.length < 4 || b[0] !== SESSION_RECORD_VERSION) bad();
  const lastActiveMs = next();
  const firstOutstandingSeq = next();
  const count = next();
  if (count > SESSION_REQUESTS_OUTSTANDING_MAX) bad();
  const answered = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const seq = next();
    if (r.pos >= b.length) bad();
    answered.set(seq, b[r.pos++]!);
  }
  if (r.pos !== b.length) bad();
  return { id, lastActiveMs, firstOutstandingSeq, answered };
}

/** The outcome of one session command: an error, or success (with the new session's id). */
export type SessionOutcome = { error: LsmraftError } | { error?: undefined; sessionId?: number };

export class SessionTable {
  /** Ordered by lastActiveMs ascending (a touch re-inserts at the end; log time never decreases). */
  private readonly sessions = new Map<number, Session>();
  /** Sessions changed since the last takeOps(): written (or deleted) in the current batch. */
  private readonly dirty = new Set<number>();
  private time: number;

  private constructor(logTimeMs: number) {
    this.time = logTimeMs;
  }

  /** The table as the tree holds it: every [key, value] of the session namespace, and the log time. */
  static load(records: Iterable<[Uint8Array, Uint8Array]>, logTimeMs: number, dir?: string): SessionTable {
    const t = new SessionTable(logTimeMs);
    const all: Session[] = [];
    for (const [k, v] of records) {
      const id = sessionIdOfTreeKey(k);
      if (id === undefined) throw new CorruptionError('state tree: malformed session key', dir);
      all.push(decodeSessionRecord(id, v, dir));
    }
    all.sort((a, b) => a.lastActiveMs - b.lastActiveMs || a.id - b.id);
    for (const s of all) t.sessions.set(s.id, s);
    return t;
  }

  get logTimeMs(): number {
    return this.time;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Rules 1 and 2: a command stamped `timeMs` is about to run. */
  advance(timeMs: number): void {
    if (timeMs > this.time) this.time = timeMs;
    // Each pass deletes one expired session; bounded by the table's size.
    for (const s of this.sessions.values()) {
      if (s.lastActiveMs + SESSION_TIMEOUT_MS >= this.time) break;
      this.sessions.delete(s.id);
      this.dirty.add(s.id);
    }
  }

  private touch(s: Session): void {
    s.lastActiveMs = this.time;
    this.sessions.delete(s.id);
    this.sessions.set(s.id, s);
    this.dirty.add(s.id);
  }

  /** A register entry at log index `index`: the session `index` begins. */
  register(index: number): SessionOutcome {
    assert(!this.sessions.has(index), () => `session ${index} registered twice`);
    if (this.sessions.size >= SESSIONS_MAX) this.evictOne();
    this.touch({ id: index, lastActiveMs: this.time, firstOutstandingSeq: 1, answered: new Map() });
    return { sessionId: index };
  }

  /** The least recently active session, the lowest id among equals (the same on every replica). */
  private evictOne(): void {
    let victim: Session | undefined;
    // Bounded by the table's size; stops past the sessions tied for least recently active.
    for (const s of this.sessions.values()) {
      if (victim !== undefined && s.lastActiveMs !== victim.lastActiveMs) break;
      if (victim === undefined || s.id < victim.id) victim = s;
    }
    if (victim === undefined) return;
    this.sessions.delete(victim.id);
    this.dirty.add(victim.id);
  }

  keepAlive(sessionId: number): SessionOutcome {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return { error: new SessionExpiredError(sessionId, 'keep-alive') };
    this.touch(s);
    return {};
  }

  /**
   * A put or delete tagged `tag`: returns 'apply' when the write must be applied now (its response
   * is then recorded), or the outcome to answer without applying it (a replayed response or an error).
   */
  write(tag: SessionTag): 'apply' | SessionOutcome {
    const s = this.sessions.get(tag.sessionId);
    if (s === undefined) return { error: new SessionExpiredError(tag.sessionId, `write seq ${tag.seq}`) };
    this.touch(s);
    if (tag.firstOutstandingSeq > s.firstOutstandingSeq) {
      s.firstOutstandingSeq = tag.firstOutstandingSeq;
      for (const q of s.answered.keys()) if (q < s.firstOutstandingSeq) s.answered.delete(q);
    }
    if (tag.seq < s.firstOutstandingSeq) return { error: new SessionSeqDiscardedError(s.id, tag.seq, s.firstOutstandingSeq) };
    const stored = s.answered.get(tag.seq);
    if (stored !== undefined) {
      assert(stored === RESULT_OK, () => `session ${s.id} seq ${tag.seq}: unknown stored result ${stored}`);
      return {};
    }
    if (tag.seq - s.firstOutstandingSeq >= SESSION_REQUESTS_OUTSTANDING_MAX) {
      return {
        error: new InvalidArgumentError(
          `session ${s.id}: seq ${tag.seq} is ${SESSION_REQUESTS_OUTSTANDING_MAX} or more above the first outstanding seq ${s.firstOutstandingSeq}; not applied`,
          'KV_ERR_INVALID_ARGUMENT',
        ),
      };
    }
    s.answered.set(tag.seq, RESULT_OK);
    return 'apply';
  }

  /** The tree writes of every change since the last call (to go in the same batch). */
  takeOps(): BatchOp[] {
    const ops: BatchOp[] = [];
    for (const id of [...this.dirty].sort((a, b) => a - b)) {
      const s = this.sessions.get(id);
      if (s === undefined) ops.push({ type: 'del', key: sessionTreeKey(id) });
      else ops.push({ type: 'put', key: sessionTreeKey(id), value: encodeSessionRecord(s) });
    }
    this.dirty.clear();
    return ops;
  }

  /** For tests and status: the live session ids, least recently active first. */
  ids(): number[] {
    return [...this.sessions.keys()];
  }
}
