/**
 * The client protocol's server side: a decoded CLIENT_REQUEST becomes a call of the node's API
 * (ClientServiceTarget, which KvNode implements), and its outcome a CLIENT_RESPONSE (after etcd's
 * v3rpc key/cluster servers, which are thin adapters over etcdserver in the same way). Errors a
 * user can meet travel as their stable code and message, with the leader hint when this node knows
 * one; anything else is a bug and stops the process (src/errors.ts: two error channels).
 */
import { LsmraftError } from '../errors.js';
import type { ClientRequest, ClientResponse } from './codec.js';
import { NotLeaderError, type LeaderInfo } from './errors.js';
import type { SessionTag } from './kv-command.js';
import type { BackupInfo } from './snapshot/backup-source.js';

type Bytes = Uint8Array;

/** The calls the client service makes: KvNode's public API, as far as clients reach it. */
export interface ClientServiceTarget {
  readonly leader: LeaderInfo | undefined;
  readonly isLeader: boolean;
  /** A client's write, tagged with its session (exactly-once: session-table.ts). */
  sessionWrite(write: ({ type: 'put'; key: Bytes; value: Bytes } | { type: 'del'; key: Bytes }) & SessionTag): Promise<void>;
  /** Registers a client session through Raft; resolves with its id. */
  registerSession(): Promise<number>;
  keepAliveSession(sessionId: number): Promise<void>;
  get(key: Bytes): Promise<Bytes | undefined>;
  scan(from: Bytes | undefined, to: Bytes | undefined, limit: number): Promise<Array<[Bytes, Bytes]>>;
  localGet(key: Bytes): Bytes | undefined;
  localScan(from: Bytes | undefined, to: Bytes | undefined, limit: number): Array<[Bytes, Bytes]>;
  /** JSON-serializable. */
  status(): unknown;
  /** JSON-serializable. */
  members(): unknown;
  lsmDescribe(): string;
  addMember(id: number, address: string): Promise<void>;
  removeMember(id: number): Promise<void>;
  transferLeadership(id: number): Promise<void>;
  /** etcd's member add order (membership-admin.ts): add first, start later; resolves with the new id. */
  addMemberFirst(address: string, learner: boolean): Promise<number>;
  promoteMember(id: number): Promise<void>;
  updateMember(id: number, address: string): Promise<void>;
  /** Backups (snapshot/backup-source.ts): a consistent checkpoint, its chunks, its deletion. */
  backupBegin(): Promise<BackupInfo>;
  backupChunk(id: string, fileIndex: number, offset: number, bytesMax: number): Bytes;
  backupEnd(id: string): void;
}

/** Keeps what the codec guarantees explicit: a field the op requires is present (codec.ts OP_FIELDS). */
function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new LsmraftError('KV_ERR_INVALID_ARGUMENT', `request lacks ${what}`);
  return v;
}

function sessionTag(req: ClientRequest): SessionTag {
  return { sessionId: need(req.sessionId, 'sessionId'), seq: need(req.seq, 'seq'), firstOutstandingSeq: need(req.firstOutstandingSeq, 'firstOutstandingSeq') };
}

async function dispatch(node: ClientServiceTarget, req: ClientRequest, res: ClientResponse): Promise<void> {
  switch (req.op) {
    case 'put':
      await node.sessionWrite({ type: 'put', key: need(req.key, 'key'), value: need(req.value, 'value'), ...sessionTag(req) });
      return;
    case 'del':
      await node.sessionWrite({ type: 'del', key: need(req.key, 'key'), ...sessionTag(req) });
      return;
    case 'registerSession':
      res.sessionId = await node.registerSession();
      return;
    case 'keepAlive':
      await node.keepAliveSession(need(req.sessionId, 'sessionId'));
      return;
    case 'get': {
      const v = await node.get(need(req.key, 'key'));
      if (v !== undefined) res.value = v;
      return;
    }
    case 'scan':
      res.entries = await node.scan(req.from, req.to, req.limit ?? 1000);
      return;
    case 'localGet': {
      const v = node.localGet(need(req.key, 'key'));
      if (v !== undefined) res.value = v;
      return;
    }
    case 'localScan':
      res.entries = node.localScan(req.from, req.to, req.limit ?? 1000);
      return;
    case 'status':
      res.json = JSON.stringify(node.status());
      return;
    case 'members':
      res.json = JSON.stringify(node.members());
      return;
    case 'lsmDescribe':
      res.json = JSON.stringify(node.lsmDescribe());
      return;
    case 'addMember':
      await node.addMember(need(req.nodeId, 'nodeId'), need(req.address, 'address'));
      return;
    case 'removeMember':
      await node.removeMember(need(req.nodeId, 'nodeId'));
      return;
    case 'transfer':
      await node.transferLeadership(need(req.nodeId, 'nodeId'));
      return;
    case 'memberAddVoter':
    case 'memberAddLearner':
      res.json = JSON.stringify({ id: await node.addMemberFirst(need(req.address, 'address'), req.op === 'memberAddLearner') });
      return;
    case 'memberPromote':
      await node.promoteMember(need(req.nodeId, 'nodeId'));
      return;
    case 'memberUpdate':
      await node.updateMember(need(req.nodeId, 'nodeId'), need(req.address, 'address'));
      return;
    case 'backupBegin':
      res.json = JSON.stringify(await node.backupBegin());
      return;
    case 'backupChunk':
      res.value = node.backupChunk(need(req.snapshotId, 'snapshotId'), need(req.fileIndex, 'fileIndex'), need(req.offset, 'offset'), need(req.limit, 'limit'));
      return;
    case 'backupEnd':
      node.backupEnd(need(req.snapshotId, 'snapshotId'));
      return;
  }
}

/** Serves one request; never rejects with a user error (those become error responses). */
export async function serveClientRequest(node: ClientServiceTarget, req: ClientRequest): Promise<ClientResponse> {
  const res: ClientResponse = { requestId: req.requestId, ok: true };
  try {
    await dispatch(node, req, res);
    // A follower served (forwarded) it: name the leader, so the client goes there next time.
    const leader = node.isLeader ? undefined : node.leader;
    if (leader !== undefined) res.leaderHint = leader;
    return res;
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    const out: ClientResponse = { requestId: req.requestId, ok: false, errorCode: err.code, message: err.message };
    const hint = err instanceof NotLeaderError ? err.leader : node.leader;
    if (hint !== undefined) out.leaderHint = hint;
    return out;
  }
}
