/**
 * Cluster membership around the Raft core's single-server conf changes (Ongaro's thesis §4.1, as in
 * etcd's `member add`): the address book that maps member ids to "host:port", the context a conf
 * change carries (the new member's address), and the JOIN handshake a leader makes with a node
 * before it proposes to add it.
 *
 * JOIN handshake (leader L adds node N at address A):
 *   1. L opens a client connection to A and sends JOIN_REQUEST {clusterId, nodeId N, leader L, L's address}.
 *   2. N accepts only if it is node N, holds no user data, and is still a fresh one-member cluster
 *      (or already belongs to that cluster: a retried add). Accepting, N resets its Raft log to a blank,
 *      unbootstrapped member, empties its state tree, adopts the cluster id and answers ok.
 *      Otherwise it answers KV_ERR_MEMBERSHIP naming the reason; nothing changes on either side.
 *   3. L proposes addVoter(N) with context A. N learns the log from L (a snapshot, then entries).
 *
 * The address book is persisted in `<dataDir>/MEMBERS` (written atomically, see identity.ts) each
 * time a conf change is applied, and travels with a Raft snapshot (in the 'snap' message's
 * context), so a node that installs a snapshot learns every member's address.
 *
 * MEMBERS file, version 1 (text): a line `lsmraft-members v1`, one line `<id> <address>` per member,
 * a last line `crc=<8 hex digits>`: the masked CRC32C of everything before that line.
 */
import { crc32c, maskCrc } from '../format/crc32c.js';
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import { joinPath } from '../lsm/filenames.js';
import type { FileSystem } from '../lsm/fs.js';
import type { ConfState, NodeId } from '../raft/types.js';
import { fromUtf8, utf8 } from '../util/bytes.js';
import { BadFrameError, MembershipError } from './errors.js';
import { NO_CLUSTER } from './frame.js';
import { formatClusterId, writeFileAtomic } from './identity.js';
import { parseAddress } from './address.js';

export const MEMBERS_FILE = 'MEMBERS';
/** Bound on the members an address book (file or snapshot context) may list. */
export const MEMBERS_MAX = 1000;

export class AddressBook {
  private readonly byId = new Map<NodeId, string>();

  get(id: NodeId): string | undefined {
    return this.byId.get(id);
  }

  set(id: NodeId, address: string): void {
    parseAddress(address);
    this.byId.set(id, address);
  }

  delete(id: NodeId): void {
    this.byId.delete(id);
  }

  entries(): Array<[NodeId, string]> {
    return [...this.byId.entries()].sort((a, b) => a[0] - b[0]);
  }

  /** Replaces every address with those of `other` (a snapshot's book), keeping `keep` (this node). */
  replaceWith(other: AddressBook, keepId: NodeId, keepAddress: string): void {
    this.byId.clear();
    for (const [id, address] of other.entries()) this.byId.set(id, address);
    this.byId.set(keepId, keepAddress);
  }

  /** Drops the addresses of ids that are not members of `conf`, except `keepId`. */
  retainMembers(conf: ConfState, keepId: NodeId): void {
    const members = new Set([...conf.voters, ...conf.learners, keepId]);
    for (const id of [...this.byId.keys()]) if (!members.has(id)) this.byId.delete(id);
  }

  encode(): Uint8Array {
    let text = 'lsmraft-members v1\n';
    for (const [id, address] of this.entries()) text += `${id} ${address}\n`;
    const crc = maskCrc(crc32c(utf8(text))) >>> 0;
    return utf8(`${text}crc=${crc.toString(16).padStart(8, '0')}\n`);
  }

