/**
 * The TCP transport over real sockets on 127.0.0.1 (port 0 = a free port): peer round trips,
 * refusal of garbage, oversized and foreign frames (closing only the offending connection),
 * reconnection after a peer restarts, bounded peer queues, and the client connection. Every wait
 * is bounded in time; everything opened is closed in afterEach.
 */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeClientRequest,
  decodeMessage,
  encodeClientRequest,
  encodeClientResponse,
  encodeHello,
  encodeMessage,
} from '../../src/node/codec.js';
import { BadFrameError } from '../../src/node/errors.js';
import { FrameType, encodeFrame, type DecodedFrame } from '../../src/node/frame.js';
import { connectClient, type ClientConnection } from '../../src/node/client-connection.js';
import { Transport, type Connection, type TransportOptions } from '../../src/node/transport.js';
import { makeMessage, type Message } from '../../src/raft/types.js';
import { concatBytes, putFixed32, utf8 } from '../../src/util/bytes.js';

const CLUSTER = 0xc105_7e12n;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Node {
  t: Transport;
  address: string;
  port: number;
  frames: { frame: DecodedFrame; conn: Connection }[];
  unreachable: number[];
  logs: string[];
}

async function startNode(nodeId: number, overrides: Partial<TransportOptions> = {}): Promise<Node> {
  const node: Node = { t: undefined as unknown as Transport, address: '', port: 0, frames: [], unreachable: [], logs: [] };
  node.t = new Transport({
    nodeId,
    clusterId: () => CLUSTER,
    listenHost: '127.0.0.1',
    listenPort: 0,
    frameBytesMax: 1024 * 1024,
    peerQueueFramesMax: 1000,
    peerQueueBytesMax: 8 * 1024 * 1024,
    reconnectDelayMsMin: 10,
    reconnectDelayMsMax: 100,
    random: () => 0.5,
    onFrame: (frame, conn) => node.frames.push({ frame, conn }),
    onPeerUnreachable: (id) => node.unreachable.push(id),
    log: (line) => node.logs.push(line),
    ...overrides,
  });
  const { port } = await node.t.listen();
  node.port = port;
  node.address = `127.0.0.1:${port}`;
  cleanups.push(() => node.t.close());
  return node;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function raftFrames(node: Node): Message[] {
  return node.frames.filter((f) => f.frame.type === FrameType.RAFT).map((f) => decodeMessage(f.frame.payload));
}

/** A raw socket to a node, recording whether the node closed it. */
async function rawSocket(port: number): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let closed = false;
  socket.on('error', () => {
    closed = true;
  });
  socket.on('close', () => {
    closed = true;
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  cleanups.push(() => {
    socket.destroy();
  });
  return { socket, closed: () => closed };
}

function app(from: number, to: number, index: number): Message {
  return makeMessage({ type: 'app', from, to, term: 1, index, entries: [{ term: 1, index: index + 1, type: 'normal', data: utf8(`v${index}`) }] });
}

describe('Transport between peers', () => {
  it('carries raft messages both ways, in order, after a HELLO', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.t.setPeer(2, b.address);
    b.t.setPeer(1, a.address);
    for (let i = 0; i < 200; i++) expect(a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, i)))).toBe(true);
    await waitFor('200 messages at b', () => raftFrames(b).length === 200);
    expect(raftFrames(b).map((m) => m.index)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(raftFrames(b)[7]).toEqual(app(1, 2, 7));
    const hello = b.frames[0]!;
    expect(hello.frame.type).toBe(FrameType.HELLO);
    expect(hello.conn.peerId).toBe(1);
    expect(hello.conn.peerListenAddress).toBe(a.address);
    expect(b.frames.every((f) => f.frame.senderId === 1 && f.frame.clusterId === CLUSTER)).toBe(true);

    b.t.send(1, FrameType.RAFT, encodeMessage(makeMessage({ type: 'appResp', from: 2, to: 1, term: 1, index: 200 })));
    await waitFor('the answer at a', () => raftFrames(a).length === 1);
    expect(raftFrames(a)[0]!.type).toBe('appResp');
    expect(a.t.stats()).toMatchObject({ framesOut: 201, badFrames: 0, droppedFrames: 0 }); // HELLO + 200
    expect(b.t.stats()).toMatchObject({ framesIn: 201, badFrames: 0 });
    expect(b.t.stats().bytesIn).toBe(a.t.stats().bytesOut);
  });

  it('garbage and an oversized length close only their own connection', async () => {
    const a = await startNode(1);
    const b = await startNode(2, { frameBytesMax: 4096 });
    a.t.setPeer(2, b.address);
    a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, 0)));
    await waitFor('first message', () => raftFrames(b).length === 1);

    const garbage = await rawSocket(b.port);
    garbage.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const oversized = await rawSocket(b.port);
    const len = new Uint8Array(4);
    putFixed32(len, 0, 5000);
    oversized.socket.write(len); // only the length: refused before any body arrives
    const badMagic = await rawSocket(b.port);
    const frame = encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, encodeClientRequest({ requestId: 1, op: 'status' }));
    frame[4] = 0x42;
    badMagic.socket.write(frame);
    await waitFor('the three bad connections closed', () => garbage.closed() && oversized.closed() && badMagic.closed());
    expect(b.t.stats().badFrames).toBe(3);
    expect(b.logs.filter((l) => l.includes('bad frame')).length).toBe(3);

    // The peer connection is untouched: same connection, more messages.
    const connBefore = b.frames[0]!.conn;
    for (let i = 1; i <= 10; i++) a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, i)));
    await waitFor('ten more messages', () => raftFrames(b).length === 11);
    expect(connBefore.closed).toBe(false);
    expect(b.frames.at(-1)!.conn).toBe(connBefore);
    expect(a.t.stats().reconnects).toBe(0);
    await waitFor('inbound set pruned', () => b.t.stats().inboundConnections === 1);
  });

  it('rejects frames with a foreign cluster id, and peer frames before HELLO', async () => {
    const b = await startNode(2);
    const foreign = await startNode(3, { clusterId: () => 999n });
    foreign.t.setPeer(2, b.address);
    foreign.t.send(2, FrameType.RAFT, encodeMessage(app(3, 2, 0)));
    await waitFor('foreign peer told unreachable', () => foreign.unreachable.length >= 1);
    expect(b.frames.length).toBe(0);
    expect(b.t.stats().badFrames).toBeGreaterThanOrEqual(1);
    expect(b.logs.some((l) => l.includes('foreign cluster id 999'))).toBe(true);

    // A RAFT frame with our cluster id but no HELLO first.
    const sneaky = await rawSocket(b.port);
    sneaky.socket.write(encodeFrame(FrameType.RAFT, CLUSTER, 3, encodeMessage(app(3, 2, 0))));
    // A client frame of a foreign cluster.
    const foreignClient = await rawSocket(b.port);
    foreignClient.socket.write(encodeFrame(FrameType.CLIENT_REQUEST, 999n, 0, encodeClientRequest({ requestId: 1, op: 'status' })));
    // A client frame with cluster 0 is fine.
    const client = await rawSocket(b.port);
    client.socket.write(encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, encodeClientRequest({ requestId: 1, op: 'status' })));
    await waitFor('bad ones closed', () => sneaky.closed() && foreignClient.closed());
    await waitFor('good client frame delivered', () => b.frames.length === 1);
    expect(b.frames[0]!.frame.type).toBe(FrameType.CLIENT_REQUEST);
    expect(client.closed()).toBe(false);
  });

  it('holds an inbound peer connection to its HELLO: one HELLO, then only that sender', async () => {
    const b = await startNode(2);
    const hello = (sender: number): Uint8Array => encodeFrame(FrameType.HELLO, CLUSTER, sender, encodeHello({ listenAddress: 'h:1' }));
    const raft = (sender: number): Uint8Array => encodeFrame(FrameType.RAFT, CLUSTER, sender, encodeMessage(app(sender, 2, 0)));
    const twice = await rawSocket(b.port);
    twice.socket.write(concatBytes([hello(3), raft(3), hello(3)]));
    const impostor = await rawSocket(b.port);
    impostor.socket.write(concatBytes([hello(4), raft(5)]));
    const zero = await rawSocket(b.port);
    zero.socket.write(hello(0));
    await waitFor('all three closed', () => twice.closed() && impostor.closed() && zero.closed());
    expect(b.frames.map((f) => [f.frame.type, f.frame.senderId])).toEqual([
      [FrameType.HELLO, 3],
      [FrameType.RAFT, 3],
      [FrameType.HELLO, 4],
    ]);
    expect(b.t.stats().badFrames).toBe(3);
  });

  it('backs off while a peer refuses connections, telling the caller each time', async () => {
    const gone = await startNode(9);
    const port = gone.port;
    await gone.t.close();
    const a = await startNode(1, { reconnectDelayMsMin: 5, reconnectDelayMsMax: 40 });
    a.t.setPeer(9, `127.0.0.1:${port}`);
    expect(a.t.send(9, FrameType.RAFT, encodeMessage(app(1, 9, 0)))).toBe(true);
    await waitFor('four failures', () => a.t.peerStats(9)!.consecutiveFailures >= 4);
    expect(a.unreachable.length).toBeGreaterThanOrEqual(4);
    expect(a.unreachable.every((id) => id === 9)).toBe(true);
    expect(a.t.stats().reconnects).toBeGreaterThanOrEqual(3);
    // The frame queued before the first failure was dropped, not kept for later.
    expect(a.t.stats().droppedFrames).toBeGreaterThanOrEqual(1);
    expect(a.t.peerStats(9)!.queuedFrames).toBe(0);
  });

  it('closes a connection whose payload the handler refuses with BadFrameError', async () => {
    const b = await startNode(2, {
      onFrame: (frame) => {
        decodeClientRequest(frame.payload);
      },
    });
    const raw = await rawSocket(b.port);
    raw.socket.write(encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, Uint8Array.of(1, 99, 0)));
    await waitFor('closed', () => raw.closed());
    expect(b.t.stats().badFrames).toBe(1);
    expect(b.logs.some((l) => l.includes('unknown op code 99'))).toBe(true);
  });

  it('reconnects after the peer restarts on the same port', async () => {
    const a = await startNode(1, { reconnectDelayMsMin: 10, reconnectDelayMsMax: 50 });
    const b = await startNode(2);
    a.t.setPeer(2, b.address);
    a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, 0)));
    await waitFor('first message', () => raftFrames(b).length === 1);
    await b.t.close();
    await waitFor('a notices the loss', () => a.unreachable.includes(2));

    const b2 = await startNode(2, { listenPort: b.port });
    // Raft keeps sending; some sends are dropped while a backs off.
    let sent = 0;
    for (let i = 0; i < 1000 && raftFrames(b2).length === 0; i++) {
      if (a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, 100 + i)))) sent++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(raftFrames(b2).length).toBeGreaterThan(0);
    expect(sent).toBeGreaterThan(0);
    expect(a.t.stats().reconnects).toBeGreaterThanOrEqual(1);
    expect(a.t.peerStats(2)!.state).toBe('connected');
  });

  it('drops new frames when the peer queue is full, in frames and in bytes', async () => {
    // Sends of one synchronous run happen while the connection is still opening: the queue holds them.
    const b = await startNode(2);
    const a = await startNode(1, { peerQueueFramesMax: 10, peerQueueBytesMax: 1 << 20 });
    a.t.setPeer(2, b.address);
    const accepted = Array.from({ length: 100 }, (_, i) => a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, i))));
    expect(accepted.filter(Boolean).length).toBe(10);
    expect(accepted.slice(0, 10).every(Boolean)).toBe(true);
    expect(a.t.stats().droppedFrames).toBe(90);
    await waitFor('the 10 queued arrive', () => raftFrames(b).length === 10);
    expect(raftFrames(b).map((m) => m.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const c = await startNode(3, { peerQueueFramesMax: 1000, peerQueueBytesMax: 3000 });
    c.t.setPeer(2, b.address);
    const big = new Uint8Array(1000);
    expect(c.t.send(2, FrameType.SNAPSHOT_CHUNK, big)).toBe(true);
    expect(c.t.send(2, FrameType.SNAPSHOT_CHUNK, big)).toBe(true);
    expect(c.t.send(2, FrameType.SNAPSHOT_CHUNK, big)).toBe(false);
    expect(c.t.peerStats(2)!.queuedBytes).toBeLessThanOrEqual(3000);
  });

  it('stops writing to a peer that does not read, and bounds what it holds', async () => {
    const sockets: net.Socket[] = [];
    const stuck = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pause();
      sockets.push(s);
    });
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', () => r()));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          stuck.close(() => r());
        }),
    );
    const port = (stuck.address() as net.AddressInfo).port;
    const queueBytesMax = 1 << 20;
    const a = await startNode(1, { peerQueueFramesMax: 64, peerQueueBytesMax: queueBytesMax });
    a.t.setPeer(2, `127.0.0.1:${port}`);
    const chunk = new Uint8Array(64 * 1024);
    a.t.send(2, FrameType.SNAPSHOT_CHUNK, chunk);
    await waitFor('connected', () => a.t.peerStats(2)?.state === 'connected');
    // Kernel buffers absorb some megabytes; then the socket says no and the queue fills.
    let firstDrop = -1;
    for (let i = 0; i < 2000 && firstDrop < 0; i++) {
      if (!a.t.send(2, FrameType.SNAPSHOT_CHUNK, chunk)) firstDrop = i;
      const s = a.t.peerStats(2)!;
      expect(s.queuedBytes).toBeLessThanOrEqual(queueBytesMax);
      expect(s.queuedFrames).toBeLessThanOrEqual(64);
      if (i % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(firstDrop).toBeGreaterThan(0);
    expect(a.t.stats().droppedFrames).toBe(1);
    expect(a.t.peerStats(2)!.state).toBe('connected');
  });

  it('closes a client connection that does not read its replies', async () => {
    let clientConn: Connection | undefined;
    const b = await startNode(2, {
      peerQueueBytesMax: 256 * 1024,
      onFrame: (frame, conn) => {
        if (frame.type === FrameType.CLIENT_REQUEST) clientConn = conn;
      },
    });
    const raw = await rawSocket(b.port);
    raw.socket.pause();
    raw.socket.write(encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, encodeClientRequest({ requestId: 1, op: 'status' })));
    await waitFor('the request', () => clientConn !== undefined);
    const big = encodeClientResponse({ requestId: 1, ok: true, value: new Uint8Array(64 * 1024) });
    let refusedAt = -1;
    for (let i = 0; i < 2000 && refusedAt < 0; i++) {
      if (!b.t.reply(clientConn!, FrameType.CLIENT_RESPONSE, big)) refusedAt = i;
      if (i % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(refusedAt).toBeGreaterThan(0);
    expect(clientConn!.closed).toBe(true);
    raw.socket.resume(); // reads what was buffered, then sees the end
    await waitFor('the client sees the close', () => raw.closed());
    expect(b.t.reply(clientConn!, FrameType.CLIENT_RESPONSE, big)).toBe(false);
  });

  it('refuses to send to an unknown peer and after close', async () => {
    const a = await startNode(1);
    expect(a.t.send(9, FrameType.RAFT, encodeMessage(app(1, 9, 0)))).toBe(false);
    a.t.setPeer(2, '127.0.0.1:1');
    await a.t.close();
    expect(a.t.send(2, FrameType.RAFT, encodeMessage(app(1, 2, 0)))).toBe(false);
    expect(a.t.stats().droppedFrames).toBe(2);
  });
});

