/**
 * Keys, values and ranges as the public API takes them (a string, as UTF-8, or bytes), checked once
 * at the edge against the limits of the state machine: a key of 1..USER_KEY_BYTES_MAX bytes, a value of
 * at most COMMAND_VALUE_BYTES_MAX, a scan of 1..SCAN_LIMIT_MAX pairs. Anything else is
 * KV_ERR_INVALID_ARGUMENT.
 */
import { InvalidArgumentError } from '../errors.js';
import { utf8 } from '../util/bytes.js';
import { COMMAND_VALUE_BYTES_MAX } from './kv-command.js';
import { SCAN_LIMIT_MAX } from './state-machine.js';
import { USER_KEY_BYTES_MAX } from './state-keys.js';

export type KeyInput = string | Uint8Array;

export function toKey(key: KeyInput, what = 'key'): Uint8Array {
  const b = typeof key === 'string' ? utf8(key) : key;
  if (!(b instanceof Uint8Array) || b.length === 0 || b.length > USER_KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`${what} must be a string or Uint8Array of 1..${USER_KEY_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
  }
  return b;
}

export function toValue(value: KeyInput): Uint8Array {
  const b = typeof value === 'string' ? utf8(value) : value;
  if (!(b instanceof Uint8Array) || b.length > COMMAND_VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(`value must be a string or Uint8Array of at most ${COMMAND_VALUE_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
  }
  return b;
}

/** A scan's bounds, both inclusive (absent = unbounded), and its limit. */
export function toScanRange(from: KeyInput | undefined, to: KeyInput | undefined, limit: number): { from: Uint8Array; to: Uint8Array; limit: number } {
if (!Number.isSafeInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) {
  throw new InvalidArgumentError(`limit must be an integer in [1, ${SCAN_LIMIT_MAX}]`, 'KV_ERR_INVALID_ARGUMENT');
}
const lo = from === undefined ? Uint8Array.of(0) : toKey(from, 'from');
const hi = to === undefined ? new Uint8Array(USER_KEY_BYTES_MAX).fill(0xff) : toKey(to, 'to');
return { from: lo, to: hi, limit };
}
