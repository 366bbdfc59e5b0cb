/**
 * Routes the frames a node receives (peer frames and client frames, frame.ts) to the part of the
 * node that serves them: HELLO to the address book, RAFT to the core, CLIENT_REQUEST to
 * client-service.ts, JOIN_REQUEST to join-target.ts, SNAPSHOT_CHUNK and SNAPSHOT_ACK to the
 * snapshot shipper (snapshot/shipper.ts).
 *
 * What must hold: nothing a peer or client sends can crash the process. A payload that does not
 * decode throws BadFrameError, and the transport closes the connection that carried it; a request
 * that fails is answered with an error code (client-service.ts, join-target.ts).
 */
import { InvalidArgumentError } from '../errors.js';
import type { Message, NodeId } from '../raft/types.js';
import { parseAddress } from './address.js';
import { decodeClientRequest, decodeJoinRequest, decodeMessage, encodeClientResponse, type ClientRequest, type ClientResponse } from './codec.js';
import { BadFrameError } from './errors.js';
import { FrameType, type DecodedFrame } from './frame.js';
import type { JoinTarget } from './join-target.js';
import { AddressBook } from './membership.js';
import type { SnapshotShipper } from './snapshot/shipper.js';
import { snapshotIdOf } from './snapshot/checkpoint.js';
import type { Connection } from './transport.js';

/** What the frame router needs of its node. */
export interface FrameRouterHost {
  readonly id: NodeId;
  readonly book: AddressBook;
  readonly join: JoinTarget;
  readonly snapshots: SnapshotShipper;
  log(line: string): void;
  isRunning(): boolean;
  /** Removed from the cluster: client requests are still answered (with KV_ERR_REMOVED), nothing else. */
  isRemoved(): boolean;
  joining(): boolean;
  /** Records a member's address and connects to it. */
  addPeer(id: NodeId, address: string): void;
  /** Adopts the address book a snapshot carries (and persists it). */
  adoptBook(book: AddressBook): void;
  serveClient(req: ClientRequest): Promise<ClientResponse>;
  reply(conn: Connection, type: FrameType, payload: Uint8Array): void;
  /** Steps a message into the Raft core and wakes the Ready loop. */
  step(m: Message): void;
}

export class FrameRouter {
  constructor(private readonly h: FrameRouterHost) {}

  /** The transport's onFrame: throws BadFrameError for a payload that does not decode. */
  onFrame(frame: DecodedFrame, conn: Connection): void {
    const h = this.h;
    if (!h.isRunning() && !(h.isRemoved() && frame.type === FrameType.CLIENT_REQUEST)) return;
    switch (frame.type) {
      case FrameType.HELLO: {
        // A peer this node has no address for (it learns of members through conf changes and
        // snapshots, but a restarted or joining node may hear from one first): remember its address.
        const address = conn.peerListenAddress;
        if (address !== undefined && h.book.get(frame.senderId) === undefined && frame.senderId !== h.id) {
          try {
            parseAddress(address);
          } catch (err) {
            if (!(err instanceof InvalidArgumentError)) throw err;
            throw new BadFrameError(`HELLO from node ${frame.senderId} announces a bad address`);
          }
          h.addPeer(frame.senderId, address);
        }
        return;
      }
      case FrameType.RAFT:
        this.onRaftMessage(decodeMessage(frame.payload));
        return;
      case FrameType.CLIENT_REQUEST: {
        const req = decodeClientRequest(frame.payload);
        void h.serveClient(req).then((res) => {
          h.reply(conn, FrameType.CLIENT_RESPONSE, encodeClientResponse(res));
        });
        return;
      }
      case FrameType.JOIN_REQUEST: {
        const req = decodeJoinRequest(frame.payload);
        void h.join.handleJoin(req).then((res) => {
          h.reply(conn, FrameType.JOIN_RESPONSE, encodeClientResponse(res));
        });
        return;
      }
      case FrameType.SNAPSHOT_CHUNK:
        h.snapshots.onChunk(frame.payload, (ack) => h.reply(conn, FrameType.SNAPSHOT_ACK, ack));
        return;
      case FrameType.SNAPSHOT_ACK:
        h.snapshots.onAck(frame.senderId, frame.payload);
        return;
      default:
        throw new BadFrameError(`frame type ${frame.type} is not served by a node`);
    }
  }

  private onRaftMessage(m: Message): void {
    const h = this.h;
    if (m.to !== h.id || h.joining()) {
      if (m.to !== h.id) h.log(`node ${h.id}: dropped a ${m.type} message addressed to node ${m.to}`);
      return;
    }
    if (m.type === 'snap') {
      if (m.snapshot === undefined) throw new BadFrameError('snap message without a snapshot');
      const id = snapshotIdOf(m.snapshot);
      if (id !== undefined && !h.snapshots.hasReceived(id)) {
        h.log(`node ${h.id}: dropped snapshot message ${id}: its files were not received`);
        return;
      }
      if (m.context !== undefined && m.context.length > 0) h.adoptBook(AddressBook.decodeWire(m.context));
    }
    h.step(m);
  }
}
