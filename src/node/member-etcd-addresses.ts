/**
 * The etcd API address of every member, for etcd's MemberList (src/etcd/cluster-service.ts lists
 * each member's clientURLs). Each member knows only its own (KvNode's etcdAddress, which port 0
 * picks at start), so the answering node asks the others: it sends each other member the node
 * protocol's `status` request (src/node/client-service.ts), whose answer carries `etcdAddress`, all
 * in parallel, each bounded by lookupTimeoutMs.
 *
 * Why ask rather than store the address in the replicated membership (as etcd's `publish` of
 * member attributes does): the address a member serves can change at every restart (port 0, a new
 * flag), and only that member knows it; asking it is always current and needs no new Raft command
 * or log format. The price: a member that does not answer within the timeout is listed with the
 * address it gave last (remembered in memory here), or with none if it never answered this node.
 *
 * What must hold: one lookup costs at most lookupTimeoutMs (connect plus request), whatever the
 * members do; the remembered addresses are bounded by the members (others are dropped).
 */
import type { ClientConnectionOptions } from './client-connection.js';
import { connectClient } from './client-connection.js';
import { BadFrameError, ConnectionClosedError, RequestTimeoutError } from './errors.js';
import type { NodeId } from '../raft/types.js';

/** Default bound on one member's status answer (connect included). */
export const ETCD_ADDRESS_LOOKUP_MS_DEFAULT = 1000;

export interface MemberEtcdAddressesOptions {
  /** Connection options (TLS) to reach the node at `address`. */
  dial: (address: string) => ClientConnectionOptions;
  lookupTimeoutMs?: number;
}

export interface MemberAddress {
  id: NodeId;
  /** The member's node protocol address; undefined if this node does not know it. */
  address: string | undefined;
  isSelf: boolean;
}

export class MemberEtcdAddresses {
  private readonly known = new Map<NodeId, string>();
  private readonly lookupTimeoutMs: number;

  constructor(private readonly opts: MemberEtcdAddressesOptions) {
    this.lookupTimeoutMs = opts.lookupTimeoutMs ?? ETCD_ADDRESS_LOOKUP_MS_DEFAULT;
  }

  /** The etcd API address ("host:port") of each member that has one, by id. */
  async lookup(members: readonly MemberAddress[], selfEtcdAddress: string | undefined): Promise<Map<NodeId, string>> {
    await Promise.all(
      members.map(async (m) => {
        if (m.isSelf) {
          if (selfEtcdAddress === undefined) this.known.delete(m.id);
          else this.known.set(m.id, selfEtcdAddress);
          return;
        }
        if (m.address === undefined) return;
        const answer = await this.ask(m.address);
        if (answer === 'unknown') return;
        if (answer === undefined) this.known.delete(m.id);
        else this.known.set(m.id, answer);
      }),
    );
    const ids = new Set(members.map((m) => m.id));
    for (const id of [...this.known.keys()]) if (!ids.has(id)) this.known.delete(id);
    return new Map(this.known);
  }

  /** The etcdAddress the node at `address` reports (undefined: it serves none); 'unknown' if it did not answer. */
  private async ask(address: string): Promise<string | undefined | 'unknown'> {
    const started = Date.now();
    let conn;
    try {
      conn = await connectClient(address, { ...this.opts.dial(address), connectTimeoutMs: this.lookupTimeoutMs });
      const left = Math.max(1, this.lookupTimeoutMs - (Date.now() - started));
      const res = await conn.request({ op: 'status' }, left);
      if (!res.ok || res.json === undefined) return 'unknown';
      const status = JSON.parse(res.json) as { etcdAddress?: unknown };
      return typeof status.etcdAddress === 'string' ? status.etcdAddress : undefined;
    } catch (err) {
      if (!(err instanceof ConnectionClosedError) && !(err instanceof RequestTimeoutError) && !(err instanceof BadFrameError)) throw err;
      return 'unknown';
    } finally {
      conn?.close();
    }
  }
}
