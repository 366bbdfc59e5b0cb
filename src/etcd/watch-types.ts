/**
 * The watch hub's interfaces (watch-hub.ts): what it reads (WatchSource, the node's etcd hook),
 * what a stream asks of it (WatchCreate) and what it sends back (WatchHubResponse, through a
 * WatchSink), its limits, and etcd's reasons for refusing a watch.
 */
import type { LsmraftError } from '../errors.js';
import type { MvccEvent, RevisionEvents } from '../mvcc/types.js';

/** The replica's applied revisions, as the hub reads them (the node's etcd hook). */
export interface WatchSource {
  /**
   * Calls `listener` with every revision applied from now on, in order, once each. REQUIRES: when
   * the listener sees revision R, readEvents can already return R.
   */
  onApplied(listener: (batch: RevisionEvents) => void): () => void;
  /**
   * The retained events of revisions in [from, to] for keys in the watch range (rangeEnd as in
   * WatchCreate: undefined = the one key, "\0" = every key from `key` on, else [key, rangeEnd)),
   * each event with its prevKv when there was one. Whole revisions, in order; it may stop after the
   * revision at which the events returned reach countMax (so fewer than countMax events means the
   * whole interval was read). Rejects when `from` was compacted.
   */
  readEvents(
    from: number,
    to: number,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    countMax: number,
  ): Promise<RevisionEvents[]>;
  /** The last applied revision. */
  currentRevision(): number;
  /** Revisions below this one are gone from history. */
  compactRevision(): number;
}

export interface WatchHubOptions {
  /** Events a watcher may hold unsent before it becomes a victim. */
  pendingEventsMax: number;
  /** Bytes (keys and values) a watcher may hold unsent before it becomes a victim. */
  pendingBytesMax: number;
  /** Events one history read may return. */
  catchupEventsMax: number;
  /** Revisions one history read may span. */
  catchupRevisionsMax: number;
  /** History reads in flight at once, over all watchers. */
  catchupReadsMax: number;
  /** Watchers one stream may hold. */
  watchersPerStreamMax: number;
  /** Period of progress notifications to watchers that asked for them (etcd: 10 minutes); 0 = none. */
  progressIntervalMs: number;
  /** Period of the check for a revision jump no apply reported (a snapshot install); 0 = none. */
  headCheckMs: number;
  /** After a history read failed with the state unavailable (a snapshot install), the wait before the next. */
  catchupRetryMs: number;
}

export const DEFAULT_WATCH_HUB_OPTIONS: WatchHubOptions = {
  pendingEventsMax: 1024,
  pendingBytesMax: 4 * 1024 * 1024,
  catchupEventsMax: 1000,
  catchupRevisionsMax: 10_000,
  catchupReadsMax: 4,
  watchersPerStreamMax: 10_000,
  progressIntervalMs: 10 * 60 * 1000,
  headCheckMs: 1000,
  catchupRetryMs: 100,
};

/** What a stream asks to watch (WatchCreateRequest). */
export interface WatchCreate {
  key: Uint8Array;
  /** undefined: the one key; "\0": every key from `key` on (etcd's convention); else [key, rangeEnd). */
  rangeEnd: Uint8Array | undefined;
  /** 0: from the next applied revision. */
  startRevision: number;
  /** A watch id the client chose; 0 lets the stream pick (etcd's AutoWatchID). */
  watchId: number;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  progressNotify: boolean;
}

/** What the hub sends a stream, beside the created/canceled replies the service makes itself. */
export type WatchHubResponse =
  | { kind: 'events'; watchId: number; revision: number; events: MvccEvent[] }
  /** The watcher is gone: its start revision was compacted away. */
  | { kind: 'compacted'; watchId: number; revision: number; compactRevision: number }
  /** The watcher is gone: the store refused its history read for good (the error goes to the client). */
  | { kind: 'failed'; watchId: number; revision: number; error: LsmraftError }
  /** No events up to `revision`; watchId -1 speaks for every watcher of the stream. */
  | { kind: 'progress'; watchId: number; revision: number };

export interface WatchSink {
  /** Sends one response; false when the transport is full, until the stream's drained() is called. */
  send(response: WatchHubResponse): boolean;
}

/** Cancel reasons of a refused create, etcd's words where etcd has them (server/mvcc/watcher.go). */
export const WATCH_RANGE_EMPTY = 'mvcc: watcher range is empty';
export const WATCH_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';
export const WATCH_TOO_MANY = 'etcdserver: too many watchers on this stream';

/** range_end "\0": every key from the start key on. */
export function isFromKey(rangeEnd: Uint8Array): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}
