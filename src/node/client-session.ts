/**
 * The client half of exactly-once sessions (Raft dissertation §6.3; LogCabin's
 * Client/ClientImpl.cc ExactlyOnceRPCHelper): a session registered through Raft, a sequence number
 * per write, and the lowest sequence number still waiting for its answer, sent with every write so
 * the state machine can forget older responses (session-table.ts). Used by KvClient and by KvNode
 * for its own API; `send` is what carries one tagged request (retries included) to the cluster.
 *
 * Renewal: a write answered KV_ERR_SESSION_EXPIRED is run again under a new session ONLY when the
 * caller knows it was not applied. `send` must therefore throw KV_ERR_SESSION_EXPIRED only if no
 * earlier attempt of the request may still be applied (KvClient turns it into KV_ERR_TIMEOUT when
 * an earlier attempt's outcome is unknown; a node's own proposal is decided by the first copy
 * applied, so its KV_ERR_SESSION_EXPIRED is always certain). Idle sessions: before a write, a
 * session idle for more than half SESSION_TIMEOUT_MS (by this process's clock) is kept alive first
 * (or replaced, if it already expired), so a write rarely meets an expired session.
 *
 * What must hold: a sequence number is used by one request only; the outstanding set holds exactly
 * the requests of the current session still running; seq - firstOutstandingSeq stays below
 * SESSION_REQUESTS_OUTSTANDING_MAX (else the write is refused here, before it is sent).
 */
import { InvalidArgumentError, LsmraftError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { SessionTag } from './kv-command.js';
import { SESSION_REQUESTS_OUTSTANDING_MAX, SESSION_TIMEOUT_MS } from './session-table.js';

export interface SessionTransport {
  /** Registers a new session through Raft; resolves with its id. */
  register(): Promise<number>;
  /** Keeps session `id` alive; rejects with KV_ERR_SESSION_EXPIRED if it is gone. */
  keepAlive(id: number): Promise<void>;
}

/** Sessions one write may go through (an expiry met again right after a renewal is reported). */
const RENEWALS_MAX = 2;

interface Current {
  id: number;
  nextSeq: number;
  /** Sequence numbers of this session's requests still running. */
  outstanding: Set<number>;
  /** This process's clock when the last request that succeeded was sent. */
  lastActiveMs: number;
}

export class ClientSession {
  private current: Current | undefined;
  private renewing: Promise<Current> | undefined;

  constructor(
    private readonly transport: SessionTransport,
    private readonly now: () => number = Date.now,
    private readonly outstandingMax = SESSION_REQUESTS_OUTSTANDING_MAX,
  ) {
    assert(outstandingMax >= 1 && outstandingMax <= SESSION_REQUESTS_OUTSTANDING_MAX, 'outstandingMax out of range');
  }

  /** The current session id, if one is registered (tests, status). */
  get sessionId(): number | undefined {
    return this.current?.id;
  }

  /** Runs one write: `send` gets its tag (the same for every retry of this write). */
  async run<T>(send: (tag: SessionTag) => Promise<T>): Promise<T> {
    for (let renewals = 0; ; renewals++) {
      const s = await this.session();
      const first = s.outstanding.size === 0 ? s.nextSeq : Math.min(...s.outstanding);
      if (s.nextSeq - first >= this.outstandingMax) {
        throw new InvalidArgumentError(`more than ${this.outstandingMax} writes outstanding in one session; not sent`, 'KV_ERR_INVALID_ARGUMENT');
      }
      const seq = s.nextSeq++;
      s.outstanding.add(seq);
      const startMs = this.now();
      try {
        const out = await send({ sessionId: s.id, seq, firstOutstandingSeq: first });
        s.lastActiveMs = Math.max(s.lastActiveMs, startMs);
        return out;
      } catch (err) {
        if (!(err instanceof LsmraftError) || err.code !== 'KV_ERR_SESSION_EXPIRED') throw err;
        // The session is gone: the next write registers a new one.
        if (this.current === s) this.current = undefined;
        if (renewals >= RENEWALS_MAX) throw err;
        // Certainly not applied (see the header): run it again under a new session.
      } finally {
        s.outstanding.delete(seq);
      }
    }
  }

  /** The live session: registered (or kept alive after a long idle) first if needed. */
  private async session(): Promise<Current> {
    const s = this.current;
    if (s !== undefined && this.now() - s.lastActiveMs <= SESSION_TIMEOUT_MS / 2) return s;
    // One renewal at a time; concurrent writes wait for it.
    this.renewing ??= this.renew(s).finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renew(idle: Current | undefined): Promise<Current> {
    if (idle !== undefined) {
      const startMs = this.now();
      try {
        await this.transport.keepAlive(idle.id);
        idle.lastActiveMs = Math.max(idle.lastActiveMs, startMs);
        return idle;
      } catch (err) {
        if (!(err instanceof LsmraftError) || err.code !== 'KV_ERR_SESSION_EXPIRED') throw err;
      }
    }
    const startMs = this.now();
    const id = await this.transport.register();
    this.current = { id, nextSeq: 1, outstanding: new Set(), lastActiveMs: startMs };
    return this.current;
  }
}
