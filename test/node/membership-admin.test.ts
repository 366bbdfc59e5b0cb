// Membership administration on a follower forwards to the leader and never judges a request by the
// follower's own configuration (src/node/membership-admin.ts): that configuration can lag the
// leader's, e.g. on a node that restarted and is still re-applying its log. Found by the chaos
// soak (test/chaos/): a node re-added from a snapshot older than its own addition, killed and
// restarted, answered "transfer: node 2 is not a voter" for a node 2 that was one.
import { describe, expect, it } from 'vitest';
import type { ClientRequestInput } from '../../src/node/client-connection.js';
import { MEMBER_CHANGES_QUEUED_MAX, MembershipAdmin, type MembershipAdminHost } from '../../src/node/membership-admin.js';
import type { RawNode } from '../../src/raft/raw-node.js';

/** A follower of leader 1 whose configuration is `voters` (only what MembershipAdmin reads). */
function follower(voters: number[], forwarded: ClientRequestInput[]): MembershipAdmin {
  const raw = { status: () => ({ role: 'follower', lead: 1, term: 5, commit: 10, conf: { voters, learners: [] } }) } as unknown as RawNode;
  const host = {
    id: 3,
    tickMs: 10,
    requestTimeoutMs: 1_000,
    checkRunning: () => undefined,
    rawNode: () => raw,
    isLeader: () => false,
    leaderId: () => 1,
    path: { forwardToLeader: async (req: ClientRequestInput) => { forwarded.push(req); return { requestId: 1, ok: true, json: '{"id":12}' }; } },
  } as unknown as MembershipAdminHost;
  return new MembershipAdmin(host);
}

describe('membership administration on a follower', () => {
  it('forwards a transfer to a voter its own (lagging) configuration lacks', async () => {
    const forwarded: ClientRequestInput[] = [];
    await follower([1, 3], forwarded).transferLeadership(2);
    expect(forwarded).toEqual([{ op: 'transfer', nodeId: 2 }]);
  });

  it('forwards removals and additions without looking at its configuration', async () => {
    const forwarded: ClientRequestInput[] = [];
    const admin = follower([1, 3], forwarded);
    await admin.removeMember(2);
    await admin.addMember(3, '127.0.0.1:1');
    expect(forwarded).toEqual([{ op: 'removeMember', nodeId: 2 }, { op: 'addMember', nodeId: 3, address: '127.0.0.1:1' }]);
  });

  it("forwards etcd's member add, promote and update, and returns the id the leader chose", async () => {
    const forwarded: ClientRequestInput[] = [];
    const admin = follower([1, 3], forwarded);
    await expect(admin.addMemberFirst('127.0.0.1:7', true)).resolves.toBe(12);
    await expect(admin.addMemberFirst('127.0.0.1:8', false)).resolves.toBe(12);
    await admin.promoteMember(12);
    await admin.updateMember(3, '127.0.0.1:9');
    expect(forwarded).toEqual([
      { op: 'memberAddLearner', address: '127.0.0.1:7' },
      { op: 'memberAddVoter', address: '127.0.0.1:8' },
      { op: 'memberPromote', nodeId: 12 },
      { op: 'memberUpdate', nodeId: 3, address: '127.0.0.1:9' },
    ]);
  });

  it('keeps at most MEMBER_CHANGES_QUEUED_MAX member changes waiting at the leader, refusing more with KV_ERR_BUSY', async () => {
    // A leader that never applies an entry of its term: every change waits its deadline, in line.
    const raw = { status: () => ({ role: 'leader', lead: 1, term: 5, commit: 10, conf: { voters: [1], learners: [3] }, progress: new Map() }) } as unknown as RawNode;
    const host = {
      id: 1, tickMs: 1, requestTimeoutMs: 10, checkRunning: () => undefined, rawNode: () => raw, isLeader: () => true, appliedTerm: () => 4, leader: () => undefined,
    } as unknown as MembershipAdminHost;
    const admin = new MembershipAdmin(host);
    const waiting = Array.from({ length: MEMBER_CHANGES_QUEUED_MAX }, () => admin.promoteMember(3).then(() => 'ok', (e: { code: string }) => e.code));
    await expect(admin.promoteMember(3)).rejects.toMatchObject({ code: 'KV_ERR_BUSY' });
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(['KV_ERR_MEMBERSHIP']));
    // The line drained: a change is taken again.
    await expect(admin.promoteMember(3)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
  });
});
