/**
 * Node system errors (an Error with a string errno `code`, "ENOENT") turned into the tree's typed
 * IoError, which keeps the system error as its `cause` (code, errno, syscall, path).
 */
import { IoError } from '../errors.js';

/** A Node system error carries a string errno code ("ENOENT"); anything else is not ours to wrap. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/** Throws `err` as an IoError naming the operation and path if it is a system error, else as is. */
export function throwIoError(operation: string, path: string, err: unknown): never {
  if (isSystemError(err)) {
    throw new IoError(`${operation} ${path}: ${err.code}: ${err.message}`, err);
  }
  throw err;
}
