/**
 * One client endpoint in front of a list of members, as a DNS name or a load balancer would be: a
 * TCP proxy on 127.0.0.1 that connects each new client connection to the first member of its list
 * that is still running. A client given only this endpoint is certainly connected to the first
 * member (the leader, in the failover test); when that member dies its connections close, and the
 * client's reconnections reach the next one. So a watch or keep-alive stream provably crosses the
 * failover, which etcdctl's round-robin over several endpoints would not guarantee.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import type { EtcdMember } from './target.js';

/** Connections open at once through the proxy (etcdctl opens one per endpoint). */
const connectionsMax = 64;

export class FailoverProxy {
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly address: string) {}

  /** Listens on a free port; `members` in order of preference. */
  static async start(members: readonly EtcdMember[]): Promise<FailoverProxy> {
    const server = createServer();
    server.maxConnections = connectionsMax;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new FailoverProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', (client) => proxy.forward(client, members));
    return proxy;
  }

  private forward(client: Socket, members: readonly EtcdMember[]): void {
    const target = members.find((m) => m.running);
    if (target === undefined) {
      client.destroy();
      return;
    }
    const [host, port] = target.clientAddress.split(':');
    const upstream = connect(Number(port), host!);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      // Either side's end or error ends both: the client then reconnects.
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
      // A reset from the killed member is this proxy's normal case: the 'close' above ends both.
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
