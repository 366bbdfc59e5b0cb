/**
 * What every etcd service handler shares: the node, the response header, the mapping of errors to
 * etcd's statuses, the request size limit (measured as the request is decoded), and the adapter
 * from a promise-returning handler to a grpc-js unary handler.
 */
import type * as grpc from '@grpc/grpc-js';
import { MvccError } from '../mvcc/errors.js';
import type { EtcdNode } from '../node/etcd-api.js';
import { header, type Wire } from './convert.js';
import { etcdStatusOf } from './errors.js';

/** etcd's default --max-request-bytes (embed/config.go DefaultMaxRequestBytes): 1.5 MiB. */
export const REQUEST_BYTES_MAX = 1.5 * 1024 * 1024;
/** What gRPC may receive beyond it, as etcd allows (grpcOverheadBytes, 512 KiB), so the size check answers etcd's error. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

/**
 * Requests whose encoding was above REQUEST_BYTES_MAX when received, marked by the deserializers of
 * measuredDefinition: the size check then costs nothing per request, where encoding each request
 * again to measure it cost a protobuf encode per call.
 */
const oversizedRequests = new WeakSet<object>();

/**
 * `def` with each method's request deserializer also noting requests above REQUEST_BYTES_MAX (the
 * received bytes are the request's encoding). The server installs every service through it.
 */
export function measuredDefinition(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(Object.entries(def).map(([name, method]) => {
    const decode = method.requestDeserialize;
    const requestDeserialize = (bytes: Buffer): unknown => {
      const req = decode(bytes);
      if (bytes.length > REQUEST_BYTES_MAX && typeof req === 'object' && req !== null) oversizedRequests.add(req);
      return req;
    };
    return [name, { ...method, requestDeserialize }];
  }));
}

export class EtcdContext {
  constructor(readonly node: EtcdNode) {}

  /** A response header at `revision` (default: the current one). */
  header(revision?: number): Wire {
    return header(this.node.etcd.header(), revision ?? this.node.etcd.currentRevision);
  }

  /** A header with no revision: etcd 3.4's Cluster service fills only cluster_id, member_id, raft_term. */
  headerWithoutRevision(): Wire {
    const h = this.header();
    delete h.revision;
    return h;
  }

  /**
   * A grpc-js unary handler running `handle`; with a `method`, a request received above
   * REQUEST_BYTES_MAX (its service installed through measuredDefinition) is refused with etcd's
   * "request is too large".
   */
  unary(method: grpc.MethodDefinition<unknown, unknown> | undefined, handle: (req: Wire) => Promise<Wire>): grpc.handleUnaryCall<Wire, Wire> {
    return (call, callback) => {
      const run = async (): Promise<Wire> => {
        if (method !== undefined && oversizedRequests.has(call.request)) {
          throw new MvccError('MVCC_ERR_REQUEST_TOO_LARGE', 'request is too large');
        }
        return handle(call.request);
      };
      run().then(
        (res) => callback(null, res),
        (err: unknown) => callback(etcdStatusOf(err, this.node.leader !== undefined)),
      );
    };
  }
}
