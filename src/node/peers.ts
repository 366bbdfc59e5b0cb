/**
 * Peers: the node's address book kept in step with the transport's peer connections, persisted in
 * order (the MEMBERS file, membership.ts), and what a committed membership change does to them.
 * Also when each peer was last heard from (members()' lastContactMs).
 *
 * What must hold: every member but this node has a peer connection at its book address; book
 * writes are chained, so the file on disk is the newest book written; a write failure stops the
 * node (onFatal): the member list on disk is then unknown.
 */
import type { FileSystem } from '../lsm/fs.js';
import type { ConfChange, ConfState, NodeId } from '../raft/types.js';
import { MembershipError } from './errors.js';
import { AddressBook, decodeMemberContext } from './membership.js';
import type { Transport } from './transport.js';

export interface PeersHost {
  id: NodeId;
  fs: FileSystem;
  dataDir: string;
  transport: Transport;
  /** This node's announced address (it may change once, when port 0 is bound). */
  advertise(): string;
  warn(fields: Record<string, unknown>, message: string): void;
  fatal(err: unknown): void;
}

export class Peers {
  /** Wall time (ms) of the last Raft message received from each peer. */
  readonly lastHeardAt = new Map<NodeId, number>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly h: PeersHost, readonly book: AddressBook) {}

  /** Names this node in the book and connects to every other member (at start). */
  connectAll(): void {
    this.book.set(this.h.id, this.h.advertise());
    for (const [id, address] of this.book.entries()) if (id !== this.h.id) this.h.transport.setPeer(id, address);
  }

  add(id: NodeId, address: string): void {
    this.book.set(id, address);
    this.h.transport.setPeer(id, address);
  }

  heard(id: NodeId): void {
    this.lastHeardAt.set(id, Date.now());
  }

  /** Takes a leader's book (from a snapshot) as this node's. */
  adopt(book: AddressBook): void {
    this.book.replaceWith(book, this.h.id, this.h.advertise());
    for (const [id, address] of this.book.entries()) if (id !== this.h.id) this.h.transport.setPeer(id, address);
    this.write().catch(() => undefined); // a failure reaches fatal through the write chain
  }

  /** Forgets every peer but the leader `leaderId` at `leaderAddress` (a join); persists the book. */
  async reset(leaderId: NodeId, leaderAddress: string): Promise<void> {
    for (const [id] of this.book.entries()) if (id !== this.h.id) this.h.transport.removePeer(id);
    this.book.replaceWith(new AddressBook(), this.h.id, this.h.advertise());
    this.book.set(leaderId, leaderAddress);
    await this.write();
    this.h.transport.setPeer(leaderId, leaderAddress);
  }

  /**
   * A committed membership change: peers follow the configuration, and the book is persisted.
   * Returns true when the change removes this node (the caller decides when that is final).
   */
  async confChangeApplied(cc: ConfChange, conf: ConfState, index: number): Promise<boolean> {
    const id = cc.nodeId;
    let removesSelf = false;
    if (cc.type === 'removeVoter') {
      if (id !== this.h.id) {
        this.book.delete(id);
        this.h.transport.removePeer(id);
        this.lastHeardAt.delete(id);
      } else {
        removesSelf = true;
      }
    } else {
      // A committed add names its member's address (addMember checks it before proposing). One
      // that does not decode is logged; the member stays unreachable until a HELLO of its own
      // or a snapshot's address book names it.
      let address: string | undefined;
      try {
        address = decodeMemberContext(cc.context);
      } catch (err) {
        if (!(err instanceof MembershipError)) throw err;
        this.h.warn({ component: 'membership', index }, `node ${this.h.id}: ${cc.type} ${id} at ${index}: ${err.message}`);
      }
      if (address !== undefined && id !== this.h.id) this.add(id, address);
    }
    this.book.retainMembers(conf, this.h.id);
    await this.write();
    return removesSelf;
  }

  /** Persists the book; writes are chained so the last one written is the newest. */
  write(): Promise<void> {
    const book = this.book;
    const write = this.writes.then(() => book.write(this.h.fs, this.h.dataDir));
    this.writes = write.catch((err) => this.h.fatal(err));
    return write;
  }

  /** Resolves once every write issued so far settled (stop). */
  settled(): Promise<void> {
    return this.writes;
  }
}
