/**
 * Loads etcd's v3 API definitions (src/etcd/proto/: rpc.proto, kv.proto, auth.proto, written for
 * lsmraft after etcd v3.4's api/etcdserverpb, api/mvccpb and api/authpb) with @grpc/proto-loader, for
 * the server (server.ts) and for test clients alike, so both sides share one set of names and
 * field numbers.
 *
 * The loader options, decided once for every user of these definitions:
 *   keepCase: true       field names as in the .proto (range_end, not rangeEnd)
 *   longs: String        int64/uint64 fields arrive as decimal strings (revisions, lease ids and
 *                        member ids may pass 2^53); the handlers convert where they need numbers
 *   enums: String        enum values by name ('DESCEND', 'PUT')
 *   bytes: Buffer        keys and values as Buffers
 *   defaults: true       absent fields read as their proto3 default ('' / '0' / false / [])
 *   oneofs: true         a set oneof also names its member (request: 'request_put')
 *
 * The .proto files are found beside this module: under src/ in development, and `npm run build:ts`
 * copies them next to the compiled module in dist/etcd/proto/.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ETCD_PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

export const ETCD_PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [ETCD_PROTO_DIR],
};

let cached: protoLoader.PackageDefinition | undefined;

/** The package definition of rpc.proto (and the files it imports), loaded once per process. */
export function etcdPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync('rpc.proto', ETCD_PROTO_LOADER_OPTIONS);
  return cached;
}

/** The etcd services of etcdserverpb, each a grpc-js ServiceDefinition (for Server.addService). */
export interface EtcdServiceDefinitions {
  KV: grpc.ServiceDefinition;
  Watch: grpc.ServiceDefinition;
  Lease: grpc.ServiceDefinition;
  Cluster: grpc.ServiceDefinition;
  Maintenance: grpc.ServiceDefinition;
  Auth: grpc.ServiceDefinition;
}

export function etcdServiceDefinitions(): EtcdServiceDefinitions {
  const def = etcdPackageDefinition();
  const service = (name: string): grpc.ServiceDefinition => def[`etcdserverpb.${name}`] as grpc.ServiceDefinition;
  return {
    KV: service('KV'),
    Watch: service('Watch'),
    Lease: service('Lease'),
    Cluster: service('Cluster'),
    Maintenance: service('Maintenance'),
    Auth: service('Auth'),
  };
}

/**
 * grpc-js client constructors for etcdserverpb (KV, Watch, Lease, Cluster, Maintenance, Auth): the
 * package object of grpc.loadPackageDefinition.
 */
export function etcdGrpcPackage(): grpc.GrpcObject {
  return (grpc.loadPackageDefinition(etcdPackageDefinition()).etcdserverpb as grpc.GrpcObject);
}