describe('client connections', () => {
  /** A node answering get requests with the key as value, after 0, 1 or 2 times `delayMs`; status never. */
  async function server(delayMs: number): Promise<Node & { maxOutstanding: () => number }> {
    let outstanding = 0;
    let maxOutstanding = 0;
    const node = await startNode(2, {
      onFrame: (frame, conn) => {
        if (frame.type !== FrameType.CLIENT_REQUEST) return;
        const req = decodeClientRequest(frame.payload);
        if (req.op === 'status') return;
        outstanding++;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        setTimeout(() => {
          outstanding--;
          node.t.reply(conn, FrameType.CLIENT_RESPONSE, encodeClientResponse({ requestId: req.requestId, ok: true, value: req.key! }));
        }, delayMs * (req.key!.at(-1)! % 3));
      },
    });
    return Object.assign(node, { maxOutstanding: () => maxOutstanding });
  }

  async function client(address: string, opts: Parameters<typeof connectClient>[1] = {}): Promise<ClientConnection> {
    const c = await connectClient(address, opts);
    cleanups.push(() => c.close());
    return c;
  }

  it('matches responses to requests by id, whatever their order', async () => {
    const s = await server(10);
    const c = await client(s.address);
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const res = await Promise.all(keys.map((k) => c.request({ op: 'get', key: utf8(k) })));
    expect(res.map((r) => Buffer.from(r.value!).toString())).toEqual(keys);
    expect(res.every((r) => r.ok)).toBe(true);
  });

  it('bounds the requests in flight', async () => {
    const s = await server(5);
    const c = await client(s.address, { inFlightMax: 2 });
    const res = await Promise.all(Array.from({ length: 10 }, (_, i) => c.request({ op: 'get', key: Uint8Array.of(i) })));
    expect(res.length).toBe(10);
    expect(s.maxOutstanding()).toBe(2);
    expect(c.inFlight).toBe(0);
  });

  it('times out, fails pending requests when the server closes, and fails to connect to nothing', async () => {
    const s = await server(0);
    const c = await client(s.address);
    // Nothing answered yet on this plain-text connection: the timeout says what a TLS node does.
    await expect(c.request({ op: 'status' }, 50)).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT', message: expect.stringMatching(/TLS/) });
    await c.request({ op: 'get', key: utf8('k0') });
    await expect(c.request({ op: 'status' }, 50)).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT', message: expect.not.stringMatching(/TLS/) });
    const pending = c.request({ op: 'status' }, 5000);
    await s.t.close();
    await expect(pending).rejects.toMatchObject({ code: 'KV_ERR_CONNECTION_CLOSED' });
    expect(c.closed).toBe(true);
    await expect(c.request({ op: 'status' })).rejects.toMatchObject({ code: 'KV_ERR_CONNECTION_CLOSED' });
    await expect(connectClient(s.address)).rejects.toMatchObject({ code: 'KV_ERR_CONNECTION_CLOSED' });
    await expect(connectClient('no-port')).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
  });

  it('rejects a bad request at the edge and closes on a garbage response', async () => {
    const raw = net.createServer((s) => {
      s.on('error', () => undefined);
      s.on('data', () => s.write(encodeFrame(FrameType.CLIENT_RESPONSE, 0n, 2, Uint8Array.of(1, 0xff))));
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => raw.close(() => r())));
    const c = await client(`127.0.0.1:${(raw.address() as net.AddressInfo).port}`);
    await expect(c.request({ op: 'get' })).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
    await expect(c.request({ op: 'get', key: utf8('k') })).rejects.toBeInstanceOf(BadFrameError);
    expect(c.closed).toBe(true);
  });
});
