/**
 * Errors a user can cause or meet. Each has a stable `code`; match on the code, never the message.
 * What only a bug can cause is an assertion failure (see util/assert.ts), not one of these.
 */

/** Every code an LsmraftError may carry; the type below is derived from this list. */
export const LSMRAFT_ERROR_CODES = [
  'LSM_ERR_CORRUPTION',
  'LSM_ERR_CLOSED',
  'LSM_ERR_LOCKED',
  'LSM_ERR_INVALID_ARGUMENT',
  'LSM_ERR_IO',
  'LSM_ERR_JOB_FAILED',
  'LSM_ERR_BACKGROUND',
  'LSM_ERR_WASM',
  'LSM_ERR_ITERATOR_NOT_POSITIONED',
  'KV_ERR_NOT_LEADER',
  'KV_ERR_TIMEOUT',
  'KV_ERR_INVALID_ARGUMENT',
  'KV_ERR_BAD_FRAME',
  'KV_ERR_CLUSTER_MISMATCH',
  'KV_ERR_MEMBERSHIP',
  'KV_ERR_STOPPED',
  'KV_ERR_CONNECTION_CLOSED',
  'KV_ERR_ADDRESS_IN_USE',
  'KV_ERR_SESSION_EXPIRED',
  'KV_ERR_SESSION_SEQ_DISCARDED',
  'KV_ERR_REMOVED',
  'KV_ERR_BUSY',
  'KV_ERR_MEMBER_NOT_FOUND',
  'KV_ERR_MEMBER_NOT_LEARNER',
  'KV_ERR_LEARNER_NOT_READY',
  'KV_ERR_NOT_ENOUGH_STARTED',
  'KV_ERR_PEER_ADDRESS_EXISTS',
  'RAFT_ERR_COMPACTED',
  'RAFT_ERR_UNAVAILABLE',
  'RAFT_ERR_SNAPSHOT_OUT_OF_DATE',
  'RAFT_ERR_PROPOSAL_DROPPED',
  'MVCC_ERR_COMPACTED',
  'MVCC_ERR_FUTURE_REV',
  'MVCC_ERR_LEASE_NOT_FOUND',
  'MVCC_ERR_LEASE_EXISTS',
  'MVCC_ERR_KEY_NOT_FOUND',
  'MVCC_ERR_EMPTY_KEY',
  'MVCC_ERR_TOO_MANY_OPS',
  'MVCC_ERR_DUPLICATE_KEY',
  'MVCC_ERR_VALUE_PROVIDED',
  'MVCC_ERR_LEASE_PROVIDED',
  'MVCC_ERR_REQUEST_TOO_LARGE',
  'MVCC_ERR_KEY_TOO_LONG',
  'MVCC_ERR_NO_SPACE',
] as const;

export type LsmraftErrorCode = (typeof LSMRAFT_ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(LSMRAFT_ERROR_CODES);

/** True if `code` is one of the stable codes (an error read off the wire or from a worker). */
export function isLsmraftErrorCode(code: unknown): code is LsmraftErrorCode {
  return typeof code === 'string' && KNOWN_CODES.has(code);
}

export class LsmraftError extends Error {
  readonly code: LsmraftErrorCode;
  constructor(code: LsmraftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Stored bytes failed a checksum or do not parse. Names the file and byte offset. */
export class CorruptionError extends LsmraftError {
  readonly file: string | undefined;
  readonly offset: number | undefined;
  constructor(message: string, file?: string, offset?: number, options?: { cause?: unknown }) {
    const where = file === undefined ? '' : ` (file ${file}${offset === undefined ? '' : ` at offset ${offset}`})`;
    super('LSM_ERR_CORRUPTION', `${message}${where}`, options);
    this.file = file;
    this.offset = offset;
  }
}

/** The tree (or node) was closed, or is closing. */
export class ClosedError extends LsmraftError {
  constructor(what = 'database') {
    super('LSM_ERR_CLOSED', `${what} is closed`);
  }
}

/** Another process (or another open tree in this process) holds the directory's LOCK. */
export class LockedError extends LsmraftError {
  readonly dir: string;
  constructor(dir: string, holder: string) {
    super('LSM_ERR_LOCKED', `database directory ${dir} is locked by ${holder}`);
    this.dir = dir;
  }
}

/** A caller passed something the API does not accept: empty key, oversized value, bad option. */
export class InvalidArgumentError extends LsmraftError {
  constructor(message: string, code: 'LSM_ERR_INVALID_ARGUMENT' | 'KV_ERR_INVALID_ARGUMENT' = 'LSM_ERR_INVALID_ARGUMENT') {
    super(code, message);
  }
}

/** An iterator's key() or value() was read while it has no current entry (before next(), after its end). */
export class IteratorNotPositionedError extends LsmraftError {
  constructor(what: string) {
    super('LSM_ERR_ITERATOR_NOT_POSITIONED', `${what} without a current entry: call next() and read only after it returned true`);
  }
}

/** The file system failed (disk full, permission, ...). The cause is the system error. */
export class IoError extends LsmraftError {
  constructor(message: string, cause?: unknown) {
    super('LSM_ERR_IO', message, { cause });
  }
}

/** A flush or compaction job failed in a worker; the tree is as it was before the job. */
export class JobFailedError extends LsmraftError {
  constructor(message: string, cause?: unknown) {
    super('LSM_ERR_JOB_FAILED', message, { cause });
  }
}

/**
 * The tree is read-only after a background error that retrying cannot fix (a corrupt compaction
 * input; src/lsm/error-handler.ts): reads work, every write and flush fails with this until the
 * tree is reopened. A write that fails with it certainly did not happen. `cause` is the original
 * error (a CorruptionError names the damaged file).
 */
export class BackgroundError extends LsmraftError {
  constructor(cause: unknown) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super('LSM_ERR_BACKGROUND', `tree is read-only after a background error: ${what}`, { cause });
  }
}

/** The WebAssembly module reported a non-zero status. */
export class WasmError extends LsmraftError {
  readonly status: number;
  constructor(operation: string, status: number, detail?: string) {
    super('LSM_ERR_WASM', `wasm ${operation} failed with status ${status}${detail ? `: ${detail}` : ''}`);
    this.status = status;
  }
}
