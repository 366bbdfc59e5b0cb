/**
 * Payload codecs of the wire frames (version 2; byte layout in docs/format/wire.md): raft Messages
 * (after etcd-io/raft's raftpb.Message, in a compact varint layout instead of protobuf), client
 * requests and responses, join requests and the HELLO payload.
 *
 * Encoders compute the exact size first and write into one allocation. Decoders validate every
 * length and count against the bytes that remain before reading or allocating, reject unknown
 * codes and flag bits, require the payload to end exactly where the last field ends, and throw
 * BadFrameError on any of it: garbage never reads out of bounds or allocates in proportion to a
 * number it claims. Decoded byte fields (entry data, keys, values) are views of the payload, which
 * the frame decoder guarantees belongs to one frame alone: decoding a batch of entries copies none.
 *
 * Why ~640 lines: four payload kinds, each an encoder and a validating decoder side by side, so
 * that a field added to one is seen added to the other; they share the reader and size helpers.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../raft/types.js';
import { isLocalMessage } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { getFixed32, getVarint, putFixed32, putVarint, utf8, varintLength, type VarintRead } from '../util/bytes.js';
import { BadFrameError } from './errors.js';
import type { ClusterId } from './frame.js';

// ---------------------------------------------------------------------------------------------
// Reader: a bounds-checked cursor over one payload.

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos: number;
  private readonly r: VarintRead = { value: 0, pos: 0 };
  constructor(readonly buf: Uint8Array, readonly what: string) {
    this.pos = 0;
  }
  fail(why: string): never {
    throw new BadFrameError(`malformed ${this.what} payload at byte ${this.pos}: ${why}`);
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  byte(): number {
    if (this.pos >= this.buf.length) this.fail('truncated');
    return this.buf[this.pos++]!;
  }
  varint(): number {
    getVarint(this.buf, this.pos, this.buf.length, this.r);
    if (this.r.pos < 0) this.fail('bad or truncated varint');
    if (!Number.isSafeInteger(this.r.value)) this.fail('varint above 2^53');
    this.pos = this.r.pos;
    return this.r.value;
  }
  /** A count of items each taking at least `itemBytesMin` bytes: bounded by what remains. */
  count(itemBytesMin: number): number {
    const n = this.varint();
    if (n * itemBytesMin > this.remaining) this.fail(`count ${n} larger than the payload allows`);
    return n;
  }
  /** varint length, then that many bytes, as a view. */
  bytes(): Uint8Array {
    const n = this.varint();
    if (n > this.remaining) this.fail(`length ${n} runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  string(): string {
    const b = this.bytes();
    try {
      return fatalUtf8.decode(b);
    } catch (e) {
      return this.fail(`invalid UTF-8 (${(e as Error).message})`);
    }
  }
  fixed64(): bigint {
    if (this.remaining < 8) this.fail('truncated');
    const v = BigInt(getFixed32(this.buf, this.pos)) | (BigInt(getFixed32(this.buf, this.pos + 4)) << 32n);
    this.pos += 8;
    return v;
  }
  end(): void {
    if (this.pos !== this.buf.length) this.fail(`${this.buf.length - this.pos} trailing bytes`);
  }
}

function bytesField(b: Uint8Array): number {
  return varintLength(b.length) + b.length;
}

function putBytes(buf: Uint8Array, pos: number, b: Uint8Array): number {
  pos = putVarint(buf, pos, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

// ---------------------------------------------------------------------------------------------
// Raft messages.

/** Wire codes of the message types a node sends to another; local types have none. */
const MESSAGE_TYPE_CODES: Partial<Record<MessageType, number>> = {
  app: 1,
  appResp: 2,
  vote: 3,
  voteResp: 4,
  preVote: 5,
  preVoteResp: 6,
  snap: 7,
  heartbeat: 8,
  heartbeatResp: 9,
  transferLeader: 10,
  timeoutNow: 11,
  readIndex: 12,
  readIndexResp: 13,
  prop: 14,
};
const MESSAGE_TYPES_BY_CODE: readonly (MessageType | undefined)[] = (() => {
  const t: (MessageType | undefined)[] = [];
  for (const [name, code] of Object.entries(MESSAGE_TYPE_CODES)) t[code] = name as MessageType;
  return t;
})();

const ENTRY_TYPE_CODES: Record<EntryType, number> = { normal: 1, confChange: 2 };
const ENTRY_TYPES_BY_CODE: readonly (EntryType | undefined)[] = [undefined, 'normal', 'confChange'];

const MSG_FLAG_REJECT = 1;
const MSG_FLAG_SNAPSHOT = 2;
const MSG_FLAG_CONTEXT = 4;
const MSG_FLAGS_ALL = 7;
/** term, index, type, data length: the least an entry takes. */
const ENTRY_BYTES_MIN = 4;

function snapshotBytes(s: Snapshot): number {
  let n = varintLength(s.meta.index) + varintLength(s.meta.term);
  n += varintLength(s.meta.conf.voters.length) + varintLength(s.meta.conf.learners.length);
  for (const v of s.meta.conf.voters) n += varintLength(v);
  for (const l of s.meta.conf.learners) n += varintLength(l);
  return n + bytesField(s.data);
}

/** Exact payload size of encodeMessage(m). */
export function messageBytes(m: Message): number {
  let n = 2; // type, flags
  n += varintLength(m.from) + varintLength(m.to) + varintLength(m.term) + varintLength(m.logTerm);
  n += varintLength(m.index) + varintLength(m.commit) + varintLength(m.rejectHint);
  n += varintLength(m.entries.length);
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    n += varintLength(e.term) + varintLength(e.index) + 1 + bytesField(e.data);
  }
  if (m.snapshot !== undefined) n += snapshotBytes(m.snapshot);
  if (m.context !== undefined) n += bytesField(m.context);
  return n;
}

/** Encodes a raft message for a RAFT frame. REQUIRES: a non-local message type (a bug otherwise). */
export function encodeMessage(m: Message): Uint8Array {
  const code = MESSAGE_TYPE_CODES[m.type];
  assert(code !== undefined && !isLocalMessage(m.type), () => `raft message type ${m.type} is local: never sent`);
  const out = new Uint8Array(messageBytes(m));
  let pos = 0;
  out[pos++] = code;
  out[pos++] =
    (m.reject ? MSG_FLAG_REJECT : 0) | (m.snapshot !== undefined ? MSG_FLAG_SNAPSHOT : 0) | (m.context !== undefined ? MSG_FLAG_CONTEXT : 0);
  pos = putVarint(out, pos, m.from);
  pos = putVarint(out, pos, m.to);
  pos = putVarint(out, pos, m.term);
  pos = putVarint(out, pos, m.logTerm);
  pos = putVarint(out, pos, m.index);
  pos = putVarint(out, pos, m.commit);
  pos = putVarint(out, pos, m.rejectHint);
  pos = putVarint(out, pos, m.entries.length);
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    pos = putVarint(out, pos, e.term);
    pos = putVarint(out, pos, e.index);
    out[pos++] = ENTRY_TYPE_CODES[e.type];
    pos = putBytes(out, pos, e.data);
  }
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    pos = putVarint(out, pos, s.meta.index);
    pos = putVarint(out, pos, s.meta.term);
    pos = putVarint(out, pos, s.meta.conf.voters.length);
    for (const v of s.meta.conf.voters) pos = putVarint(out, pos, v);
    pos = putVarint(out, pos, s.meta.conf.learners.length);
    for (const l of s.meta.conf.learners) pos = putVarint(out, pos, l);
    pos = putBytes(out, pos, s.data);
  }
  if (m.context !== undefined) pos = putBytes(out, pos, m.context);
  assert(pos === out.length, () => `message encoding wrote ${pos} of ${out.length} bytes`);
  return out;
}

function readIds(r: Reader): number[] {
  const n = r.count(1);
  const ids: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) ids[i] = r.varint();
  return ids;
}

/** Decodes a RAFT frame's payload. Throws BadFrameError on anything but a well-formed message. */
export function decodeMessage(payload: Uint8Array): Message {
  const r: Reader = new Reader(payload, 'raft message');
  const code = r.byte();
  const type = MESSAGE_TYPES_BY_CODE[code];
  if (type === undefined) r.fail(`unknown message type code ${code}`);
  const flags = r.byte();
  if ((flags & ~MSG_FLAGS_ALL) !== 0) r.fail(`unknown flag bits 0x${flags.toString(16)}`);
  const from = r.varint();
  const to = r.varint();
  const term = r.varint();
  const logTerm = r.varint();
  const index = r.varint();
  const commit = r.varint();
  const rejectHint = r.varint();
  const entryCount = r.count(ENTRY_BYTES_MIN);
  const entries: Entry[] = new Array<Entry>(entryCount);
  for (let i = 0; i < entryCount; i++) {
    const eTerm = r.varint();
    const eIndex = r.varint();
    const typeCode = r.byte();
    const eType = ENTRY_TYPES_BY_CODE[typeCode];
    if (eType === undefined) r.fail(`unknown entry type code ${typeCode}`);
    entries[i] = { term: eTerm, index: eIndex, type: eType, data: r.bytes() };
  }
  const m: Message = { type, from, to, term, logTerm, index, entries, commit, reject: (flags & MSG_FLAG_REJECT) !== 0, rejectHint };
  if ((flags & MSG_FLAG_SNAPSHOT) !== 0) {
    const sIndex = r.varint();
    const sTerm = r.varint();
    const conf: ConfState = { voters: readIds(r), learners: readIds(r) };
    m.snapshot = { meta: { index: sIndex, term: sTerm, conf }, data: r.bytes() };
  }
  if ((flags & MSG_FLAG_CONTEXT) !== 0) m.context = r.bytes();
  r.end();
  return m;
}

// ---------------------------------------------------------------------------------------------
// Client requests and responses.

export type ClientOp =
  | 'put'
  | 'get'
  | 'del'
  | 'scan'
  | 'status'
  | 'members'
  | 'addMember'
  | 'removeMember'
  | 'transfer'
  | 'localGet'
  | 'localScan'
  | 'lsmDescribe'
  | 'registerSession'
  | 'keepAlive'
  | 'backupBegin'
  | 'backupChunk'
  | 'backupEnd'
  | 'memberAddVoter'
  | 'memberAddLearner'
  | 'memberPromote'
  | 'memberUpdate';

export interface ClientRequest {
  requestId: number;
  op: ClientOp;
  key?: Uint8Array;
  value?: Uint8Array;
  /** Scan bounds, both inclusive; absent = unbounded on that side. */
  from?: Uint8Array;
  to?: Uint8Array;
  limit?: number;
  nodeId?: number;
  address?: string;
  /** Writes and keepAlive: the client session (client-session.ts). */
  sessionId?: number;
  /** Writes: the sequence number in the session and the lowest one not yet answered (one field). */
  seq?: number;
  firstOutstandingSeq?: number;
  /** backupChunk, backupEnd: the pending backup (snapshot/backup-source.ts). */
  snapshotId?: string;
  /** backupChunk: where the chunk starts (one field on the wire, like seq). */
  fileIndex?: number;
  offset?: number;
}

export interface LeaderHint {
  id: number;
  address: string;
}

export interface ClientResponse {
  requestId: number;
  ok: boolean;
  /** An LsmraftErrorCode when !ok (a stable code a client matches on). */
  errorCode?: string;
  message?: string;
  leaderHint?: LeaderHint;
  value?: Uint8Array;
  entries?: [Uint8Array, Uint8Array][];
  /** A JSON document (status, members, lsmDescribe). */
  json?: string;
  /** registerSession: the new session's id. */
  sessionId?: number;
}

const OP_CODES: Record<ClientOp, number> = {
  put: 1,
  get: 2,
  del: 3,
  scan: 4,
  status: 5,
  members: 6,
  addMember: 7,
  removeMember: 8,
  transfer: 9,
  localGet: 10,
  localScan: 11,
  lsmDescribe: 12,
  registerSession: 13,
  keepAlive: 14,
  backupBegin: 15,
  backupChunk: 16,
  backupEnd: 17,
  memberAddVoter: 18,
  memberAddLearner: 19,
  memberPromote: 20,
  memberUpdate: 21,
};
const OPS_BY_CODE: readonly (ClientOp | undefined)[] = (() => {
  const t: (ClientOp | undefined)[] = [];
  for (const [name, code] of Object.entries(OP_CODES)) t[code] = name as ClientOp;
  return t;
})();

type RequestField = 'key' | 'value' | 'from' | 'to' | 'limit' | 'nodeId' | 'address' | 'sessionId' | 'seq' | 'snapshotId' | 'fileIndex';
/**
 * Field order on the wire and the flag bit of each ('seq' carries seq and firstOutstandingSeq,
 * 'fileIndex' carries fileIndex and offset).
 */
const REQUEST_FIELDS: readonly RequestField[] = ['key', 'value', 'from', 'to', 'limit', 'nodeId', 'address', 'sessionId', 'seq', 'snapshotId', 'fileIndex'];
const REQUEST_FIELD_BIT: Record<RequestField, number> = {
  key: 1, value: 2, from: 4, to: 8, limit: 16, nodeId: 32, address: 64, sessionId: 128, seq: 256, snapshotId: 512, fileIndex: 1024,
};
const REQUEST_FIELDS_ALL = 2047;

const F = REQUEST_FIELD_BIT;
/** Per op: the fields it must carry and the fields it may carry (a superset). */
const OP_FIELDS: Record<ClientOp, { required: number; allowed: number }> = {
  put: { required: F.key | F.value | F.sessionId | F.seq, allowed: F.key | F.value | F.sessionId | F.seq },
  get: { required: F.key, allowed: F.key },
  del: { required: F.key | F.sessionId | F.seq, allowed: F.key | F.sessionId | F.seq },
  localGet: { required: F.key, allowed: F.key },
  scan: { required: 0, allowed: F.from | F.to | F.limit },
  localScan: { required: 0, allowed: F.from | F.to | F.limit },
  status: { required: 0, allowed: 0 },
  members: { required: 0, allowed: 0 },
  lsmDescribe: { required: 0, allowed: 0 },
  addMember: { required: F.nodeId | F.address, allowed: F.nodeId | F.address },
  removeMember: { required: F.nodeId, allowed: F.nodeId },
  transfer: { required: F.nodeId, allowed: F.nodeId },
  registerSession: { required: 0, allowed: 0 },
  keepAlive: { required: F.sessionId, allowed: F.sessionId },
  backupBegin: { required: 0, allowed: 0 },
  backupChunk: { required: F.snapshotId | F.fileIndex | F.limit, allowed: F.snapshotId | F.fileIndex | F.limit },
  backupEnd: { required: F.snapshotId, allowed: F.snapshotId },
  memberAddVoter: { required: F.address, allowed: F.address },
  memberAddLearner: { required: F.address, allowed: F.address },
  memberPromote: { required: F.nodeId, allowed: F.nodeId },
  memberUpdate: { required: F.nodeId | F.address, allowed: F.nodeId | F.address },
};

function checkRequestFields(op: ClientOp, present: number, fail: (why: string) => never): void {
  const spec = OP_FIELDS[op];
  const missing = spec.required & ~present;
  const extra = present & ~spec.allowed;
  const names = (bits: number): string => REQUEST_FIELDS.filter((f) => (bits & F[f]) !== 0).join(', ');
  if (missing !== 0) fail(`op ${op} requires ${names(missing)}`);
  if (extra !== 0) fail(`op ${op} does not take ${names(extra)}`);
}

function badRequest(why: string): never {
  throw new InvalidArgumentError(`bad client request: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
}

function positive(r: Reader, what: string): number {
  const v = r.varint();
  if (v === 0) r.fail(`${what} 0`);
  return v;
}

function isId(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Encodes a client request. This is the client's edge: a request the protocol cannot carry (an
 * unknown op, a missing or extra field, a negative number) is an InvalidArgumentError.
 */
export function encodeClientRequest(req: ClientRequest): Uint8Array {
  if (!isId(req.requestId)) badRequest(`requestId must be a non-negative safe integer, got ${req.requestId}`);
  const opCode = OP_CODES[req.op];
  if (opCode === undefined) badRequest(`unknown op ${String(req.op)}`);
  let present = 0;
  for (const f of REQUEST_FIELDS) if (req[f] !== undefined) present |= F[f];
  checkRequestFields(req.op, present, badRequest);
  if ((req.seq === undefined) !== (req.firstOutstandingSeq === undefined)) badRequest('seq and firstOutstandingSeq go together');
  if ((req.fileIndex === undefined) !== (req.offset === undefined)) badRequest('fileIndex and offset go together');
  for (const f of ['fileIndex', 'offset'] as const) {
    const v = req[f];
    if (v !== undefined && !isId(v)) badRequest(`${f} must be a non-negative safe integer, got ${v}`);
  }
  for (const f of ['sessionId', 'seq', 'firstOutstandingSeq'] as const) {
    const v = req[f];
    if (v !== undefined && (!isId(v) || v === 0)) badRequest(`${f} must be a positive safe integer, got ${v}`);
  }
  if (req.limit !== undefined && !isId(req.limit)) badRequest(`limit must be a non-negative safe integer, got ${req.limit}`);
  if (req.nodeId !== undefined && (!isId(req.nodeId) || req.nodeId === 0)) badRequest(`nodeId must be a positive integer, got ${req.nodeId}`);
  const address = req.address === undefined ? undefined : utf8(req.address);
  const snapshotId = req.snapshotId === undefined ? undefined : utf8(req.snapshotId);
  let n = varintLength(req.requestId) + 1 + varintLength(present);
  if (req.key !== undefined) n += bytesField(req.key);
  if (req.value !== undefined) n += bytesField(req.value);
  if (req.from !== undefined) n += bytesField(req.from);
  if (req.to !== undefined) n += bytesField(req.to);
  if (req.limit !== undefined) n += varintLength(req.limit);
  if (req.nodeId !== undefined) n += varintLength(req.nodeId);
  if (address !== undefined) n += bytesField(address);
  if (req.sessionId !== undefined) n += varintLength(req.sessionId);
  if (req.seq !== undefined) n += varintLength(req.seq) + varintLength(req.firstOutstandingSeq!);
  if (snapshotId !== undefined) n += bytesField(snapshotId);
  if (req.fileIndex !== undefined) n += varintLength(req.fileIndex) + varintLength(req.offset!);
  const out = new Uint8Array(n);
  let pos = putVarint(out, 0, req.requestId);
  out[pos++] = opCode;
  pos = putVarint(out, pos, present);
  if (req.key !== undefined) pos = putBytes(out, pos, req.key);
  if (req.value !== undefined) pos = putBytes(out, pos, req.value);
  if (req.from !== undefined) pos = putBytes(out, pos, req.from);
  if (req.to !== undefined) pos = putBytes(out, pos, req.to);
  if (req.limit !== undefined) pos = putVarint(out, pos, req.limit);
  if (req.nodeId !== undefined) pos = putVarint(out, pos, req.nodeId);
  if (address !== undefined) pos = putBytes(out, pos, address);
  if (req.sessionId !== undefined) pos = putVarint(out, pos, req.sessionId);
  if (req.seq !== undefined) {
    pos = putVarint(out, pos, req.seq);
    pos = putVarint(out, pos, req.firstOutstandingSeq!);
  }
  if (snapshotId !== undefined) pos = putBytes(out, pos, snapshotId);
  if (req.fileIndex !== undefined) {
    pos = putVarint(out, pos, req.fileIndex);
    pos = putVarint(out, pos, req.offset!);
  }
  assert(pos === n, () => `client request encoding wrote ${pos} of ${n} bytes`);
  return out;
}

export function decodeClientRequest(payload: Uint8Array): ClientRequest {
  const r: Reader = new Reader(payload, 'client request');
  const requestId = r.varint();
  const opCode = r.byte();
  const op = OPS_BY_CODE[opCode];
  if (op === undefined) r.fail(`unknown op code ${opCode}`);
  const present = r.varint();
  if (present > REQUEST_FIELDS_ALL || (present & ~REQUEST_FIELDS_ALL) !== 0) r.fail(`unknown field bits 0x${present.toString(16)}`);
  checkRequestFields(op, present, (why) => r.fail(why));
  const req: ClientRequest = { requestId, op };
  if ((present & F.key) !== 0) req.key = r.bytes();
  if ((present & F.value) !== 0) req.value = r.bytes();
  if ((present & F.from) !== 0) req.from = r.bytes();
  if ((present & F.to) !== 0) req.to = r.bytes();
  if ((present & F.limit) !== 0) req.limit = r.varint();
  if ((present & F.nodeId) !== 0) {
    req.nodeId = r.varint();
    if (req.nodeId === 0) r.fail('nodeId 0');
  }
  if ((present & F.address) !== 0) req.address = r.string();
  if ((present & F.sessionId) !== 0) req.sessionId = positive(r, 'sessionId');
  if ((present & F.seq) !== 0) {
    req.seq = positive(r, 'seq');
    req.firstOutstandingSeq = positive(r, 'firstOutstandingSeq');
  }
  if ((present & F.snapshotId) !== 0) req.snapshotId = r.string();
  if ((present & F.fileIndex) !== 0) {
    req.fileIndex = r.varint();
    req.offset = r.varint();
  }
  r.end();
  return req;
}

const RESP_OK = 1;
const RESP_ERROR_CODE = 2;
const RESP_MESSAGE = 4;
const RESP_LEADER_HINT = 8;
const RESP_VALUE = 16;
const RESP_ENTRIES = 32;
const RESP_JSON = 64;
const RESP_SESSION_ID = 128;
const RESP_FLAGS_ALL = 255;

/** Encodes a client (or join) response. The server builds these: a malformed one is a bug. */
export function encodeClientResponse(res: ClientResponse): Uint8Array {
  assert(isId(res.requestId), () => `bad requestId ${res.requestId}`);
  const errorCode = res.errorCode === undefined ? undefined : utf8(res.errorCode);
  const message = res.message === undefined ? undefined : utf8(res.message);
  const hintAddress = res.leaderHint === undefined ? undefined : utf8(res.leaderHint.address);
  const json = res.json === undefined ? undefined : utf8(res.json);
  let flags = res.ok ? RESP_OK : 0;
  let n = varintLength(res.requestId) + 1;
  if (errorCode !== undefined) {
    flags |= RESP_ERROR_CODE;
    n += bytesField(errorCode);
  }
  if (message !== undefined) {
    flags |= RESP_MESSAGE;
    n += bytesField(message);
  }
  if (res.leaderHint !== undefined) {
    assert(isId(res.leaderHint.id), () => `bad leader hint id ${res.leaderHint?.id}`);
    flags |= RESP_LEADER_HINT;
    n += varintLength(res.leaderHint.id) + bytesField(hintAddress!);
  }
  if (res.value !== undefined) {
    flags |= RESP_VALUE;
    n += bytesField(res.value);
  }
  if (res.entries !== undefined) {
    flags |= RESP_ENTRIES;
    n += varintLength(res.entries.length);
    for (const [k, v] of res.entries) n += bytesField(k) + bytesField(v);
  }
  if (json !== undefined) {
    flags |= RESP_JSON;
    n += bytesField(json);
  }
  if (res.sessionId !== undefined) {
    assert(isId(res.sessionId) && res.sessionId > 0, () => `bad session id ${res.sessionId}`);
    flags |= RESP_SESSION_ID;
    n += varintLength(res.sessionId);
  }
  const out = new Uint8Array(n);
  let pos = putVarint(out, 0, res.requestId);
  out[pos++] = flags;
  if (errorCode !== undefined) pos = putBytes(out, pos, errorCode);
  if (message !== undefined) pos = putBytes(out, pos, message);
  if (res.leaderHint !== undefined) {
    pos = putVarint(out, pos, res.leaderHint.id);
    pos = putBytes(out, pos, hintAddress!);
  }
  if (res.value !== undefined) pos = putBytes(out, pos, res.value);
  if (res.entries !== undefined) {
    pos = putVarint(out, pos, res.entries.length);
    for (const [k, v] of res.entries) {
      pos = putBytes(out, pos, k);
      pos = putBytes(out, pos, v);
    }
  }
  if (json !== undefined) pos = putBytes(out, pos, json);
  if (res.sessionId !== undefined) pos = putVarint(out, pos, res.sessionId);
  assert(pos === n, () => `client response encoding wrote ${pos} of ${n} bytes`);
  return out;
}

export function decodeClientResponse(payload: Uint8Array): ClientResponse {
  const r: Reader = new Reader(payload, 'client response');
  const requestId = r.varint();
  const flags = r.byte();
  if ((flags & ~RESP_FLAGS_ALL) !== 0) r.fail(`unknown flag bits 0x${flags.toString(16)}`);
  const res: ClientResponse = { requestId, ok: (flags & RESP_OK) !== 0 };
  if ((flags & RESP_ERROR_CODE) !== 0) res.errorCode = r.string();
  if ((flags & RESP_MESSAGE) !== 0) res.message = r.string();
  if ((flags & RESP_LEADER_HINT) !== 0) {
    const id = r.varint();
    res.leaderHint = { id, address: r.string() };
  }
  if ((flags & RESP_VALUE) !== 0) res.value = r.bytes();
  if ((flags & RESP_ENTRIES) !== 0) {
    const n = r.count(2);
    const entries: [Uint8Array, Uint8Array][] = new Array<[Uint8Array, Uint8Array]>(n);
    for (let i = 0; i < n; i++) {
      const k = r.bytes();
      entries[i] = [k, r.bytes()];
    }
    res.entries = entries;
  }
  if ((flags & RESP_JSON) !== 0) res.json = r.string();
  if ((flags & RESP_SESSION_ID) !== 0) res.sessionId = positive(r, 'sessionId');
  r.end();
  return res;
}

// ---------------------------------------------------------------------------------------------
// Join requests (JOIN_REQUEST; the answer is a JOIN_RESPONSE carrying a ClientResponse).

/**
 * Sent by a cluster's leader to a node it is about to add: "join cluster `clusterId` as `nodeId`;
 * the leader is `leaderId` at `leaderAddress`". The receiver answers ok only if it may join (it
 * holds no user data), and adopts the cluster id. The frame itself carries cluster id 0.
 */
export interface JoinRequest {
  requestId: number;
  clusterId: ClusterId;
  nodeId: number;
  leaderId: number;
  leaderAddress: string;
}

export function encodeJoinRequest(req: JoinRequest): Uint8Array {
  assert(isId(req.requestId) && isId(req.nodeId) && isId(req.leaderId), 'bad join request ids');
  assert(req.clusterId > 0n && req.clusterId < 1n << 64n, () => `bad join cluster id ${req.clusterId}`);
  const address = utf8(req.leaderAddress);
  const n = varintLength(req.requestId) + 8 + varintLength(req.nodeId) + varintLength(req.leaderId) + bytesField(address);
  const out = new Uint8Array(n);
  let pos = putVarint(out, 0, req.requestId);
  putFixed32(out, pos, Number(req.clusterId & 0xffff_ffffn));
  putFixed32(out, pos + 4, Number(req.clusterId >> 32n));
  pos = putVarint(out, pos + 8, req.nodeId);
  pos = putVarint(out, pos, req.leaderId);
  pos = putBytes(out, pos, address);
  assert(pos === n, 'join request size mismatch');
  return out;
}

export function decodeJoinRequest(payload: Uint8Array): JoinRequest {
  const r: Reader = new Reader(payload, 'join request');
  const requestId = r.varint();
  const clusterId = r.fixed64();
  if (clusterId === 0n) r.fail('cluster id 0');
  const nodeId = r.varint();
  const leaderId = r.varint();
  const leaderAddress = r.string();
  r.end();
  return { requestId, clusterId, nodeId, leaderId, leaderAddress };
}

// ---------------------------------------------------------------------------------------------
// HELLO: the first frame of a peer connection. Sender and cluster id are in the frame header.

export interface Hello {
  /** The sender's listen address ("host:port"), so the receiver can reach it back. */
  listenAddress: string;
}

export function encodeHello(h: Hello): Uint8Array {
  const address = utf8(h.listenAddress);
  const out = new Uint8Array(bytesField(address));
  putBytes(out, 0, address);
  return out;
}

export function decodeHello(payload: Uint8Array): Hello {
  const r: Reader = new Reader(payload, 'hello');
  const listenAddress = r.string();
  r.end();
  return { listenAddress };
}
