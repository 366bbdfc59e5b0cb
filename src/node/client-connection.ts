/**
 * The client side of the node protocol: one connection from a client (KvClient, or a node
 * forwarding a request or joining a node) to one node, after undici's client-h1 request matching:
 * requests carry an id the connection assigns, responses are matched by it, and both the requests
 * in flight (inFlightMax) and those waiting for a slot (waitingMax) are bounded. Frames:
 * src/node/frame.ts, byte layout in docs/format/wire.md.
 *
 * What must hold: every request ends exactly once (answered, timed out, or failed with the
 * connection); a frame that does not decode closes the connection and fails what is pending
 * (KV_ERR_CONNECTION_CLOSED / KV_ERR_BAD_FRAME: the outcome of a request in flight is unknown).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';
import { parseAddress } from './address.js';
import { decodeClientResponse, encodeClientRequest, encodeJoinRequest, type ClientRequest, type ClientResponse, type JoinRequest } from './codec.js';
import { BadFrameError, ConnectionClosedError, RequestTimeoutError } from './errors.js';
import { FRAME_BYTES_MAX_DEFAULT, FrameDecoder, FrameType, NO_CLUSTER, encodeFrame, frameTypeName, framesInChunkMax } from './frame.js';


export interface ClientConnectionOptions {
  /** Default FRAME_BYTES_MAX_DEFAULT. */
  frameBytesMax?: number;
  /** Default 1000. */
  connectTimeoutMs?: number;
  /** Default per request; 5000 if not given. */
  requestTimeoutMs?: number;
  /** Requests awaiting an answer at once; more wait their turn. Default 256. */
  inFlightMax?: number;
  /** Requests waiting for an in-flight slot; more fail at once with KV_ERR_TIMEOUT. Default 4096. */
  waitingMax?: number;
  /** Cluster id in the frames sent; default 0 (a client need not know it). */
  clusterId?: bigint;
  /** Sender id in the frames sent; default 0 (a client). */
  senderId?: number;
  /**
   * Speak TLS (tls-options.ts: resolveClientTls, or NodeTls.dialPeer for a node); host and port
   * come from the address. Connected means handshake done: connectTimeoutMs bounds both.
   */
  tls?: tls.ConnectionOptions;
  log?: (line: string) => void;
}