  /** Parses an encoded book; `onBad` builds the error (corruption for a file, bad frame for the wire). */
  static decode(bytes: Uint8Array, onBad: (why: string) => Error): AddressBook {
    const text = fromUtf8(bytes);
    const crcAt = text.lastIndexOf('crc=');
    if (crcAt < 0 || !text.startsWith('lsmraft-members v1\n')) throw onBad('not an address book');
    const m = /^crc=([0-9a-f]{8})\n$/.exec(text.slice(crcAt));
    if (m === null || (maskCrc(crc32c(utf8(text.slice(0, crcAt)))) >>> 0) !== Number.parseInt(m[1]!, 16)) {
      throw onBad('address book fails its checksum');
    }
    const lines = text.slice(0, crcAt).split('\n').slice(1, -1);
    if (lines.length > MEMBERS_MAX) throw onBad(`address book lists ${lines.length} members`);
    const book = new AddressBook();
    for (const line of lines) {
      const lm = /^(\d{1,15}) (\S+)$/.exec(line);
      if (lm === null || Number(lm[1]) === 0) throw onBad(`bad address book line "${line.slice(0, 80)}"`);
      try {
        book.set(Number(lm[1]), lm[2]!);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        throw onBad(`bad address "${lm[2]!.slice(0, 80)}" in the address book`);
      }
    }
    return book;
  }

  static decodeWire(bytes: Uint8Array): AddressBook {
    return AddressBook.decode(bytes, (why) => new BadFrameError(`snapshot address book: ${why}`));
  }

  static read(fs: FileSystem, dataDir: string): AddressBook {
    const path = joinPath(dataDir, MEMBERS_FILE);
    if (!fs.exists(path)) return new AddressBook();
    return AddressBook.decode(fs.readFile(path), (why) => new CorruptionError(`members file: ${why}`, path));
  }

  async write(fs: FileSystem, dataDir: string): Promise<void> {
    await writeFileAtomic(fs, dataDir, MEMBERS_FILE, this.encode());
  }
}

/** Least time a new learner gets to catch up before `add` gives up promoting it. */
export const ADD_CATCH_UP_MS_MIN = 30_000;

/** Bound on a whole addMember at the leader: join, learner, catch-up, promotion, plus a margin. */
export function addMemberBudgetMs(requestTimeoutMs: number): number {
  return Math.max(requestTimeoutMs, ADD_CATCH_UP_MS_MIN) + 4 * requestTimeoutMs;
}

/** A conf change's context: the member's address in UTF-8 (empty for removals). */
export function encodeMemberContext(address: string): Uint8Array {
  return utf8(address);
}

/**
 * The address a conf change's context names, or undefined for an empty context (a removal).
 * Throws MembershipError for a context that is not a valid address.
 */
export function decodeMemberContext(context: Uint8Array | undefined): string | undefined {
  if (context === undefined || context.length === 0) return undefined;
  const address = fromUtf8(context);
  try {
    parseAddress(address);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    throw new MembershipError(`conf change context "${address.slice(0, 80)}" is not a member address: ${err.message}`);
  }
  return address;
}

/** What a node knows of itself when a leader asks it to join (step 2 of the handshake). */
export interface JoinCandidateState {
  nodeId: NodeId;
  clusterId: bigint;
  hasUserData: boolean;
  conf: ConfState;
}

/**
 * Why node `self` must refuse to join cluster `clusterId` as `asNodeId`, or undefined if it may.
 * 'already' means it is already in that cluster (a retried add): answer ok without a reset.
 */
export function joinRefusal(self: JoinCandidateState, clusterId: bigint, asNodeId: NodeId): string | 'already' | undefined {
  if (asNodeId !== self.nodeId) return `the node at this address is node ${self.nodeId}, not node ${asNodeId}`;
  if (clusterId === self.clusterId) return 'already';
  if (self.hasUserData) return `node ${self.nodeId} holds user data; only an empty node can join another cluster`;
  // A fresh node is its own one-member cluster; a blank one (no members) either was started to
  // wait for the cluster that added it (cluster id 0: it takes the first) or accepted a join
  // already and waits for that cluster's leader (it takes no other).
  const alone = self.conf.learners.length === 0 && self.conf.voters.length === 1 && self.conf.voters[0] === self.nodeId;
  const blank = self.conf.learners.length === 0 && self.conf.voters.length === 0;
  if (!alone && !blank) {
    return `node ${self.nodeId} is a member of another cluster (voters ${self.conf.voters.join(',') || 'none'}); remove it there and restart it empty first`;
  }
  if (blank && self.clusterId !== NO_CLUSTER) {
    return `node ${self.nodeId} joined cluster ${formatClusterId(self.clusterId)} and waits for its leader; remove it there and restart it empty first`;
  }
  return undefined;
}
