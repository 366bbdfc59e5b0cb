/**
 * Errors of the node's wire layer (src/node/frame.ts, codec.ts, transport.ts), in the style of
 * undici's lib/core/errors.js: each is an LsmraftError with a stable code; callers match on `code`.
 */
import { LsmraftError } from '../errors.js';

/**
 * Bytes received from the network are not a valid frame or payload: bad magic, unknown version,
 * oversized length, checksum mismatch, truncated or garbage payload, or a frame that this
 * connection may not carry (foreign cluster id, peer frame before HELLO). The transport closes the
 * connection that carried it and nothing else.
 */
export class BadFrameError extends LsmraftError {
  constructor(message: string) {
    super('KV_ERR_BAD_FRAME', message);
  }
}

/** A client request (or the connect before it) got no answer in time; its outcome is unknown. */
export class RequestTimeoutError extends LsmraftError {
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super('KV_ERR_TIMEOUT', `${what} timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The connection to a node could not be opened or was closed while a request was in flight (the
 * node stopped, crashed or dropped the connection). An in-flight request's outcome is unknown.
 */
export class ConnectionClosedError extends LsmraftError {
  readonly address: string;
  constructor(address: string, why: string, options?: { cause?: unknown }) {
    super('KV_ERR_STOPPED', `connection to ${address} closed: ${why}`, options);
    this.address = address;
  }
}
