/**
 * etcd's Cluster service over the node's membership: MemberList and MemberRemove. lsmraft members
 * join by a handshake with a running empty node (src/node/membership-admin.ts), not by etcd's
 * "add, then start the member" order, so MemberAdd, MemberUpdate and MemberPromote answer
 * UNIMPLEMENTED (grpc-js does for a method the implementation lacks).
 * A member's id is its node id; its name is the id in decimal; its peer URL is http://<address>;
 * its client URL is known for the answering member only.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Wire } from './convert.js';
import { int } from './convert.js';
import { EtcdStatusError, MEMBER_NOT_FOUND } from './errors.js';
import type { EtcdContext } from './service-context.js';

export function clusterService(ctx: EtcdContext, def: grpc.ServiceDefinition, clientUrl: () => string): grpc.UntypedServiceImplementation {
  const members = (): Wire[] =>
    ctx.node.members().map((m) => ({
      ID: String(m.id),
      name: String(m.id),
      peerURLs: m.address !== undefined ? [`http://${m.address}`] : [],
      clientURLs: m.isSelf ? [clientUrl()] : [],
      isLearner: m.role === 'learner',
    }));
  return {
    MemberList: ctx.unary(def.MemberList, async () => ({ header: ctx.header(), members: members() })),
    MemberRemove: ctx.unary(def.MemberRemove, async (req) => {
      const id = int(req.ID ?? '0', 'ID');
      if (!ctx.node.members().some((m) => m.id === id)) throw new EtcdStatusError(MEMBER_NOT_FOUND, 'KV_ERR_MEMBERSHIP');
      await ctx.node.removeMember(id);
      return { header: ctx.header(), members: members() };
    }),
  };
}
