/**
 * A fault-injecting TCP proxy for the peer links of a real cluster (after Jepsen's and
 * Toxiproxy's network nemeses, written here for node:net). One PeerProxy listens in front of each
 * node; every node announces its proxy's address (kv-server `--listen`), so every peer connection
 * to node D goes through D's proxy.
 *
 * Who connects: a peer connection opens with a HELLO frame whose header names the sender
 * (docs/format/wire.md, "Frame": sender varint at offset 15; type 8 at offset 6). The proxy reads
 * just that first frame to learn the source node, then forwards bytes unchanged. A connection whose
 * first frame is not a HELLO is a client connection (a KvClient following a leader hint, or a node
 * acting as a client: JOIN, forwarded admin requests); its source is unknown (0).
 *
 * Faults live in one LinkFaults shared by all proxies:
 * - a cut link (src -> dst, directed; partitions cut both directions) either closes the connection
 *   (the sender sees a reset and reconnects) or black-holes it (bytes are read and discarded; on
 *   heal the connection is closed, because a stream with a hole in it would be a bad frame);
 * - a delay adds a fixed latency to every chunk of every connection, order kept.
 * A client connection (source 0) is cut only when its destination is isolated from every node.
 *
 * While a node is out of the cluster (removed and wiped, waiting to be added back) it is a
 * one-member cluster of its own that would serve any client: its proxy then refuses connections
 * that open with a client request (a KvClient following an old leader hint), and lets the
 * leader's JOIN through.
 */
import * as net from 'node:net';

/** Bytes buffered before the first frame is complete, at most (a HELLO is tiny). */
const HELLO_BYTES_MAX = 4096;
/** Bytes waiting in one direction's delay queue before the source is paused. */
const DELAY_QUEUE_BYTES_MAX = 4 * 1024 * 1024;
const FRAME_TYPE_HELLO = 8;
const FRAME_TYPE_CLIENT_REQUEST = 2;
const SENDER_OFFSET = 15;

export type CutMode = 'close' | 'blackhole';

/** The current faults of all links; proxies consult it per connection and on every change. */
export class LinkFaults {
  /** Directed cuts: "src>dst" -> mode. */
  private readonly cuts = new Map<string, CutMode>();
  delayMs = 0;
  private readonly listeners = new Set<() => void>();

  cut(src: number, dst: number, mode: CutMode): void {
    this.cuts.set(`${src}>${dst}`, mode);
    this.changed();
  }

  /** Cuts both directions between every node of `a` and every node of `b`. */
  split(a: readonly number[], b: readonly number[], mode: CutMode): void {
    for (const x of a) for (const y of b) {
      this.cuts.set(`${x}>${y}`, mode);
      this.cuts.set(`${y}>${x}`, mode);
    }
    this.changed();
  }

  setDelay(ms: number): void {
    this.delayMs = ms;
    this.changed();
  }

  healAll(): void {
    this.cuts.clear();
    this.delayMs = 0;
    this.changed();
  }

  /** How a connection from src (0: unknown) to dst is cut now, or undefined if it passes. */
  cutOf(src: number, dst: number, allNodes: readonly number[]): CutMode | undefined {
    if (src !== 0) return this.cuts.get(`${src}>${dst}`);
    const others = allNodes.filter((n) => n !== dst);
    if (others.length === 0) return undefined;
    const modes = others.map((n) => this.cuts.get(`${n}>${dst}`));
    return modes.every((m) => m !== undefined) ? modes[0] : undefined;
  }

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private changed(): void {
    for (const f of this.listeners) f();
  }
}

/** Reads the sender of a HELLO frame, 0 for any other frame; undefined until the header is in. */
export function helloSender(buf: Buffer): number | undefined {
  if (buf.length < SENDER_OFFSET + 1) return undefined;
  if (buf[6] !== FRAME_TYPE_HELLO) return 0;
  let v = 0;
  let mul = 1;
  for (let i = SENDER_OFFSET; i < Math.min(buf.length, SENDER_OFFSET + 8); i++) {
    const b = buf[i]!;
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return v;
    mul *= 128;
  }
  return buf.length >= SENDER_OFFSET + 8 ? 0 : undefined;
}

/** One direction of a proxied connection, with an optional fixed delay (order kept). */
class Pipe {
  private queue: Array<{ at: number; chunk: Buffer }> = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  discard = false;

