/**
 * EtcdServer: etcd's v3 gRPC API for one node (@grpc/grpc-js, insecure credentials), serving the
 * KV (kv-service.ts), Cluster (cluster-service.ts) and Maintenance (maintenance-service.ts)
 * services from the definitions of protos.ts. Auth is not served: grpc-js answers UNIMPLEMENTED for
 * a service it does not know, as it does for each method a service leaves out.
 *
 * The Watch and Lease services, with the watch hub and the lessor behind them, are installed by
 * watch-lease-wiring.ts and stop when the server closes (onClose). Other services may be added
 * through registerEtcdService (at load, for every server started after) or EtcdServer.addService.
 *
 * Loading this module registers EtcdServer.start with the node (src/node/etcd-api.ts), so
 * KvNode.start({ etcdAddress }) serves the API; KvNode.stop() closes it.
 *
 * Limits: a request above REQUEST_BYTES_MAX (etcd's 1.5 MiB) gets etcd's "request is too large";
 * gRPC itself refuses messages above that plus GRPC_OVERHEAD_BYTES, as etcd's server does.
 */
import * as grpc from '@grpc/grpc-js';
import { formatAddress, parseAddress } from '../node/address.js';
import { AddressInUseError } from '../node/errors.js';
import { registerEtcdApi, type EtcdApiServer, type EtcdNode } from '../node/etcd-api.js';
import { clusterService } from './cluster-service.js';
import { kvService } from './kv-service.js';
import { maintenanceService } from './maintenance-service.js';
import { etcdServiceDefinitions, type EtcdServiceDefinitions } from './protos.js';
import { EtcdContext, GRPC_OVERHEAD_BYTES, measuredDefinition, REQUEST_BYTES_MAX } from './service-context.js';
import { installWatchAndLease } from './watch-lease-wiring.js';

/** Adds a service to a server being started (the Watch and Lease services' modules use it). */
export type EtcdServiceInstaller = (server: EtcdServer) => void;

const installers: EtcdServiceInstaller[] = [];

/** Every server started from now on calls `install` before it listens. */
export function registerEtcdService(install: EtcdServiceInstaller): void {
  installers.push(install);
}

/** How long close() lets calls in flight finish before cutting them. */
export const CLOSE_GRACE_MS = 2_000;

export class EtcdServer implements EtcdApiServer {
  readonly definitions: EtcdServiceDefinitions = etcdServiceDefinitions();
  readonly context: EtcdContext;
  private readonly grpcServer: grpc.Server;
  private bound = '';
  private closing: Promise<void> | undefined;
  private readonly closers: Array<() => void> = [];

  private constructor(readonly node: EtcdNode) {
    this.context = new EtcdContext(node);
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': REQUEST_BYTES_MAX + GRPC_OVERHEAD_BYTES,
      'grpc.max_send_message_length': 2 ** 31 - 1,
      // Not 'grpc.enable_channelz': 0, though nothing reads channelz: grpc-js 1.14 then no longer
      // tracks the sessions forceShutdown() destroys (build/src/server.js), so close() would leave
      // open streams (a watch) hanging on a stopped member.
    });
  }

  /** Listens on `address` ("host:port"; port 0 picks one) and serves `node`'s etcd API. */
  static async start(node: EtcdNode, address: string): Promise<EtcdServer> {
    const { host, port } = parseAddress(address);
    const s = new EtcdServer(node);
    const d = s.definitions;
    s.addService(d.KV, kvService(s.context, d.KV));
    s.addService(d.Cluster, clusterService(s.context, d.Cluster));
    s.addService(d.Maintenance, maintenanceService(s.context, d.Maintenance));
    installWatchAndLease(s);
    for (const install of installers) install(s);
    const where = formatAddress(host, port);
    const bound = await new Promise<number>((resolve, reject) => {
      s.grpcServer.bindAsync(where, grpc.ServerCredentials.createInsecure(), (err, p) => {
        if (err === null) resolve(p);
        // grpc-js reports a failed bind (the port taken) as a plain Error naming the address.
        else {
          for (const fn of s.closers.splice(0)) fn();
          reject(new AddressInUseError('the etcd API', where, { cause: err }));
        }
      });
    });
    s.bound = formatAddress(host, bound);
    return s;
  }

  /** "host:port" it listens on. */
  get address(): string {
    return this.bound;
  }

  /** Serves `def` with `impl`; its requests' sizes are measured as they are decoded (service-context.ts). */
  addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    this.grpcServer.addService(measuredDefinition(def), impl);
  }

  /** Runs `fn` when the server closes (the watch hub and the lessor stop with it). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  /** Stops accepting calls, lets those in flight finish for CLOSE_GRACE_MS, then cuts them. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) for (const fn of this.closers.splice(0)) fn();
    this.closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.grpcServer.forceShutdown(), CLOSE_GRACE_MS);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.closing;
  }
}

registerEtcdApi((node, address) => EtcdServer.start(node, address));
