/**
 * A grpc-js client of the etcd API built from the project's own .proto files (src/etcd/protos.ts),
 * with promise wrappers for unary calls: what the etcd API tests drive a node with.
 */
import * as grpc from '@grpc/grpc-js';
import { etcdGrpcPackage } from '../../src/etcd/protos.js';

export type Wire = Record<string, unknown>;

type ClientCtor = new (address: string, creds: grpc.ChannelCredentials) => grpc.Client;

export class EtcdTestClient {
  private readonly clients: Record<string, grpc.Client> = {};
  constructor(address: string) {
    const pkg = etcdGrpcPackage();
    for (const name of ['KV', 'Cluster', 'Maintenance', 'Auth', 'Lease']) {
      this.clients[name] = new (pkg[name] as unknown as ClientCtor)(address, grpc.credentials.createInsecure());
    }
  }

  /** Calls service.method(req); resolves with the response or rejects with the ServiceError. */
  call(service: string, method: string, req: Wire = {}): Promise<Wire> {
    const c = this.clients[service] as unknown as Record<string, (req: Wire, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Wire) => void) => void>;
    return new Promise((resolve, reject) => {
      c[method]!.call(c, req, { deadline: Date.now() + 10_000 }, (err, res) => (err !== null ? reject(err) : resolve(res)));
    });
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close();
  }
}