  constructor(private readonly from: net.Socket, private readonly to: net.Socket, private readonly delayMs: () => number) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
  }

  push(chunk: Buffer): void {
    if (this.discard) return;
    const d = this.delayMs();
    if (d <= 0 && this.queue.length === 0) {
      this.to.write(chunk);
      return;
    }
    this.queue.push({ at: Date.now() + d, chunk });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > DELAY_QUEUE_BYTES_MAX) this.from.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length > 0 && this.queue[0]!.at <= now) {
        const { chunk } = this.queue.shift()!;
        this.queuedBytes -= chunk.length;
        if (!this.discard && !this.to.destroyed) this.to.write(chunk);
      }
      if (this.queuedBytes <= DELAY_QUEUE_BYTES_MAX / 2 && this.from.isPaused()) this.from.resume();
      this.schedule();
    }, Math.max(0, this.queue[0]!.at - Date.now()));
  }

  /** Drops what waits; the source reads on (a black hole discards, it does not push back). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    if (this.from.isPaused()) this.from.resume();
  }
}

interface Proxied {
  src: number;
  client: net.Socket;
  server: net.Socket;
  pipes: Pipe[];
  blackholed: boolean;
}

export interface ProxyStats {
  accepted: number;
  closedByFault: number;
  blackholed: number;
}

/** The proxy in front of node `dst`'s peer port. */
export class PeerProxy {
  private server: net.Server | undefined;
  private readonly conns = new Set<Proxied>();
  private readonly pending = new Set<net.Socket>();
  private unsubscribe: (() => void) | undefined;
  address = '';
  /** Refuse connections whose first frame is a client request (see the header). */
  refuseClients = false;
  readonly stats: ProxyStats = { accepted: 0, closedByFault: 0, blackholed: 0 };

  constructor(readonly dst: number, private target: string, private readonly faults: LinkFaults, private readonly allNodes: () => readonly number[]) {}

  async listen(): Promise<string> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    this.unsubscribe = this.faults.onChange(() => this.reapply());
    return this.address;
  }

  /** Where new connections go (the node restarted on another port); existing ones are kept. */
  setTarget(target: string): void {
    this.target = target;
  }

  /** Closes every proxied connection now (a transient "drop"): both ends see the connection end. */
  dropAll(): void {
    for (const c of [...this.conns]) this.destroy(c, true);
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    for (const s of this.pending) s.destroy();
    for (const c of [...this.conns]) this.destroy(c, false);
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.stats.accepted++;
    this.pending.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => this.pending.delete(client));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const src = helloSender(head);
      if (src === undefined && head.length < HELLO_BYTES_MAX) return;
      client.off('data', onData);
      client.pause();
      this.pending.delete(client);
      if (this.refuseClients && head.length > 6 && head[6] === FRAME_TYPE_CLIENT_REQUEST) {
        client.destroy();
        return;
      }
      this.connect(client, src ?? 0, head);
    };
    client.on('data', onData);
  }

  private connect(client: net.Socket, src: number, head: Buffer): void {
    const mode = this.faults.cutOf(src, this.dst, this.allNodes());
    if (mode === 'close') {
      this.stats.closedByFault++;
      client.destroy();
      return;
    }
    const { host, port } = splitAddress(this.target);
    const server = net.connect({ host, port });
    const c: Proxied = { src, client, server, pipes: [], blackholed: false };
    this.conns.add(c);
    server.on('error', () => this.destroy(c, false));
    client.on('error', () => this.destroy(c, false));
    server.on('close', () => this.destroy(c, false));
    client.on('close', () => this.destroy(c, false));
    const delay = (): number => this.faults.delayMs;
    const up = new Pipe(client, server, delay);
    const down = new Pipe(server, client, delay);
    c.pipes = [up, down];
    up.push(head);
    client.resume();
    if (mode === 'blackhole') this.blackhole(c);
  }

  private reapply(): void {
    const nodes = this.allNodes();
    for (const c of [...this.conns]) {
      const mode = this.faults.cutOf(c.src, this.dst, nodes);
      if (mode === 'close') this.destroy(c, true);
      else if (mode === 'blackhole') this.blackhole(c);
      else if (c.blackholed) this.destroy(c, true); // healed: the stream has a hole, start over
    }
  }

  private blackhole(c: Proxied): void {
    if (c.blackholed) return;
    c.blackholed = true;
    this.stats.blackholed++;
    for (const p of c.pipes) {
      p.discard = true;
      p.stop();
    }
  }

  private destroy(c: Proxied, byFault: boolean): void {
    if (!this.conns.delete(c)) return;
    if (byFault) this.stats.closedByFault++;
    for (const p of c.pipes) p.stop();
    c.client.destroy();
    c.server.destroy();
  }
}

export function splitAddress(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
}
