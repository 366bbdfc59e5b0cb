/**
 * The node's TCP transport (node:net), after etcd-io/raft's rafthttp: one outbound stream per peer
 * with a bounded send queue, messages dropped (and the sender told) when the queue is full or the
 * peer is down, reconnection with capped exponential backoff and jitter. Frames: src/node/frame.ts,
 * byte layout in docs/format/wire.md. The client side is
 * client-connection.ts; addresses are address.ts.
 *
 * What must hold:
 * - Nothing the network sends can crash the process or grow memory without bound. Every socket has
 *   an 'error' handler; a malformed, oversized or foreign frame closes the connection that carried
 *   it (logged, counted in stats().badFrames) and nothing else; decoders buffer at most one frame
 *   of at most frameBytesMax bytes; per-peer queues are bounded in frames and bytes.
 * - Peer frames (HELLO, RAFT, SNAPSHOT_*) are accepted only with this node's current cluster id
 *   (never 0), and RAFT/SNAPSHOT_* only after a HELLO on the same connection, from the node that
 *   HELLO named. Client and join frames may carry cluster id 0 or ours.
 * - A full queue drops the NEW frame (send returns false). Raft tolerates loss; keeping the queued
 *   frames keeps what is already in flight in order, and the caller learns of the drop at once.
 * - Frames queued for a peer whose connection fails are dropped: after a reconnect they would be
 *   stale, and raft resends what matters. While a peer waits to reconnect, send() drops too.
 * - With TLS (tls-options.ts), every connection is TLS and none is read before its handshake
 *   ends. A connection that named PEER_SERVERNAME must be authorized by the peer CA, else it is
 *   closed unread; only such a connection carries peer and join frames; a client's carries
 *   CLIENT_REQUEST only.
 *
 * Why ~630 lines: one peer connection's life (dial, TLS, HELLO, bounded queue, backoff, accept,
 * close) reads top to bottom here; the client connection is client-connection.ts, addresses
 * address.ts, TLS options tls-options.ts.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';
import { formatAddress, parseAddress } from './address.js';
import { decodeHello, encodeHello } from './codec.js';
import { AddressInUseError, BadFrameError } from './errors.js';
import {
  FRAME_BODY_BYTES_MIN,
  FRAME_LENGTH_BYTES,
  FrameDecoder,
  FrameType,
  NO_CLUSTER,
  encodeFrame,
  frameBytesFor,
  frameTypeName,
  framesInChunkMax,
  isPeerFrameType,
  toClusterId,
  type ClusterId,
  type DecodedFrame,
} from './frame.js';
import { PEER_SERVERNAME, type NodeTls } from './tls-options.js';

/** One TCP connection, as the frame handler sees it. */
export interface Connection {
  /** Unique within the transport, for logs. */
  readonly id: number;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  /** The peer's node id: from its HELLO (inbound) or the peer we dialed (outbound). */
  readonly peerId: number | undefined;
  /** The peer's listen address, from its HELLO. */
  readonly peerListenAddress: string | undefined;
  readonly closed: boolean;
  /** Closes this connection (for example after a payload that does not decode). */
  close(reason: string): void;
}

export interface TransportOptions {
  nodeId: number;
  /** The current cluster id (0 = none yet); read per frame, so it may change when the node joins. */
  clusterId: () => bigint | Uint8Array;
  listenHost: string;
  listenPort: number;
  /** Address announced in HELLO; default listenHost:boundPort. */
  advertiseAddress?: string;
  /** Bound on one frame, length prefix included; default FRAME_BYTES_MAX_DEFAULT. */
  frameBytesMax: number;
  peerQueueFramesMax: number;
  peerQueueBytesMax: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  /** Default 1000. A connect that takes longer counts as failed. */
  connectTimeoutMs?: number;
  /** Default 1024. Inbound connections beyond it are closed at once. */
  inboundConnectionsMax?: number;
  /** TLS of the listening port and of peer dials (tls-options.ts); default plain text. */
  tls?: NodeTls;
  /** Uniform in [0, 1), for backoff jitter; default Math.random. */
  random?: () => number;
  /**
   * Every accepted frame, HELLO included. If it throws a BadFrameError (a payload that does not
   * decode), the transport closes that connection and counts a bad frame; any other throw is a bug.
   */
  onFrame: (frame: DecodedFrame, conn: Connection) => void;
  /** A peer's connection failed or was lost (not called per dropped frame). */
  onPeerUnreachable?: (peerId: number) => void;
  log?: (line: string) => void;
  /**
   * Reconnect failures to one peer are logged once, then at most one summary line per this many
   * ms with the count (a down peer would otherwise log every backoff step). Default 30_000.
   */
  peerFailureLogIntervalMs?: number;
}

