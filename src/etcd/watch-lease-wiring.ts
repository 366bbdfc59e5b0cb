/**
 * The Watch and Lease services of one etcd API server (server.ts): one watch hub (watch-hub.ts)
 * and one lessor (lessor.ts) per server, over the node's etcd hook (src/node/etcd-api.ts), both
 * closed with the server.
 *
 * The lessor's clock is performance.now(): monotonic, so a wall-clock step cannot expire leases.
 * Its election timeout is etcd's default (1 s) unless given: this node's own election timeout
 * (150-300 ms by default) is shorter, so the minimum TTL (2 s) and the extension a new leader
 * grants are those of an etcd member, and at least what this cluster needs.
 */
import type * as grpc from '@grpc/grpc-js';
import type { EtcdNode } from '../node/etcd-api.js';
import { header, type Wire } from './convert.js';
import { etcdStatusOf } from './errors.js';
import { leaseHandlers, statusError } from './lease-service.js';
import { Lessor, type LessorOptions } from './lessor.js';
import { REQUEST_BYTES_MAX } from './service-context.js';
import { WatchHub } from './watch-hub.js';
import type { WatchHubOptions } from './watch-types.js';
import { serveWatch, type WatchCall } from './watch-service.js';

/** What the wiring needs of the server it installs into (EtcdServer has it). */
export interface WatchLeaseServer {
  readonly node: EtcdNode;
  readonly definitions: { Watch: grpc.ServiceDefinition; Lease: grpc.ServiceDefinition };
  addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void;
  /** Runs `fn` when the server closes. */
  onClose(fn: () => void): void;
}

export interface WatchLeaseOptions {
  hub: Partial<WatchHubOptions>;
  lessor: Partial<LessorOptions>;
}

/** etcd's default election timeout (embed.DefaultElectionMs). */
const ETCD_ELECTION_TIMEOUT_MS = 1000;

/** Keep-alive requests of one stream waiting for their answer before it is paused. */
const KEEPALIVES_PENDING_MAX = 64;

export function installWatchAndLease(server: WatchLeaseServer, options: Partial<WatchLeaseOptions> = {}): void {
  const node = server.node;
  const etcd = node.etcd;
  const wireHeader = (revision?: number): Wire => header(etcd.header(), revision ?? etcd.currentRevision);

  const hub = new WatchHub(
    {
      onApplied: (listener) => etcd.onApplied(listener),
      readEvents: (from, to, key, rangeEnd, countMax) => etcd.readEvents(from, to, key, rangeEnd, countMax),
      currentRevision: () => etcd.currentRevision,
      compactRevision: () => etcd.compactRevision,
    },
    options.hub,
  );
  const isLeader = (): boolean => node.leader?.id === node.id;
  const lessor = new Lessor(
    {
      isLeader,
      leases: () => etcd.leases(),
      lease: (id) => etcd.lease(id),
      onLeaseApplied: (listener) => etcd.onLeaseApplied(listener),
      proposeRevoke: (id) => etcd.propose({ type: 'leaseRevoke', id }),
    },
    () => performance.now(),
    { electionTimeoutMs: ETCD_ELECTION_TIMEOUT_MS, ...options.lessor },
  );
  lessor.start();
  server.onClose(() => {
    lessor.stop();
    hub.close();
  });

  server.addService(server.definitions.Watch, {
    Watch: (call: WatchCall) => serveWatch(call, hub, wireHeader, { fragmentBytesMax: REQUEST_BYTES_MAX }),
  });
  const handlers = leaseHandlers(
    {
      isLeader,
      leases: () => etcd.leases(),
      lease: (id) => etcd.lease(id),
      proposeGrant: (id, ttlSeconds) => etcd.propose({ type: 'leaseGrant', id, ttlSeconds }),
      proposeRevoke: (id) => etcd.propose({ type: 'leaseRevoke', id }),
      proposeCheckpoint: (id, remainingTtlSeconds) => etcd.propose({ type: 'leaseCheckpoint', id, remainingTtlSeconds }),
      header: () => wireHeader(),
      grpcError: (e) => {
        const s = etcdStatusOf(e, node.leader !== undefined);
        return statusError(s.code, s.details);
      },
    },
    lessor,
    { keepAlivesPendingMax: KEEPALIVES_PENDING_MAX },
  );
  server.addService(server.definitions.Lease, handlers as unknown as grpc.UntypedServiceImplementation);
}
