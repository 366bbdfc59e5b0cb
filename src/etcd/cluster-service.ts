/**
 * etcd's Cluster service over the node's membership: MemberList, MemberAdd, MemberPromote,
 * MemberUpdate and MemberRemove, with etcd's order for an addition (server/etcdserver/server.go
 * AddMember): the member is committed to the configuration first, then the operator starts it
 * (`kv-server <id> <host:port> --initial-cluster-state existing`) and the leader takes it in
 * (src/node/membership-admin.ts addMemberFirst; the id and the strict check: member-rules.ts).
 *
 * A member's id is its node id; its name is the id in decimal once it has started (a member added
 * but not yet heard from has an empty name and no client URL, as in etcd); its peer URL is
 * http://<address>; its client URL is http://<its etcd API address>, which the answering node asks
 * each member for (src/node/member-etcd-addresses.ts); a member that serves no etcd API has none.
 * A member has exactly one peer URL, http://host:port: any other (https, a path, several URLs) is
 * etcd's "given member URLs are invalid" (peer TLS is the nodes' own flags, not the URL scheme).
 * etcd 3.4's Cluster service headers carry no revision (its cluster server fills only cluster_id,
 * member_id and raft_term), so neither do these.
 */
import type * as grpc from '@grpc/grpc-js';
import { parseAddress } from '../node/address.js';
import { InvalidArgumentError } from '../errors.js';
import type { Wire } from './convert.js';
import { int } from './convert.js';
import { EtcdStatusError, MEMBER_BAD_URLS, MEMBER_NOT_FOUND } from './errors.js';
import type { EtcdContext } from './service-context.js';

/** The "host:port" of a member's only peer URL, http://host:port; etcd's bad-URLs error otherwise. */
export function peerAddressOf(peerURLs: unknown): string {
  const bad = (): never => {
    throw new EtcdStatusError(MEMBER_BAD_URLS, 'KV_ERR_INVALID_ARGUMENT');
  };
  if (!Array.isArray(peerURLs) || peerURLs.length !== 1 || typeof peerURLs[0] !== 'string') return bad();
  const m = /^http:\/\/([^/?#@]+)\/?$/.exec(peerURLs[0] as string);
  if (m === null) return bad();
  const address = m[1]!;
  try {
    if (parseAddress(address).port === 0) return bad();
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    return bad();
  }
  return address;
}

/** A member id (a uint64) from a request; one no member can have (0, above 2^53) is etcd's member not found. */
function memberId(v: unknown): number {
  const text = typeof v === 'number' || typeof v === 'string' ? String(v) : '0';
  if (!/^\d{1,20}$/.test(text)) throw new EtcdStatusError(MEMBER_NOT_FOUND, 'KV_ERR_MEMBER_NOT_FOUND');
  const id = BigInt(text);
  if (id <= 0n || id > BigInt(Number.MAX_SAFE_INTEGER)) throw new EtcdStatusError(MEMBER_NOT_FOUND, 'KV_ERR_MEMBER_NOT_FOUND');
  return Number(id);
}

export function clusterService(ctx: EtcdContext, def: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const members = async (): Promise<Wire[]> => {
    const etcdAddresses = await ctx.node.memberEtcdAddresses();
    return ctx.node.members().map((m) => {
      const etcdAddress = etcdAddresses.get(m.id);
      const started = m.isSelf || etcdAddress !== undefined || m.lastContactMs !== undefined || (m.match ?? 0) > 0;
      return {
        ID: String(m.id),
        name: started ? String(m.id) : '',
        peerURLs: m.address !== undefined ? [`http://${m.address}`] : [],
        clientURLs: etcdAddress !== undefined ? [`http://${etcdAddress}`] : [],
        isLearner: m.role === 'learner',
      };
    });
  };
  return {
    MemberList: ctx.unary(def.MemberList, async () => ({ header: ctx.headerWithoutRevision(), members: await members() })),
    MemberAdd: ctx.unary(def.MemberAdd, async (req) => {
      const address = peerAddressOf(req.peerURLs);
      const isLearner = req.isLearner === true;
      const id = await ctx.node.addMemberFirst(address, isLearner);
      const member = { ID: String(id), name: '', peerURLs: [`http://${address}`], clientURLs: [], isLearner };
      // A follower that forwarded the add may not have applied it yet: the list has it anyway.
      const list = await members();
      if (!list.some((m) => m.ID === member.ID)) list.push(member);
      return { header: ctx.headerWithoutRevision(), member, members: list };
    }),
    MemberPromote: ctx.unary(def.MemberPromote, async (req) => {
      await ctx.node.promoteMember(memberId(req.ID));
      return { header: ctx.headerWithoutRevision(), members: await members() };
    }),
    MemberUpdate: ctx.unary(def.MemberUpdate, async (req) => {
      // The leader judges whether the member exists (a follower's configuration may lag).
      await ctx.node.updateMember(memberId(req.ID), peerAddressOf(req.peerURLs));
      return { header: ctx.headerWithoutRevision(), members: await members() };
    }),
    MemberRemove: ctx.unary(def.MemberRemove, async (req) => {
      const id = int(req.ID ?? '0', 'ID');
      if (!ctx.node.members().some((m) => m.id === id)) throw new EtcdStatusError(MEMBER_NOT_FOUND, 'KV_ERR_MEMBERSHIP');
      await ctx.node.removeMember(id);
      return { header: ctx.headerWithoutRevision(), members: await members() };
    }),
  };
}
