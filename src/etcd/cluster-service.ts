/**
 * etcd's Cluster service over the node's membership: MemberList and MemberRemove. lsmraft members
 * join by a handshake with a running empty node (src/node/membership-admin.ts), not by etcd's
 * "add, then start the member" order, so MemberAdd, MemberUpdate and MemberPromote answer
 * UNIMPLEMENTED (grpc-js does for a method the implementation lacks).
 * A member's id is its node id; its name is the id in decimal; its peer URL is http://<address>;
 * its client URL is http://<its etcd API address>, which the answering node asks each member for
 * (src/node/member-etcd-addresses.ts); a member that serves no etcd API has none.
 * etcd 3.4's MemberList and MemberRemove headers carry no revision (its cluster server fills only
 * cluster_id, member_id and raft_term), so neither do these.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Wire } from './convert.js';
import { int } from './convert.js';
import { EtcdStatusError, MEMBER_NOT_FOUND } from './errors.js';
import type { EtcdContext } from './service-context.js';

export function clusterService(ctx: EtcdContext, def: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const members = async (): Promise<Wire[]> => {
    const etcdAddresses = await ctx.node.memberEtcdAddresses();
    return ctx.node.members().map((m) => {
      const etcdAddress = etcdAddresses.get(m.id);
      return {
        ID: String(m.id),
        name: String(m.id),
        peerURLs: m.address !== undefined ? [`http://${m.address}`] : [],
        clientURLs: etcdAddress !== undefined ? [`http://${etcdAddress}`] : [],
        isLearner: m.role === 'learner',
      };
    });
  };
  return {
    MemberList: ctx.unary(def.MemberList, async () => ({ header: ctx.headerWithoutRevision(), members: await members() })),
    MemberRemove: ctx.unary(def.MemberRemove, async (req) => {
      const id = int(req.ID ?? '0', 'ID');
      if (!ctx.node.members().some((m) => m.id === id)) throw new EtcdStatusError(MEMBER_NOT_FOUND, 'KV_ERR_MEMBERSHIP');
      await ctx.node.removeMember(id);
      return { header: ctx.headerWithoutRevision(), members: await members() };
    }),
  };
}
