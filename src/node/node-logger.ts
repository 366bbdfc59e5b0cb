/**
 * A node's structured log (pino): one logger per node, with `node` (its id) on every record and a
 * child per component (`component`: raft, transport, snapshot, membership, requests, storage,
 * metrics), after etcd's zap logger with its `local-member-id` field.
 *
 * Where records go: a caller's own pino logger (KvNodeOptions.logger, made a child with the node
 * id); or, with only a level (KvNodeOptions.logLevel), stderr: JSON lines when stderr is not a
 * terminal (for a collector), pino-pretty lines when it is (for a person); or, for the older
 * `log(line)` callback, each record's message as one line. With none of these a node logs nothing
 * (a library does not write to its process's stderr unasked); kv-server always passes a level.
 *
 * Writes are synchronous (pino's default destination buffers; a crash would lose the last lines,
 * which are the ones that explain it).
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { InvalidArgumentError } from '../errors.js';

export type { Logger } from 'pino';

/** The levels of --log-level, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: unknown): s is LogLevel {
  return typeof s === 'string' && (LOG_LEVELS as readonly string[]).includes(s);
}

/** A writable the size of process.stderr's interface that a destination needs. */
export interface LineStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

/** JSON lines as they are, or pino-pretty's rendering of each when `stream` is a terminal. */
export function streamDestination(stream: LineStream): DestinationStream {
  if (stream.isTTY !== true) return { write: (s: string) => void stream.write(s) };
  const pretty = pinoPretty.prettyFactory({ colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return { write: (s: string) => void stream.write(pretty(s)) };
}

/** A logger of `level` writing to `destination` (default: stderr, see streamDestination). */
export function createLogger(level: LogLevel, destination: DestinationStream = streamDestination(process.stderr)): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** Each record as one line of text for an older `log(line)` callback: the message, then its fields. */
function callbackDestination(log: (line: string) => void): DestinationStream {
  return {
    write: (s: string) => {
      const { level: _level, time: _time, msg, node: _node, component: _component, ...rest } = JSON.parse(s) as Record<string, unknown>;
      const fields = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`;
      log(`${String(msg)}${fields}`);
    },
  };
}

export interface LoggerOptions {
  logger?: Logger;
  logLevel?: LogLevel;
  log?: (line: string) => void;
}

/** The node's logger (see the header for which one); validates the options at the edge. */
export function nodeLogger(o: LoggerOptions, nodeId: number): Logger {
  if (o.logLevel !== undefined && !isLogLevel(o.logLevel)) {
    throw new InvalidArgumentError(`option logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${String(o.logLevel)}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  if (o.logger !== undefined && (typeof o.logger !== 'object' || typeof o.logger.child !== 'function')) {
    throw new InvalidArgumentError('option logger must be a pino logger', 'KV_ERR_INVALID_ARGUMENT');
  }
  if (o.log !== undefined && typeof o.log !== 'function') throw new InvalidArgumentError('option log must be a function', 'KV_ERR_INVALID_ARGUMENT');
  let root: Logger;
  if (o.logger !== undefined) {
    root = o.logLevel === undefined ? o.logger : o.logger.child({}, { level: o.logLevel });
  } else if (o.log !== undefined) {
    root = createLogger(o.logLevel ?? 'info', callbackDestination(o.log));
  } else {
    root = o.logLevel === undefined ? createLogger('silent') : createLogger(o.logLevel);
  }
  return root.child({ node: nodeId });
}

/** A `log(line)` function for a component that logs plain lines, at `level`. */
export function lineLogger(logger: Logger, level: Level = 'info'): (line: string) => void {
  return (line) => logger[level](line);
}