/** Bytes exchanged with one peer (frames of peer connections only, both directions). */
export interface PeerTraffic {
  sentBytes: number;
  receivedBytes: number;
}

export interface TransportStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  badFrames: number;
  droppedFrames: number;
  reconnects: number;
  inboundConnections: number;
  /** Inbound TLS handshakes that failed or were refused (a peer without a certificate the peer CA signed). */
  tlsRefused: number;
}

export type PeerState = 'idle' | 'connecting' | 'connected' | 'backoff';

export interface PeerStats {
  state: PeerState;
  queuedFrames: number;
  queuedBytes: number;
  consecutiveFailures: number;
}

/**
 * What an inbound connection may carry: 'any' in plain text (the frames decide), 'peer' for a TLS
 * connection authorized by the peer CA, 'client' for another TLS connection (CLIENT_REQUEST only).
 */
type ConnRole = 'any' | 'peer' | 'client';

/** The socket side of a connection: decoder plus the checks that depend on what was said before. */
class Conn implements Connection {
  peerId: number | undefined;
  peerListenAddress: string | undefined;
  closed = false;
  /** Set for inbound connections after a HELLO. */
  helloSeen = false;
  readonly decoder: FrameDecoder;
  constructor(
    readonly id: number,
    readonly direction: 'inbound' | 'outbound',
    readonly socket: net.Socket,
    readonly remoteAddress: string,
    readonly role: ConnRole,
    frameBytesMax: number,
    private readonly onClose: (conn: Conn, reason: string) => void,
  ) {
    this.decoder = new FrameDecoder(frameBytesMax);
  }
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this, reason);
  }
}

interface Peer {
  readonly id: number;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  state: PeerState;
  conn: Conn | undefined;
  queue: Uint8Array[];
  queuedBytes: number;
  waitingDrain: boolean;
  flushScheduled: boolean;
  consecutiveFailures: number;
  connectedAtMs: number;
  timer: NodeJS.Timeout | undefined;
  /** Failures not logged yet, and when the last failure line was logged (see peerFailureLogIntervalMs). */
  failuresUnlogged: number;
  failureLoggedAtMs: number;
}