interface Pending {
  resolve: (r: ClientResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Waiting {
  start: () => void;
  reject: (e: Error) => void;
}

export type ClientRequestInput = Omit<ClientRequest, 'requestId'>;
export type JoinRequestInput = Omit<JoinRequest, 'requestId'>;

/**
 * A connection from a client (KvClient, or a node forwarding a request or joining a node) to one
 * node. Requests are matched to responses by requestId, which the connection assigns.
 */
export class ClientConnection {
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: Waiting[] = [];
  private nextRequestId = 1;
  private closedWhy: Error | undefined;
  /** Whether the server sent anything: a TLS node closes a plain-text connection unanswered. */
  private answered = false;
  private readonly decoder: FrameDecoder;

  private constructor(
    readonly address: string,
    private readonly socket: net.Socket,
    private readonly secure: boolean,
    private readonly opts: Required<Omit<ClientConnectionOptions, 'log' | 'tls'>> & Pick<ClientConnectionOptions, 'log'>,
  ) {
    this.decoder = new FrameDecoder(opts.frameBytesMax);
  }

  static async connect(address: string, options: ClientConnectionOptions = {}): Promise<ClientConnection> {
    const { host, port } = parseAddress(address);
    const opts = {
      frameBytesMax: options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
      connectTimeoutMs: options.connectTimeoutMs ?? 1000,
      requestTimeoutMs: options.requestTimeoutMs ?? 5000,
      inFlightMax: options.inFlightMax ?? 256,
      waitingMax: options.waitingMax ?? 4096,
      clusterId: options.clusterId ?? NO_CLUSTER,
      senderId: options.senderId ?? 0,
      log: options.log,
    };
    return new Promise((resolve, reject) => {
      const secure = options.tls;
      const socket = secure === undefined ? net.connect({ host, port }) : tls.connect({ ...secure, host, port });
      socket.setNoDelay(true);
      const cc = new ClientConnection(address, socket, secure !== undefined, opts);
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        socket.destroy();
        reject(new RequestTimeoutError(`connect to ${address}`, opts.connectTimeoutMs));
      }, opts.connectTimeoutMs);
      socket.on('error', (err) => {
        opts.log?.(`client ${address}: ${err.message}`);
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new ConnectionClosedError(address, err.message, { cause: err }));
        }
        cc.fail(new ConnectionClosedError(address, err.message, { cause: err }));
      });
      socket.on('close', () => cc.fail(new ConnectionClosedError(address, cc.closedBeforeAnswerWhy())));
      socket.on('data', (chunk: Buffer) => cc.onData(chunk));
      socket.on(secure === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(cc);
      });
    });
  }

  get closed(): boolean {
    return this.closedWhy !== undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends a CLIENT_REQUEST and resolves with its CLIENT_RESPONSE. Rejects with a typed error. */
  request(req: ClientRequestInput, timeoutMs?: number): Promise<ClientResponse> {
    return this.exchange(FrameType.CLIENT_REQUEST, (requestId) => encodeClientRequest({ ...req, requestId }), timeoutMs);
  }

  /** Sends a JOIN_REQUEST and resolves with its JOIN_RESPONSE. */
  join(req: JoinRequestInput, timeoutMs?: number): Promise<ClientResponse> {
    return this.exchange(FrameType.JOIN_REQUEST, (requestId) => encodeJoinRequest({ ...req, requestId }), timeoutMs);
  }

  close(): void {
    this.fail(new ConnectionClosedError(this.address, 'closed by the client'));
  }

  private async exchange(type: FrameType, encode: (requestId: number) => Uint8Array, timeoutMs?: number): Promise<ClientResponse> {
    const limitMs = timeoutMs ?? this.opts.requestTimeoutMs;
    const requestId = this.nextRequestId++;
    // Encode now: a bad request fails at the caller's edge, before it waits for a slot.
    const frame = encodeFrame(type, this.opts.clusterId, this.opts.senderId, encode(requestId));
    if (frame.length > this.opts.frameBytesMax) {
      throw new InvalidArgumentError(`request of ${frame.length} bytes exceeds the frame limit ${this.opts.frameBytesMax}`, 'KV_ERR_INVALID_ARGUMENT');
    }
    if (this.closedWhy !== undefined) throw this.closedWhy;
    return new Promise<ClientResponse>((resolve, reject) => {
      const startMs = Date.now();
      const start = (): void => {
        const leftMs = limitMs - (Date.now() - startMs);
        if (leftMs <= 0) {
          reject(new RequestTimeoutError(`request ${requestId} to ${this.address} (waiting for a slot)`, limitMs));
          return;
        }
        const timer = setTimeout(() => {
          this.pending.delete(requestId);
          reject(new RequestTimeoutError(`request ${requestId} to ${this.address}`, limitMs, this.unansweredHint()));
          this.startWaiting();
        }, leftMs);
        this.pending.set(requestId, { resolve, reject, timer });
        this.socket.write(frame);
      };
      if (this.pending.size < this.opts.inFlightMax) {
        start();
      } else if (this.waiting.length < this.opts.waitingMax) {
        this.waiting.push({ start, reject });
      } else {
        reject(new RequestTimeoutError(`request to ${this.address} (${this.waiting.length} requests already waiting)`, 0));
      }
    });
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.pending.size < this.opts.inFlightMax && this.closedWhy === undefined) {
      this.waiting.shift()!.start();
    }
  }

  private onData(chunk: Uint8Array): void {
    if (this.closedWhy !== undefined) return;
    this.answered = true;
    this.decoder.push(chunk);
    const framesMax = framesInChunkMax(chunk.length);
    for (let i = 0; i <= framesMax; i++) {
      assert(i < framesMax, 'more frames in a chunk than it can hold');
      let res: ClientResponse;
      try {
        const f = this.decoder.next();
        if (f === undefined) return;
        if (f.type !== FrameType.CLIENT_RESPONSE && f.type !== FrameType.JOIN_RESPONSE) {
          throw new BadFrameError(`unexpected ${frameTypeName(f.type)} frame on a client connection`);
        }
        res = decodeClientResponse(f.payload);
      } catch (e) {
        if (!(e instanceof BadFrameError)) throw e;
        this.opts.log?.(`client ${this.address}: ${e.message}`);
        this.fail(e);
        return;
      }
      const p = this.pending.get(res.requestId);
      if (p === undefined) continue; // answered after its timeout: the caller has moved on
      this.pending.delete(res.requestId);
      clearTimeout(p.timer);
      p.resolve(res);
      this.startWaiting();
    }
  }

  /**
   * Why the server closed the connection, for the error: a node that speaks TLS closes a plain-text
   * connection as soon as its first frame fails the handshake (docs/format/wire.md, "TLS").
   */
  private closedBeforeAnswerWhy(): string {
    const hint = this.pending.size === 0 ? undefined : this.unansweredHint();
    return hint === undefined ? 'closed by the server' : `closed by the server before any answer (${hint})`;
  }

  /**
   * A hint for an error on a plain-text connection the server never answered: a node with TLS
   * reads a plain-text frame as a failed handshake and closes the connection, which can come after
   * the request's timeout on a busy machine.
   */
  private unansweredHint(): string | undefined {
    if (this.answered || this.secure) return undefined;
    return 'no answer yet on this plain-text connection; a node with TLS closes plain-text connections: does the client need TLS options?';
  }

  /** Closes the socket and fails every pending and waiting request with `why`. */
  private fail(why: Error): void {
    if (this.closedWhy !== undefined) return;
    this.closedWhy = why;
    this.socket.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(why);
    }
    this.pending.clear();
    for (const w of this.waiting.splice(0)) w.reject(why);
  }
}

/** Opens a client connection to a node at "host:port". */
export function connectClient(address: string, options: ClientConnectionOptions = {}): Promise<ClientConnection> {
  return ClientConnection.connect(address, options);
}
