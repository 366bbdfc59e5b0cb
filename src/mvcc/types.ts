/**
 * The values of etcd's MVCC model (etcd api/mvccpb/kv.proto: KeyValue, Event), as the MVCC store
 * (this folder), the watch hub and the lessor (src/etcd) exchange them. The gRPC layer maps them to
 * and from the wire messages; nothing here knows about protobuf.
 *
 * Revisions and versions are int64 on the wire; here they are numbers, and the store refuses to go
 * past Number.MAX_SAFE_INTEGER. Lease ids are int64 chosen by clients or the leader, so they are
 * bigints; 0n means "no lease".
 */

/** mvccpb.KeyValue. */
export interface KeyValue {
  key: Uint8Array;
  /** Revision of the last creation of this key (the put after a delete or on an absent key). */
  createRevision: number;
  /** Revision of the last modification. */
  modRevision: number;
  /** Number of modifications since the key was created (1 after creation); a delete resets it to 0. */
  version: number;
  value: Uint8Array;
  /** The lease attached to the key, 0n if none. */
  lease: bigint;
}

/** mvccpb.Event.EventType. */
export type EventType = 'PUT' | 'DELETE';

/**
 * mvccpb.Event: one change of one key. A DELETE event's kv holds the key and the deleting revision
 * as modRevision (other fields zero), as etcd sends it.
 */
export interface MvccEvent {
  type: EventType;
  kv: KeyValue;
  /** The key-value before this event, when a watcher asked for it (prev_kv). */
  prevKv?: KeyValue;
}

/**
 * The changes one applied write transaction made: every event carries `revision` as its
 * modRevision, in the order the transaction made them. A transaction that changed nothing does not
 * advance the revision and produces no batch.
 */
export interface RevisionEvents {
  revision: number;
  events: MvccEvent[];
}
