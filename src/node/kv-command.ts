/**
 * The commands a Raft entry carries to the key-value state machine: put and delete, each tagged
 * with the client request it answers. The byte layout is docs/format/raft-log.md ("Commands"); the
 * idea (a versioned, self-describing command record inside an opaque Raft entry) is etcd's
 * raftpb.Entry.Data holding an InternalRaftRequest.
 *
 * What must hold: encode(decode(b)) === b for every b decode accepts, and decode rejects anything
 * else with KV_ERR_INVALID_ARGUMENT, so every replica classifies the same bytes the same way (the
 * state machine turns an undecodable entry into a no-op with an error result, deterministically).
 * An empty normal entry is not a command: it is the no-op a new leader appends (see isNoop).
 */
import { InvalidArgumentError } from '../errors.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../lsm/options.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';

export const KV_COMMAND_VERSION = 1;
/**
 * Largest value a put may carry: the command (and the log entry around it, see log-store.ts) must
 * stay within one LSM value, whose limit is VALUE_BYTES_MAX; the key and headers take the rest.
 */
export const COMMAND_VALUE_BYTES_MAX = VALUE_BYTES_MAX - KEY_BYTES_MAX - 64;
const OP_PUT = 1;
const OP_DEL = 2;

/**
 * Who asked: `clientId` names the proposer (a node or a client session), `requestId` its request.
 * Both are non-negative safe integers chosen by the driver; the state machine only echoes them.
 */
export interface RequestTag {
  clientId: number;
  requestId: number;
}

export type KvCommand =
  | ({ type: 'put'; key: Uint8Array; value: Uint8Array } & RequestTag)
  | ({ type: 'del'; key: Uint8Array } & RequestTag);

function bad(why: string): never {
  throw new InvalidArgumentError(`malformed kv command: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
}

function checkTag(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative safe integer, got ${String(v)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
}

/** Validates a command at the edge (the proposer), so that only applicable commands are logged. */
export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  if (typeof cmd !== 'object' || cmd === null) throw new InvalidArgumentError('command must be an object', 'KV_ERR_INVALID_ARGUMENT');
  if (cmd.type !== 'put' && cmd.type !== 'del') {
    throw new InvalidArgumentError(`command type must be 'put' or 'del', got ${String((cmd as { type: unknown }).type)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  checkTag('clientId', cmd.clientId);
  checkTag('requestId', cmd.requestId);
  if (!(cmd.key instanceof Uint8Array) || cmd.key.length === 0 || cmd.key.length > KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`key must be 1..${KEY_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
  }
  let size = 2 + varintLength(cmd.clientId) + varintLength(cmd.requestId) + varintLength(cmd.key.length) + cmd.key.length;
  if (cmd.type === 'put') {
    if (!(cmd.value instanceof Uint8Array) || cmd.value.length > COMMAND_VALUE_BYTES_MAX) {
      throw new InvalidArgumentError(`value must be a Uint8Array of at most ${COMMAND_VALUE_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
    }
    size += varintLength(cmd.value.length) + cmd.value.length;
  }
  const out = new Uint8Array(size);
  out[0] = KV_COMMAND_VERSION;
  out[1] = cmd.type === 'put' ? OP_PUT : OP_DEL;
  let pos = putVarint(out, 2, cmd.clientId);
  pos = putVarint(out, pos, cmd.requestId);
  pos = putVarint(out, pos, cmd.key.length);
  out.set(cmd.key, pos);
  pos += cmd.key.length;
  if (cmd.type === 'put') {
    pos = putVarint(out, pos, cmd.value.length);
    out.set(cmd.value, pos);
    pos += cmd.value.length;
  }
  return out;
}

/** Decodes a command; throws InvalidArgumentError (KV_ERR_INVALID_ARGUMENT) on anything malformed. */
export function decodeKvCommand(b: Uint8Array): KvCommand {
  if (b.length < 5) bad(`too short (${b.length} bytes)`);
  if (b[0] !== KV_COMMAND_VERSION) bad(`unknown version ${b[0]}`);
  const op = b[1];
  if (op !== OP_PUT && op !== OP_DEL) bad(`unknown operation ${op}`);
  const r: VarintRead = { value: 0, pos: 0 };
  getVarint(b, 2, b.length, r);
  if (r.pos < 0) bad('bad client id');
  const clientId = r.value;
  getVarint(b, r.pos, b.length, r);
  if (r.pos < 0) bad('bad request id');
  const requestId = r.value;
  getVarint(b, r.pos, b.length, r);
  if (r.pos < 0 || r.value === 0 || r.value > KEY_BYTES_MAX || r.pos + r.value > b.length) bad('bad key length');
  const key = b.slice(r.pos, r.pos + r.value);
  const afterKey = r.pos + r.value;
  if (op === OP_DEL) {
    if (afterKey !== b.length) bad(`${b.length - afterKey} trailing bytes`);
    return { type: 'del', key, clientId, requestId };
  }
  getVarint(b, afterKey, b.length, r);
  if (r.pos < 0 || r.value > COMMAND_VALUE_BYTES_MAX || r.pos + r.value !== b.length) bad('bad value length');
  return { type: 'put', key, value: b.slice(r.pos, r.pos + r.value), clientId, requestId };
}

/** A normal entry with no data is a leader's no-op (Raft thesis §6.4): it only advances the index. */
export function isNoop(data: Uint8Array): boolean {
  return data.length === 0;
}
