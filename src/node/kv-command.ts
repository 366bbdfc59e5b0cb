/**
 * The commands a Raft entry carries to the key-value state machine: put and delete (each tagged
 * with its client session and sequence number, for exactly-once: session-table.ts), the
 * session commands register and keep-alive, and an etcd v3 write (Put, DeleteRange, Txn, Compact,
 * a lease grant / revoke / checkpoint: src/mvcc/request-codec.ts gives its bytes; etcd has no
 * exactly-once, so it carries no session). The byte layout is docs/format/raft-log.md
 * ("Commands"); the idea (a versioned, self-describing command record inside an opaque Raft entry)
 * is etcd's raftpb.Entry.Data holding an InternalRaftRequest, and the session fields are those of
 * LogCabin's ExactlyOnceRPCInfo (client_id, sequence_number, first_outstanding_rpc).
 *
 * Every command carries two tags:
 * - the proposal tag (proposerId, proposalId): the node that proposed this entry and its local
 *   request number, only so that node can wake the request waiting for it (request-path.ts);
 * - for put and delete, the session tag (sessionId, seq, firstOutstandingSeq): what makes a retry
 *   of the same client request, through any node, a duplicate the state machine recognizes.
 * and a log time stamp (timeMs): the clock of the leader that appended the entry (stampCommand),
 * from which the state machine derives its deterministic clock (session expiry).
 *
 * What must hold: encode(decode(b)) === b for every b decode accepts, and decode rejects anything
 * else with KV_ERR_INVALID_ARGUMENT, so every replica classifies the same bytes the same way (the
 * state machine turns an undecodable entry into a no-op with an error result, deterministically).
 * An empty normal entry is not a command: it is the no-op a new leader appends (see isNoop).
 */
