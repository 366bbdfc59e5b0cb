/**
 * The node's HTTP status endpoint (node:http), after etcd's --listen-metrics-urls:
 *   GET /metrics  Prometheus text format (metrics.ts)
 *   GET /health   200 {"health":"true","reason":""} when the node has a leader and its trees report
 *                 no background error; 503 {"health":"false","reason":"..."} otherwise (etcd's
 *                 server/etcdserver/api/etcdhttp/health.go answers the same shape)
 *   GET /ready    200 once the node runs and has a leader after its start (elected or joined);
 *                 503 before, and after it stops
 * Anything else is 404 (405 for another method on a known path).
 *
 * What must hold: nothing a client sends can crash the node or hold memory: request bodies are not
 * read, a malformed request closes its socket (clientError), headers and whole requests have
 * deadlines, and connections are bounded (CONNECTIONS_MAX).
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';
import { formatAddress, parseAddress } from './address.js';
import { AddressInUseError } from './errors.js';
import type { NodeMetrics } from './metrics.js';
import type { Logger } from './node-logger.js';

/** Open connections at most; more are closed at once (a scraper needs one). */
const CONNECTIONS_MAX = 64;
/** Deadline for a request's headers, and for a whole request. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

export interface Verdict {
  ok: boolean;
  /** Why not, when not ok (etcd's style: "RAFT NO LEADER"). */
  reason: string;
}

export interface StatusSource {
  metrics: NodeMetrics;
  health(): Verdict;
  ready(): Verdict;
  log: Logger;
}

export class StatusServer {
  private constructor(
    private readonly server: http.Server,
    readonly address: string,
  ) {}

  /** Listens at "host:port" (port 0 picks a free port); KV_ERR_ADDRESS_IN_USE if it is taken. */
  static listen(address: string, source: StatusSource): Promise<StatusServer> {
    const { host, port } = parseAddress(address);
    const server = http.createServer((req, res) => serve(source, req, res));
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.maxConnections = CONNECTIONS_MAX;
    server.on('clientError', (err: Error, socket: Socket) => {
      source.log.debug({ err: err.message }, 'metrics: malformed request, connection closed');
      socket.destroy();
    });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'EADDRINUSE') reject(new AddressInUseError('metrics', address, { cause: err }));
        else reject(new InvalidArgumentError(`cannot listen for metrics on ${address}: ${err.message}`, 'KV_ERR_INVALID_ARGUMENT'));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        server.on('error', (err) => source.log.warn({ err: err.message }, 'metrics server error'));
        const bound = server.address();
        assert(bound !== null && typeof bound === 'object', 'metrics server has no address after listen');
        resolve(new StatusServer(server, formatAddress(host, bound.port)));
      });
    });
  }

  /** Stops listening and closes every connection. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function serve(source: StatusSource, req: http.IncomingMessage, res: http.ServerResponse): void {
  req.on('error', () => res.destroy());
  // The body (if any) is never read: drop it rather than buffer it.
  req.resume();
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/health' && path !== '/ready') {
    reply(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  if (path === '/metrics') {
    source.metrics.scrape().then(
      (text) => reply(res, 200, source.metrics.contentType, text),
      (err: unknown) => {
        source.log.error({ err: err instanceof Error ? err.message : String(err) }, 'metrics: scrape failed');
        reply(res, 500, 'text/plain; charset=utf-8', 'scrape failed\n');
      },
    );
    return;
  }
  const verdict = path === '/health' ? source.health() : source.ready();
  const body = path === '/health' ? { health: String(verdict.ok), reason: verdict.reason } : { ready: String(verdict.ok), reason: verdict.reason };
  reply(res, verdict.ok ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`);
}

function reply(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