export class Transport {
  private readonly opts: TransportOptions;
  private readonly random: () => number;
  private readonly connectTimeoutMs: number;
  private readonly inboundConnectionsMax: number;
  private readonly peers = new Map<number, Peer>();
  /**
   * Bytes per peer id, kept when a peer is removed so the counters never go back: one small entry
   * per node id ever configured as a peer (setPeer: members, past and present).
   */
  private readonly traffic = new Map<number, PeerTraffic>();
  private readonly peerFailureLogIntervalMs: number;
  private readonly inbound = new Set<Conn>();
  private server: net.Server | undefined;
  private advertise: string | undefined;
  private nextConnId = 1;
  private closed = false;
  private readonly counters: TransportStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    badFrames: 0,
    droppedFrames: 0,
    reconnects: 0,
    inboundConnections: 0,
    tlsRefused: 0,
  };

  constructor(options: TransportOptions) {
    const o = options;
    const bad = (what: string): never => {
      throw new InvalidArgumentError(`transport option ${what}`, 'KV_ERR_INVALID_ARGUMENT');
    };
    if (!Number.isSafeInteger(o.nodeId) || o.nodeId <= 0) bad(`nodeId must be a positive integer, got ${o.nodeId}`);
    if (!Number.isSafeInteger(o.frameBytesMax) || o.frameBytesMax < FRAME_LENGTH_BYTES + FRAME_BODY_BYTES_MIN) {
      bad(`frameBytesMax too small: ${o.frameBytesMax}`);
    }
    if (!(o.peerQueueFramesMax >= 1) || !(o.peerQueueBytesMax >= 1)) bad('peer queue bounds must be >= 1');
    if (!(o.reconnectDelayMsMin >= 1) || !(o.reconnectDelayMsMax >= o.reconnectDelayMsMin)) {
      bad(`reconnect delays must satisfy 1 <= min <= max, got ${o.reconnectDelayMsMin}..${o.reconnectDelayMsMax}`);
    }
    this.opts = o;
    this.random = o.random ?? Math.random;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 1000;
    this.inboundConnectionsMax = o.inboundConnectionsMax ?? 1024;
    this.peerFailureLogIntervalMs = o.peerFailureLogIntervalMs ?? 30_000;
  }

  /** Starts accepting connections. Port 0 picks a free port; the bound address is returned. */
  listen(): Promise<{ host: string; port: number }> {
    assert(this.server === undefined && !this.closed, 'Transport.listen called twice or after close');
    const secure = this.opts.tls;
    let server: net.Server;
    if (secure === undefined) {
      server = net.createServer((socket) => this.accept(socket, 'any'));
    } else {
      server = tls.createServer(secure.server, (socket) => this.acceptTls(socket));
      // Bounds connections still in their handshake too (accept() counts only finished ones).
      server.maxConnections = this.inboundConnectionsMax;
      server.on('tlsClientError', (err, socket) => {
        this.counters.tlsRefused++;
        this.log(`inbound ${formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0)}: TLS handshake failed: ${err.message}`);
      });
    }
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const address = formatAddress(this.opts.listenHost, this.opts.listenPort);
        if (err.code === 'EADDRINUSE') reject(new AddressInUseError('peers', address, { cause: err }));
        else reject(new InvalidArgumentError(`cannot listen on ${address}: ${err.message}`, 'KV_ERR_INVALID_ARGUMENT'));
      };
      server.once('error', onError);
      server.listen(this.opts.listenPort, this.opts.listenHost, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log(`server error: ${err.message}`));
        const addr = server.address();
        assert(addr !== null && typeof addr === 'object', 'server has no address after listen');
        this.advertise = this.opts.advertiseAddress ?? formatAddress(this.opts.listenHost, addr.port);
        resolve({ host: this.opts.listenHost, port: addr.port });
      });
    });
  }

  /** Sets (or changes) a peer's address. A changed address drops the current connection. */
  setPeer(id: number, address: string): void {
    assert(Number.isSafeInteger(id) && id > 0, () => `bad peer id ${id}`);
    const { host, port } = parseAddress(address);
    const old = this.peers.get(id);
    if (old !== undefined) {
      if (old.address === address) return;
      this.removePeer(id);
    }
    this.peers.set(id, {
      id,
      address,
      host,
      port,
      state: 'idle',
      conn: undefined,
      queue: [],
      queuedBytes: 0,
      waitingDrain: false,
      flushScheduled: false,
      consecutiveFailures: 0,
      connectedAtMs: 0,
      timer: undefined,
      failuresUnlogged: 0,
      failureLoggedAtMs: 0,
    });
  }

  removePeer(id: number): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    if (peer.timer !== undefined) clearTimeout(peer.timer);
    peer.timer = undefined;
    this.dropQueue(peer);
    peer.conn?.close('peer removed');
  }

  /**
   * Queues a frame for a peer and returns true, or drops it and returns false: unknown peer, peer
   * waiting to reconnect, frame over frameBytesMax, or queue full. Connects lazily.
   */
  send(peerId: number, type: FrameType, payload: Uint8Array): boolean {
    assert(type === FrameType.RAFT || type === FrameType.SNAPSHOT_CHUNK || type === FrameType.SNAPSHOT_ACK,
      () => `send() carries peer frames only, not ${frameTypeName(type)}`);
    const peer = this.peers.get(peerId);
    if (this.closed || peer === undefined || peer.state === 'backoff') {
      this.counters.droppedFrames++;
      return false;
    }
    const frameBytes = frameBytesFor(this.opts.nodeId, payload.length);
    if (frameBytes > this.opts.frameBytesMax) {
      this.counters.droppedFrames++;
      this.log(`dropped a ${frameBytes}-byte ${frameTypeName(type)} frame to peer ${peerId}: over frameBytesMax ${this.opts.frameBytesMax}`);
      return false;
    }
    if (peer.queue.length >= this.opts.peerQueueFramesMax || peer.queuedBytes + frameBytes > this.opts.peerQueueBytesMax) {
      this.counters.droppedFrames++;
      return false;
    }
    const frame = encodeFrame(type, this.clusterId(), this.opts.nodeId, payload);
    peer.queue.push(frame);
    peer.queuedBytes += frame.length;
    if (peer.state === 'idle') this.connect(peer);
    else if (peer.state === 'connected') this.scheduleFlush(peer);
    return true;
  }

  /**
   * Answers on the connection a request came in on. Returns false (and closes the connection) when
   * it is closed or its unsent output is over peerQueueBytesMax: a client that does not read.
   */
  reply(conn: Connection, type: FrameType, payload: Uint8Array): boolean {
    assert(conn instanceof Conn, 'reply on a connection of another transport');
    if (conn.closed) {
      this.counters.droppedFrames++;
      return false;
    }
    if (conn.socket.writableLength > this.opts.peerQueueBytesMax) {
      this.counters.droppedFrames++;
      this.log(`conn ${conn.id} (${conn.remoteAddress}): closed, it does not read its replies`);
      conn.close('slow reader');
      return false;
    }
    const frame = encodeFrame(type, this.clusterId(), this.opts.nodeId, payload);
    conn.socket.write(frame);
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    return true;
  }

  stats(): TransportStats {
    return { ...this.counters, inboundConnections: this.inbound.size };
  }

  /** Bytes sent to and received from each peer this transport has exchanged frames with. */
  peerTraffic(): ReadonlyMap<number, PeerTraffic> {
    return this.traffic;
  }

  private trafficOf(peerId: number): PeerTraffic {
    let t = this.traffic.get(peerId);
    if (t === undefined) {
      t = { sentBytes: 0, receivedBytes: 0 };
      this.traffic.set(peerId, t);
    }
    return t;
  }

  peerStats(id: number): PeerStats | undefined {
    const p = this.peers.get(id);
    if (p === undefined) return undefined;
    return { state: p.state, queuedFrames: p.queue.length, queuedBytes: p.queuedBytes, consecutiveFailures: p.consecutiveFailures };
  }

  /** Closes the server and every connection; pending frames are dropped. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    for (const conn of [...this.inbound]) conn.close('transport closed');
    const server = this.server;
    if (server !== undefined && server.listening) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  // -------------------------------------------------------------------------------------------

  private clusterId(): ClusterId {
    return toClusterId(this.opts.clusterId());
  }

  private log(line: string): void {
    this.opts.log?.(`transport ${this.opts.nodeId}: ${line}`);
  }

  /**
   * A finished TLS handshake. The server asked for a certificate; with clientCertAuth, node:tls
   * already refused any connection without one its context's CA signed. Without it, a connection
   * that named PEER_SERVERNAME (checked against the peer CA) must still be authorized.
   */
  private acceptTls(socket: tls.TLSSocket): void {
    if (socket.servername !== PEER_SERVERNAME) {
      this.accept(socket, 'client');
      return;
    }
    if (!socket.authorized) {
      this.counters.tlsRefused++;
      const remote = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
      this.log(`inbound ${remote}: refused a peer connection: ${String(socket.authorizationError ?? 'no certificate')}`);
      socket.destroy();
      return;
    }
    this.accept(socket, 'peer');
  }

  private accept(socket: net.Socket, role: ConnRole): void {
    const remote = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    socket.on('error', (err) => this.log(`inbound ${remote}: ${err.message}`));
    if (this.closed || this.inbound.size >= this.inboundConnectionsMax) {
      this.log(`inbound ${remote}: refused (${this.closed ? 'closed' : `${this.inbound.size} connections open`})`);
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new Conn(this.nextConnId++, 'inbound', socket, remote, role, this.opts.frameBytesMax, (c) => {
      this.inbound.delete(c);
    });
    this.inbound.add(conn);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('close', () => conn.close('socket closed'));
  }

  /** Feeds a chunk to the connection's decoder and hands every accepted frame to onFrame. */
  private onData(conn: Conn, chunk: Uint8Array): void {
    if (conn.closed) return;
    this.counters.bytesIn += chunk.length;
    // Inbound connections name their peer in their HELLO (the HELLO chunk itself is not counted);
    // only configured peers are counted, so a stranger's HELLOs cannot grow the map.
    if (conn.peerId !== undefined && this.peers.has(conn.peerId)) this.trafficOf(conn.peerId).receivedBytes += chunk.length;
    conn.decoder.push(chunk);
    const framesMax = framesInChunkMax(chunk.length);
    for (let i = 0; i <= framesMax; i++) {
      assert(i < framesMax, 'more frames in a chunk than it can hold');
      let frame: DecodedFrame | undefined;
      let why: string | undefined;
      try {
        frame = conn.decoder.next();
        if (frame === undefined) return;
        why = this.check(conn, frame);
      } catch (e) {
        if (!(e instanceof BadFrameError)) throw e;
        this.reject(conn, e.message);
        return;
      }
      if (why !== undefined) {
        this.reject(conn, `${frameTypeName(frame.type)} frame from sender ${frame.senderId}: ${why}`);
        return;
      }
      this.counters.framesIn++;
      try {
        this.opts.onFrame(frame, conn);
      } catch (e) {
        if (!(e instanceof BadFrameError)) throw e;
        this.reject(conn, `${frameTypeName(frame.type)} payload: ${e.message}`);
        return;
      }
      if (conn.closed) return;
    }
  }

  /** Why this connection may not carry this frame, or undefined if it may. Records a HELLO. */
  private check(conn: Conn, f: DecodedFrame): string | undefined {
    const ours = this.clusterId();
    if (conn.role === 'client' && f.type !== FrameType.CLIENT_REQUEST) return 'a client connection (no peer certificate) carries client requests only';
    if (isPeerFrameType(f.type)) {
      if (ours === NO_CLUSTER) return 'this node is in no cluster yet';
      if (f.clusterId !== ours) return `foreign cluster id ${f.clusterId} (ours is ${ours})`;
      if (f.senderId === 0) return 'sender id 0';
      if (f.type === FrameType.HELLO) {
        if (conn.direction !== 'inbound' || conn.helloSeen) return 'unexpected HELLO';
        const hello = decodeHello(f.payload);
        conn.helloSeen = true;
        conn.peerId = f.senderId;
        conn.peerListenAddress = hello.listenAddress;
        return undefined;
      }
      if (conn.peerId === undefined) return 'peer frame before HELLO';
      if (f.senderId !== conn.peerId) return `sender differs from the connection's peer ${conn.peerId}`;
      return undefined;
    }
    if (f.clusterId !== NO_CLUSTER && f.clusterId !== ours) return `foreign cluster id ${f.clusterId} (ours is ${ours})`;
    return undefined;
  }

  private reject(conn: Conn, why: string): void {
    this.counters.badFrames++;
    this.log(`${conn.direction} conn ${conn.id} (${conn.remoteAddress}): closed on a bad frame: ${why}`);
    conn.close('bad frame');
  }

  private connect(peer: Peer): void {
    assert(peer.state === 'idle' || peer.state === 'backoff', () => `connect in state ${peer.state}`);
    peer.state = 'connecting';
    peer.timer = undefined;
    const secure = this.opts.tls;
    const socket = secure === undefined
      ? net.connect({ host: peer.host, port: peer.port })
      : tls.connect({ ...secure.dialPeer(peer.host), host: peer.host, port: peer.port });
    socket.setNoDelay(true);
    const conn = new Conn(this.nextConnId++, 'outbound', socket, peer.address, 'peer', this.opts.frameBytesMax, (c, reason) =>
      this.onPeerConnClosed(peer, c, reason),
    );
    conn.peerId = peer.id;
    peer.conn = conn;
    const connectTimer = setTimeout(() => conn.close(`connect timed out after ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);
    socket.on('error', (err) => conn.close(err.message));
    socket.on('close', () => {
      clearTimeout(connectTimer);
      conn.close('socket closed');
    });
    // With TLS, connected means the handshake is done (connectTimeoutMs bounds both).
    socket.on(secure === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(connectTimer);
      if (conn.closed) return;
      peer.state = 'connected';
      peer.connectedAtMs = Date.now();
      assert(this.advertise !== undefined, 'Transport: listen() before sending to peers');
      const hello = encodeFrame(FrameType.HELLO, this.clusterId(), this.opts.nodeId, encodeHello({ listenAddress: this.advertise }));
      socket.write(hello);
      this.counters.framesOut++;
      this.counters.bytesOut += hello.length;
      this.trafficOf(peer.id).sentBytes += hello.length;
      this.flush(peer);
    });
    socket.on('drain', () => {
      peer.waitingDrain = false;
      this.flush(peer);
    });
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
  }

  private onPeerConnClosed(peer: Peer, conn: Conn, reason: string): void {
    if (peer.conn !== conn) return; // a connection the peer already replaced
    peer.conn = undefined;
    peer.waitingDrain = false;
    this.dropQueue(peer);
    if (this.closed || this.peers.get(peer.id) !== peer) {
      peer.state = 'idle';
      return;
    }
    // A connection that stayed up a while was a success: start the backoff over. One that failed
    // to connect, or was closed at once (say, the peer refuses our cluster), backs off further.
    const upMs = peer.state === 'connected' ? Date.now() - peer.connectedAtMs : 0;
    peer.consecutiveFailures = upMs >= this.opts.reconnectDelayMsMax ? 1 : peer.consecutiveFailures + 1;
    const delayMs = this.backoffDelayMs(peer.consecutiveFailures);
    this.logPeerFailure(peer, reason, delayMs);
    peer.state = 'backoff';
    peer.timer = setTimeout(() => {
      this.counters.reconnects++;
      this.connect(peer);
    }, delayMs);
    this.opts.onPeerUnreachable?.(peer.id);
  }

  /**
   * The first failure after a success is logged at once; while the peer stays down, one summary
   * line per peerFailureLogIntervalMs counts the failures in between.
   */
  private logPeerFailure(peer: Peer, reason: string, delayMs: number): void {
    const nowMs = Date.now();
    if (peer.consecutiveFailures === 1 || nowMs - peer.failureLoggedAtMs >= this.peerFailureLogIntervalMs) {
      const more = peer.failuresUnlogged === 0 ? '' : ` (${peer.failuresUnlogged} more failures since the last line)`;
      this.log(`peer ${peer.id} (${peer.address}): connection lost (${reason}); retry in ${delayMs} ms${more}`);
      peer.failuresUnlogged = 0;
      peer.failureLoggedAtMs = nowMs;
    } else {
      peer.failuresUnlogged++;
    }
  }

  /** Capped exponential backoff with "equal jitter": half fixed, half random, never below min. */
  private backoffDelayMs(failures: number): number {
    const { reconnectDelayMsMin: minMs, reconnectDelayMsMax: maxMs } = this.opts;
    const baseMs = Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30));
    return Math.max(minMs, Math.round(baseMs / 2 + (this.random() * baseMs) / 2));
  }

  private dropQueue(peer: Peer): void {
    this.counters.droppedFrames += peer.queue.length;
    peer.queue = [];
    peer.queuedBytes = 0;
  }

  /** Frames sent in one turn of the event loop go out in one corked write. */
  private scheduleFlush(peer: Peer): void {
    if (peer.flushScheduled || peer.waitingDrain) return;
    peer.flushScheduled = true;
    process.nextTick(() => {
      peer.flushScheduled = false;
      this.flush(peer);
    });
  }

  private flush(peer: Peer): void {
    const conn = peer.conn;
    if (peer.state !== 'connected' || conn === undefined || conn.closed || peer.waitingDrain) return;
    const socket = conn.socket;
    const traffic = this.trafficOf(peer.id);
    socket.cork();
    const n = peer.queue.length;
    let written = 0;
    while (written < n) {
      const frame = peer.queue[written++]!;
      peer.queuedBytes -= frame.length;
      this.counters.framesOut++;
      this.counters.bytesOut += frame.length;
      traffic.sentBytes += frame.length;
      if (!socket.write(frame)) {
        peer.waitingDrain = true;
        break;
      }
    }
    peer.queue.splice(0, written);
    socket.uncork();
  }
}
