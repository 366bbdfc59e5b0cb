/**
 * etcd's Lease service (etcdserverpb.Lease), after etcd's server/etcdserver/api/v3rpc/lease.go and
 * the lease half of server/etcdserver/v3_server.go.
 *
 * - LeaseGrant: the TTL is checked (etcd's MaxLeaseTTL) and raised to the minimum here, and a
 *   missing id is picked here, before the proposal: apply stays deterministic (no clock, no
 *   randomness), and the response reports the TTL granted, as etcd's does.
 * - LeaseRevoke: through Raft; revoking deletes the lease's keys in one revision (apply's work).
 * - LeaseKeepAlive: on the leader the lessor renews at once. A follower cannot renew (expiry is
 *   the leader's), so it proposes LeaseCheckpoint{id, remaining = TTL}: once applied, the leader's
 *   lessor restarts the lease's expiry from that remainder, and the follower answers with the TTL.
 *   This costs a log entry per keep-alive sent to a follower; etcd forwards the keep-alive to the
 *   leader over its peer HTTP API instead, which this node's peer protocol does not carry. An
 *   unknown lease is answered with TTL 0, as etcd's keep-alive stream does.
 * - LeaseTimeToLive: the leader reports the seconds left on its lessor's clock; a follower knows
 *   no expiry, so it reports the last checkpointed remainder, else the granted TTL (an upper bound).
 *   An unknown lease is TTL -1, as etcd reports it.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { LsmraftError } from '../errors.js';
import { LEASE_TTL_SECONDS_MAX, type LeaseInfo, type Lessor } from './lessor.js';
import type { Wire } from './convert.js';

export interface LeaseServiceHost {
  isLeader(): boolean;
  leases(): Iterable<LeaseInfo>;
  /** A lease with its keys, or undefined when it is not granted (on this replica's applied state). */
  lease(id: bigint): (LeaseInfo & { keys: Uint8Array[] }) | undefined;
  /** Proposals through Raft; each resolves once applied, rejects with the apply's error. */
  proposeGrant(id: bigint, ttlSeconds: number): Promise<unknown>;
  proposeRevoke(id: bigint): Promise<unknown>;
  proposeCheckpoint(id: bigint, remainingTtlSeconds: number): Promise<unknown>;
  /** The response header at the current revision. */
  header(): Wire;
  /** The gRPC status for a typed error a proposal rejected with (no leader, timeout, not found). */
  grpcError(e: LsmraftError): grpc.ServiceError;
}

export interface LeaseServiceOptions {
  /** Keep-alive requests of one stream waiting for their answer before the stream is paused. */
  keepAlivesPendingMax: number;
}

/** etcd's answer to a TTL above MaxLeaseTTL (api/v3rpc/rpctypes/error.go); other lease errors come from apply. */
export const LEASE_TTL_TOO_LARGE = 'etcdserver: too large lease TTL';

export function statusError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/** A positive int63 lease id not granted yet (etcd picks positive ids too). */
function newLeaseId(host: LeaseServiceHost): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
    if (id !== 0n && host.lease(id) === undefined) return id;
  }
}

interface IdRequest {
  ID: string;
}

type Unary<Req> = (call: grpc.ServerUnaryCall<Req, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

export interface LeaseHandlers {
  LeaseGrant: Unary<{ TTL: string; ID: string }>;
  LeaseRevoke: Unary<IdRequest>;
  LeaseKeepAlive: (call: grpc.ServerDuplexStream<IdRequest, unknown>) => void;
  LeaseTimeToLive: Unary<IdRequest & { keys: boolean }>;
  LeaseLeases: Unary<object>;
}

export function leaseHandlers(host: LeaseServiceHost, lessor: Lessor, options: LeaseServiceOptions): LeaseHandlers {
  /** Runs `work`, answering with its result or with the gRPC status of the typed error it threw. */
  const answer = (callback: grpc.sendUnaryData<unknown>, work: () => Promise<unknown>): void => {
    work().then(
      (r) => callback(null, r),
      (e: unknown) => {
        if (!(e instanceof LsmraftError)) throw e;
        callback(host.grpcError(e));
      },
    );
  };

  return {
    LeaseGrant(call, callback) {
      const ttl = Number(call.request.TTL);
      if (ttl > LEASE_TTL_SECONDS_MAX) {
        callback(statusError(grpc.status.OUT_OF_RANGE, LEASE_TTL_TOO_LARGE));
        return;
      }
      // A lease that exists already is refused by apply ("lease already exists").
      const requested = BigInt(call.request.ID);
      const id = requested === 0n ? newLeaseId(host) : requested;
      const granted = lessor.grantedTtl(ttl);
      answer(callback, async () => {
        await host.proposeGrant(id, granted);
        return { header: host.header(), ID: id.toString(), TTL: String(granted), error: '' };
      });
    },

    LeaseRevoke(call, callback) {
      // Decided by apply, not by this replica's state, which may lag: "requested lease not found".
      const id = BigInt(call.request.ID);
      answer(callback, async () => {
        await host.proposeRevoke(id);
        return { header: host.header() };
      });
    },

    LeaseTimeToLive(call, callback) {
      const id = BigInt(call.request.ID);
      const l = host.lease(id);
      if (l === undefined) {
        callback(null, { header: host.header(), ID: id.toString(), TTL: '-1', grantedTTL: '0', keys: [] });
        return;
      }
      const left = lessor.remainingSeconds(id) ?? (l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds);
      callback(null, {
        header: host.header(),
        ID: id.toString(),
        TTL: String(left),
        grantedTTL: String(l.ttlSeconds),
        keys: call.request.keys ? l.keys.map((k) => Buffer.from(k.buffer, k.byteOffset, k.byteLength)) : [],
      });
    },

    LeaseLeases(_call, callback) {
      const leases = [...host.leases()].map((l) => ({ ID: l.id.toString() }));
      callback(null, { header: host.header(), leases });
    },

    LeaseKeepAlive(call) {
      // Answers in request order: each waits for the one before (a follower's may wait on Raft).
      let chain: Promise<void> = Promise.resolve();
      let pending = 0;
      let ended = false;
      const renew = async (id: bigint): Promise<string> => {
        if (lessor.isPrimary) return String(lessor.renew(id));
        const l = host.lease(id);
        if (l === undefined) return '0';
        await host.proposeCheckpoint(id, l.ttlSeconds);
        return String(l.ttlSeconds);
      };
      call.on('data', (req: IdRequest) => {
        const id = BigInt(req.ID);
        pending++;
        if (pending >= options.keepAlivesPendingMax) call.pause();
        chain = chain.then(async () => {
          if (ended) return;
          // The header comes before the renewal, as etcd fills it: a keep-alive answered at
          // revision R never claims a lease revoked at or before R.
          const header = host.header();
          try {
            const TTL = await renew(id);
            if (!ended) call.write({ header, ID: id.toString(), TTL });
          } catch (e) {
            if (!(e instanceof LsmraftError)) throw e;
            ended = true;
            call.emit('error', host.grpcError(e));
          } finally {
            pending--;
            if (pending < options.keepAlivesPendingMax && !ended) call.resume();
          }
        });
      });
      call.on('end', () => {
        void chain.then(() => {
          if (!ended) call.end();
          ended = true;
        });
      });
      call.on('error', () => {
        ended = true;
      });
      call.on('cancelled', () => {
        ended = true;
      });
    },
  };
}
