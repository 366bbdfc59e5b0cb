/**
 * One-line renderings of a node's status and of its member list, shared by the kv-server prompt
 * (`status`, `ls`) and kvctl's simple and table output, so both read the same.
 */
import type { MemberInfo, NodeStatus } from '../node/kv-node.js';

/**
 * `node 2 follower term 3 leader 1 (host:port) commit 10 applied 10 log 2..10 snapshot 0/0
 * voters [1,2,3] cluster <id>` (`learners [4]` before the voters while there are any). Scripts
 * parse it (test/chaos/cluster.ts): fields are only ever added, before `voters`.
 */
export function statusLine(s: NodeStatus): string {
  const leader = s.leader === 0 ? 'none' : `${s.leader}${s.leaderAddress ? ` (${s.leaderAddress})` : ''}`;
  const learners = s.learners.length > 0 ? ` learners [${s.learners.join(',')}]` : '';
  return (
    `node ${s.id} ${s.role} term ${s.term} leader ${leader} commit ${s.commit} applied ${s.applied}` +
    ` log ${s.logFirstIndex}..${s.logLastIndex} snapshot ${s.snapshotIndex}/${s.snapshotTerm}${learners} voters [${s.voters.join(',')}] cluster ${s.clusterId}`
  );
}

/** How long ago a member was last heard from, in words. */
export function contactText(m: MemberInfo): string {
  if (m.isSelf) return 'self';
  if (m.lastContactMs === undefined) return 'never heard from';
  return m.lastContactMs < 1000 ? `seen ${m.lastContactMs} ms ago` : `seen ${(m.lastContactMs / 1000).toFixed(1)} s ago`;
}

/** The cells of one member row: id, address, role, match, last contact. */
export function memberCells(m: MemberInfo): string[] {
  return [String(m.id), m.address ?? '?', m.role, m.match === undefined ? '-' : String(m.match), contactText(m)];
}

export const MEMBER_HEADER = ['ID', 'ADDRESS', 'ROLE', 'MATCH', 'CONTACT'];

/** `2 host:port follower match 4 seen 12 ms ago`, `(this node)` marking this one. */
export function memberLine(m: MemberInfo): string {
  const [id, address, role, match] = memberCells(m);
  return `${id} ${address} ${role} match ${match} ${m.isSelf ? '(this node)' : contactText(m)}`;
}
