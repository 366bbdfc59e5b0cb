/**
 * The Raft core's data types: entries, messages, hard/soft state, snapshots, Ready, and the
 * configuration-change record with its byte encoding. After etcd-io/raft's raftpb/raft.proto and
 * node.go's Ready, reduced to what lsmraft uses (single-step conf changes only, no joint consensus).
 *
 * Everything here is plain data: the core never holds a reference to a message after step() returns
 * and never mutates an Entry it has handed out in a Ready.
 */
import { InvalidArgumentError } from '../errors.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';

/** A node's id. Ids are > 0; 0 means "none" (no leader, no vote). */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'normal' | 'confChange';

/** One log entry. For type 'confChange' the data is encodeConfChange(cc). */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

/** data is opaque to the core: a reference the driver understands (for lsmraft, a checkpoint). */
export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export type MessageType =
  | 'hup' // local: start an election (or pre-election)
  | 'beat' // local: leader sends heartbeats
  | 'prop' // proposal (local, or forwarded from a follower to the leader)
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'transferLeader'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp'
  | 'unreachable' // local: a message to `from` could not be delivered
  | 'snapStatus' // local: outcome of sending a snapshot to `from` (reject = failed)
  | 'checkQuorum'; // local: leader checks it heard from a quorum

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  snapshot?: Snapshot;
  context?: Uint8Array;
}

/** Local message types: they are never sent over the network and step() refuses them from a peer. */
export function isLocalMessage(t: MessageType): boolean {
  return t === 'hup' || t === 'beat' || t === 'unreachable' || t === 'snapStatus' || t === 'checkQuorum';
}

/** Response types: they carry no vote/log request, only answer one. */
export function isResponseMessage(t: MessageType): boolean {
  return t === 'appResp' || t === 'voteResp' || t === 'preVoteResp' || t === 'heartbeatResp' || t === 'readIndexResp';
}

/** A message with every field at its zero value except those given. */
export function makeMessage(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** A linearizable read is safe once the state machine has applied `index`. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * One turn of work for the driver. Contract: persist snapshot, entries and hardState (fsync when
 * mustSync), THEN send messages, THEN apply committedEntries in order, answer readStates, THEN
 * advance(rd). Messages may grant votes or acknowledge entries that are only durable once this
 * Ready's persistence step is done; that ordering is what makes a granted vote durable.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  mustSync: boolean;
}

export type ConfChangeType = 'addVoter' | 'removeVoter' | 'addLearner';

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  context?: Uint8Array;
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.meta.index === 0;
}

/** Payload bytes of an entry, the unit of maxSizePerMsgBytes and maxInflightBytes. */
export function entryPayloadBytes(e: Entry): number {
  return e.data.length;
}

/** Encoded size of an entry, an estimate of its size on the wire (header + payload). */
export function entrySizeBytes(e: Entry): number {
  return 16 + e.data.length;
}

/*
 * ConfChange encoding (version 1):
 *   byte 0      version = 1
 *   byte 1      type: 1 = addVoter, 2 = removeVoter, 3 = addLearner
 *   varint      nodeId
 *   varint      context length, then the context bytes (length 0 = no context)
 */
const CONF_CHANGE_VERSION = 1;
const CONF_CHANGE_TYPE_CODES: Record<ConfChangeType, number> = { addVoter: 1, removeVoter: 2, addLearner: 3 };
const CONF_CHANGE_TYPES_BY_CODE: readonly (ConfChangeType | undefined)[] = [undefined, 'addVoter', 'removeVoter', 'addLearner'];

export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) {
    throw new InvalidArgumentError(`conf change node id must be a positive integer, got ${cc.nodeId}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(2 + varintLength(cc.nodeId) + varintLength(ctx.length) + ctx.length);
  out[0] = CONF_CHANGE_VERSION;
  out[1] = CONF_CHANGE_TYPE_CODES[cc.type];
  let pos = putVarint(out, 2, cc.nodeId);
  pos = putVarint(out, pos, ctx.length);
  out.set(ctx, pos);
  return out;
}

export function decodeConfChange(b: Uint8Array): ConfChange {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`malformed conf change: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
  };
  if (b.length < 4) bad(`too short (${b.length} bytes)`);
  if (b[0] !== CONF_CHANGE_VERSION) bad(`unknown version ${b[0]}`);
  const type = CONF_CHANGE_TYPES_BY_CODE[b[1]!];
  if (type === undefined) return bad(`unknown type ${b[1]}`);
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(b, 2, b.length, r);
  if (r.pos < 0 || r.value <= 0) bad('bad node id');
  const nodeId = r.value;
  getVarint(b, r.pos, b.length, r);
  if (r.pos < 0 || r.pos + r.value !== b.length) bad('bad context length');
  const cc: ConfChange = { type, nodeId };
  if (r.value > 0) cc.context = b.slice(r.pos, r.pos + r.value);
  return cc;
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

/**
 * The configuration after applying `cc` to `cs`, with the core's rules (Raft.applyConfChange):
 * addVoter adds a voter (promoting a learner), addLearner adds a learner (demoting a voter),
 * removeVoter removes the node in either role. Members sorted by id, as ProgressTracker.confState.
 * Folding the conf changes of a log over the configuration of its start gives the configuration
 * at any index of it (a restarting node needs the one of its applied index: node-storage.ts).
 */
export function confStateAfter(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  voters.delete(cc.nodeId);
  learners.delete(cc.nodeId);
  if (cc.type === 'addVoter') voters.add(cc.nodeId);
  else if (cc.type === 'addLearner') learners.add(cc.nodeId);
  const byId = (a: NodeId, b: NodeId): number => a - b;
  return { voters: [...voters].sort(byId), learners: [...learners].sort(byId) };
}
