/**
 * The proposals of client sessions (exactly-once writes, session-table.ts): a tagged put or
 * delete, a session's registration, its keep-alive. KvClient's requests reach them through the
 * client service; KvNode's own put/delete through its own session (client-session.ts).
 */
import { assert } from '../util/assert.js';
import { toKey, toValue } from './key-input.js';
import { checkSessionTag, type SessionTag } from './kv-command.js';
import type { RequestPath } from './request-path.js';

export type SessionWrite = ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }) & SessionTag;

export class SessionWrites {
  /** `countFailure` counts a failed write proposal (etcd_server_proposals_failed_total). */
  constructor(private readonly path: RequestPath, private readonly countFailure: (p: Promise<void>) => Promise<void>) {}

  /**
   * A write of client session `sessionId`, number `seq`. Resolves once applied here, or once a
   * duplicate of it was answered from the session table; rejects with KV_ERR_SESSION_EXPIRED /
   * KV_ERR_SESSION_SEQ_DISCARDED when the state machine refused it (not applied), with
   * KV_ERR_TIMEOUT when its outcome is unknown.
   */
  async write(w: SessionWrite): Promise<void> {
    checkSessionTag(w);
    const tag = { sessionId: w.sessionId, seq: w.seq, firstOutstandingSeq: w.firstOutstandingSeq };
    const k = toKey(w.key);
    let proposed;
    if (w.type === 'put') {
      const v = toValue(w.value);
      proposed = this.path.proposeCommand((p) => ({ type: 'put', key: k, value: v, ...tag, ...p }));
    } else {
      proposed = this.path.proposeCommand((p) => ({ type: 'del', key: k, ...tag, ...p }));
    }
    await this.countFailure(proposed.then(() => undefined));
  }

  /** Registers a client session through Raft; resolves with its id (the register entry's index). */
  async register(): Promise<number> {
    const id = (await this.path.proposeCommand((p) => ({ type: 'register', ...p })))?.sessionId;
    assert(id !== undefined, 'a register command was applied without a session id');
    return id;
  }

  /** Keeps client session `sessionId` alive; KV_ERR_SESSION_EXPIRED if it is gone. */
  async keepAlive(sessionId: number): Promise<void> {
    await this.path.proposeCommand((p) => ({ type: 'keepAlive', sessionId, ...p }));
  }
}
