/**
 * A failed job's error across the worker-thread boundary. Structured clone keeps an Error's message
 * but not its class, its `code` or the fields of its `cause`, so the worker sends the error as
 * plain data and the pool rebuilds it: the same typed class and code, the file and offset of a
 * CorruptionError, and the cause chain (a system error's code, errno, syscall and path; a typed
 * cause's code and class), so `err.cause.code === 'ENOSPC'` holds in the pool as it does inline.
 */
import { CorruptionError, IoError, isLsmraftErrorCode, JobFailedError, LsmraftError } from '../errors.js';

/** An error as plain data. `code` is a stable LsmraftError code or a system errno code. */
export interface ErrorData {
  name: string;
  message: string;
  /** True when the error was an LsmraftError (its code is then a stable code). */
  typed: boolean;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  file?: string;
  offset?: number;
  cause?: ErrorData;
}

/** Causes followed at most: a chain is one or two long in practice; a cycle must not loop. */
const CAUSE_DEPTH_MAX = 8;

function field<T>(err: object, key: string, type: 'string' | 'number'): T | undefined {
  const v = (err as Record<string, unknown>)[key];
  return typeof v === type ? (v as T) : undefined;
}

/** `err` (an LsmraftError from runJob, or any cause below it) as plain data. */
export function errorToData(err: unknown, depth = 0): ErrorData {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), typed: false };
  const data: ErrorData = { name: err.name, message: err.message, typed: err instanceof LsmraftError };
  data.code = field(err, 'code', 'string');
  data.errno = field(err, 'errno', 'number');
  data.syscall = field(err, 'syscall', 'string');
  data.path = field(err, 'path', 'string');
  data.file = field(err, 'file', 'string');
  data.offset = field(err, 'offset', 'number');
  if (err.cause !== undefined && depth < CAUSE_DEPTH_MAX) data.cause = errorToData(err.cause, depth + 1);
  return data;
}

/** Rebuilds what errorToData() sent: a typed error of the same class where the class is known. */
export function errorFromData(data: ErrorData): Error {
  const cause = data.cause === undefined ? undefined : errorFromData(data.cause);
  let err: Error;
  if (data.typed && isLsmraftErrorCode(data.code)) {
    switch (data.code) {
      case 'LSM_ERR_CORRUPTION':
        err = new CorruptionError(data.message, data.file, data.offset, { cause });
        break;
      case 'LSM_ERR_IO':
        err = new IoError(data.message, cause);
        break;
      case 'LSM_ERR_JOB_FAILED':
        err = new JobFailedError(data.message, cause);
        break;
      default:
        err = new LsmraftError(data.code, data.message, { cause });
    }
    // The worker's message is final (a CorruptionError's already names its file and offset).
    err.message = data.message;
  } else {
    err = new Error(data.message, { cause });
    const sys = err as NodeJS.ErrnoException;
    if (data.code !== undefined) sys.code = data.code;
    if (data.errno !== undefined) sys.errno = data.errno;
    if (data.syscall !== undefined) sys.syscall = data.syscall;
    if (data.path !== undefined) sys.path = data.path;
  }
  err.name = data.name;
  return err;
}
