/**
 * Checks of user-supplied keys and values at the public edge (LsmTree, TreeIterator): the inside
 * of the tree trusts what it is handed.
 */
import { InvalidArgumentError } from '../errors.js';
import { utf8 } from '../util/bytes.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from './options.js';

/** A key or value as the API takes it: bytes, or a string stored as its UTF-8 bytes. */
export type KeyLike = Uint8Array | string;

export function toKey(key: unknown, what = 'key'): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key === 'string') bytes = utf8(key);
  else if (key instanceof Uint8Array) bytes = key;
  else throw new InvalidArgumentError(`${what} must be a string or Uint8Array, got ${key === null ? 'null' : typeof key}`);
  if (bytes.length === 0) throw new InvalidArgumentError(`${what} must not be empty`);
  if (bytes.length > KEY_BYTES_MAX) throw new InvalidArgumentError(`${what} is ${bytes.length} bytes, over the maximum of ${KEY_BYTES_MAX}`);
  return bytes;
}

export function toValue(value: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'string') bytes = utf8(value);
  else if (value instanceof Uint8Array) bytes = value;
  else throw new InvalidArgumentError(`value must be a string or Uint8Array, got ${value === null ? 'null' : typeof value}`);
  if (bytes.length > VALUE_BYTES_MAX) throw new InvalidArgumentError(`value is ${bytes.length} bytes, over the maximum of ${VALUE_BYTES_MAX}`);
  return bytes;
}