import { InvalidArgumentError } from '../errors.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../lsm/options.js';
import { decodeMvccWrite, encodeMvccWrite } from '../mvcc/request-codec.js';
import type { MvccWrite } from '../mvcc/requests.js';
import { getFixed64, getVarint, putFixed64, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { USER_KEY_BYTES_MAX } from './state-keys.js';
import type { Message } from '../raft/types.js';

export const KV_COMMAND_VERSION = 2;
/**
 * Largest value a put may carry: the command (and the log entry around it, see log-store.ts) must
 * stay within one LSM value, whose limit is VALUE_BYTES_MAX; the key, tags and headers take the rest.
 */
export const COMMAND_VALUE_BYTES_MAX = VALUE_BYTES_MAX - KEY_BYTES_MAX - 128;
const OP_PUT = 1;
const OP_DEL = 2;
const OP_REGISTER = 3;
const OP_KEEP_ALIVE = 4;
const OP_ETCD = 5;
/** Offset of the fixed64 time stamp, which the leader overwrites in place (stampCommand). */
const TIME_OFFSET = 2;
const HEADER_BYTES = TIME_OFFSET + 8;

/** Who proposed the entry: a node id and that node's request number (both non-negative). */
export interface ProposalTag {
  proposerId: number;
  proposalId: number;
}

/**
 * Which client request a write is: its session, its sequence number in the session (from 1), and
 * the lowest sequence number the client has not yet seen answered (every response below it may be
 * forgotten, and a request below it is refused). 1 <= firstOutstandingSeq <= seq.
 */
export interface SessionTag {
  sessionId: number;
  seq: number;
  firstOutstandingSeq: number;
}

/** The proposer's clock (ms since the epoch) when proposed; the leader's once appended. */
interface Stamped {
  timeMs: number;
}

export type KvCommand =
  | ({ type: 'put'; key: Uint8Array; value: Uint8Array } & ProposalTag & SessionTag & Stamped)
  | ({ type: 'del'; key: Uint8Array } & ProposalTag & SessionTag & Stamped)
  | ({ type: 'register' } & ProposalTag & Stamped)
  | ({ type: 'keepAlive'; sessionId: number } & ProposalTag & Stamped)
  | ({ type: 'etcd'; write: MvccWrite } & ProposalTag & Stamped);

export type KvCommandType = KvCommand['type'];

function bad(why: string): never {
  throw new InvalidArgumentError(`malformed kv command: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
}

function checkId(name: string, v: unknown, min = 0): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new InvalidArgumentError(`${name} must be a safe integer >= ${min}, got ${String(v)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
}

/** Checks a session tag (at the edge: KvNode, the client service). */
export function checkSessionTag(t: SessionTag): void {
  checkId('sessionId', t.sessionId, 1);
  checkId('seq', t.seq, 1);
  checkId('firstOutstandingSeq', t.firstOutstandingSeq, 1);
  if (t.firstOutstandingSeq > t.seq) {
    throw new InvalidArgumentError(`firstOutstandingSeq ${t.firstOutstandingSeq} is above seq ${t.seq}`, 'KV_ERR_INVALID_ARGUMENT');
  }
}

const OP_CODES: Record<KvCommandType, number> = { put: OP_PUT, del: OP_DEL, register: OP_REGISTER, keepAlive: OP_KEEP_ALIVE, etcd: OP_ETCD };

/** The varint fields after the header, in order, of `cmd`. */
function varintFields(cmd: KvCommand): number[] {
  const f = [cmd.proposerId, cmd.proposalId];
  if (cmd.type === 'put' || cmd.type === 'del') f.push(cmd.sessionId, cmd.seq, cmd.firstOutstandingSeq);
  else if (cmd.type === 'keepAlive') f.push(cmd.sessionId);
  return f;
}

/** Validates a command at the edge (the proposer), so that only applicable commands are logged. */
export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  if (typeof cmd !== 'object' || cmd === null) throw new InvalidArgumentError('command must be an object', 'KV_ERR_INVALID_ARGUMENT');
  const op = OP_CODES[cmd.type];
  if (op === undefined) throw new InvalidArgumentError(`unknown command type ${String((cmd as { type: unknown }).type)}`, 'KV_ERR_INVALID_ARGUMENT');
  checkId('proposerId', cmd.proposerId);
  checkId('proposalId', cmd.proposalId);
  checkId('timeMs', cmd.timeMs);
  if (cmd.type === 'put' || cmd.type === 'del') checkSessionTag(cmd);
  if (cmd.type === 'keepAlive') checkId('sessionId', cmd.sessionId, 1);
  const fields = varintFields(cmd);
  const etcd = cmd.type === 'etcd' ? encodeMvccWrite(cmd.write) : undefined;
  if (etcd !== undefined && etcd.length > COMMAND_VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(`an etcd write of ${etcd.length} bytes is above ${COMMAND_VALUE_BYTES_MAX}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  let size = HEADER_BYTES + (etcd?.length ?? 0);
  for (const v of fields) size += varintLength(v);
  if (cmd.type === 'put' || cmd.type === 'del') {
    if (!(cmd.key instanceof Uint8Array) || cmd.key.length === 0 || cmd.key.length > USER_KEY_BYTES_MAX) {
      throw new InvalidArgumentError(`key must be 1..${USER_KEY_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
    }
    size += varintLength(cmd.key.length) + cmd.key.length;
  }
  if (cmd.type === 'put') {
    if (!(cmd.value instanceof Uint8Array) || cmd.value.length > COMMAND_VALUE_BYTES_MAX) {
      throw new InvalidArgumentError(`value must be a Uint8Array of at most ${COMMAND_VALUE_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
    }
    size += varintLength(cmd.value.length) + cmd.value.length;
  }
  const out = new Uint8Array(size);
  out[0] = KV_COMMAND_VERSION;
  out[1] = op;
  putFixed64(out, TIME_OFFSET, cmd.timeMs);
  let pos = HEADER_BYTES;
  for (const v of fields) pos = putVarint(out, pos, v);
  if (cmd.type === 'put' || cmd.type === 'del') {
    pos = putVarint(out, pos, cmd.key.length);
    out.set(cmd.key, pos);
    pos += cmd.key.length;
  }
  if (cmd.type === 'put') {
    pos = putVarint(out, pos, cmd.value.length);
    out.set(cmd.value, pos);
    pos += cmd.value.length;
  }
  if (etcd !== undefined) out.set(etcd, pos);
  return out;
}

class CommandReader {
  private readonly r: VarintRead = { value: 0, pos: 0 };
  pos = HEADER_BYTES;
  constructor(private readonly b: Uint8Array) {}
  varint(what: string, min = 0): number {
    getVarint(this.b, this.pos, this.b.length, this.r);
    if (this.r.pos < 0 || !Number.isSafeInteger(this.r.value) || this.r.value < min) bad(`bad ${what}`);
    this.pos = this.r.pos;
    return this.r.value;
  }
  bytes(what: string, min: number, max: number): Uint8Array {
    const n = this.varint(`${what} length`);
    if (n < min || n > max || this.pos + n > this.b.length) bad(`bad ${what} length`);
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  end(): void {
    if (this.pos !== this.b.length) bad(`${this.b.length - this.pos} trailing bytes`);
  }
}

/** Decodes a command; throws InvalidArgumentError (KV_ERR_INVALID_ARGUMENT) on anything malformed. */
export function decodeKvCommand(b: Uint8Array): KvCommand {
  if (b.length < HEADER_BYTES + 2) bad(`too short (${b.length} bytes)`);
  if (b[0] !== KV_COMMAND_VERSION) bad(`unknown version ${b[0]}`);
  const op = b[1];
  const timeMs = getFixed64(b, TIME_OFFSET);
  if (!Number.isSafeInteger(timeMs)) bad('time stamp above 2^53');
  const r = new CommandReader(b);
  const proposerId = r.varint('proposer id');
  const proposalId = r.varint('proposal id');
  const base = { proposerId, proposalId, timeMs };
  let cmd: KvCommand;
  if (op === OP_PUT || op === OP_DEL) {
    const sessionId = r.varint('session id', 1);
    const seq = r.varint('seq', 1);
    const firstOutstandingSeq = r.varint('first outstanding seq', 1);
    if (firstOutstandingSeq > seq) bad('first outstanding seq above seq');
    const key = r.bytes('key', 1, USER_KEY_BYTES_MAX);
    const tag = { sessionId, seq, firstOutstandingSeq };
    if (op === OP_DEL) cmd = { type: 'del', key, ...base, ...tag };
    else cmd = { type: 'put', key, value: r.bytes('value', 0, COMMAND_VALUE_BYTES_MAX), ...base, ...tag };
  } else if (op === OP_REGISTER) {
    cmd = { type: 'register', ...base };
  } else if (op === OP_KEEP_ALIVE) {
    cmd = { type: 'keepAlive', sessionId: r.varint('session id', 1), ...base };
  } else if (op === OP_ETCD) {
    cmd = { type: 'etcd', write: decodeMvccWrite(b.subarray(r.pos)), ...base };
    r.pos = b.length;
  } else {
    bad(`unknown operation ${op}`);
  }
  r.end();
  return cmd;
}

/**
 * The command `data` stamped with `timeMs` (a copy; `data` is not changed). The leader stamps each
 * proposal it appends with its clock, so the log's time comes from leaders only (a follower's clock
 * never enters it). Data that is not a command of this version is returned as it is: the state
 * machine rejects it alike on every replica.
 */
export function stampCommand(data: Uint8Array, timeMs: number): Uint8Array {
  if (data.length < HEADER_BYTES || data[0] !== KV_COMMAND_VERSION) return data;
  const out = data.slice();
  putFixed64(out, TIME_OFFSET, timeMs);
  return out;
}

/** A normal entry with no data is a leader's no-op (Raft thesis §6.4): it only advances the index. */
export function isNoop(data: Uint8Array): boolean {
  return data.length === 0;
}

/**
 * A proposal forwarded to a leader, its commands stamped with that leader's clock: the log's time
 * comes from leaders only (stampCommand; session-table.ts, log time).
 */
export function stampProposal(m: Message, nowMs: number): Message {
  return { ...m, entries: m.entries.map((e) => (e.type === 'normal' && e.data.length > 0 ? { ...e, data: stampCommand(e.data, nowMs) } : e)) };
}
