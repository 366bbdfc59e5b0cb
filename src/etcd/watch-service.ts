/**
 * etcd's Watch service (etcdserverpb.Watch/Watch, a bidirectional stream), after etcd's
 * server/etcdserver/api/v3rpc/watch.go: one WatchStream of the hub per gRPC stream; create, cancel
 * and progress requests in; created / canceled / event / progress responses out.
 *
 * Messages are the proto-loader objects of src/etcd/protos.ts (keepCase, int64 as decimal strings,
 * bytes as Buffers, oneofs named). Events come from this replica's applies (watch-hub.ts), so a
 * watch served by a follower keeps its stream, and its order, across leader changes.
 *
 * Flow control: a response the gRPC stream could not take at once (write() returned false) holds
 * the hub's event responses back until 'drain'; the hub bounds what waits meanwhile.
 * Fragmentation: a watcher created with `fragment` gets an event response larger than
 * fragmentBytesMax split into several, all but the last marked fragment (etcd's sendFragments).
 */
import type { MvccEvent } from '../mvcc/types.js';
import { kvToWire, type Wire } from './convert.js';
import { etcdStatusOf } from './errors.js';
import type { WatchHub, WatchStream } from './watch-hub.js';
import type { WatchCreate, WatchHubResponse } from './watch-types.js';

export interface WireEvent {
  type: 'PUT' | 'DELETE';
  kv: Wire;
  prev_kv: Wire | null;
}

export interface WireWatchResponse {
  /** etcdserverpb.ResponseHeader (convert.ts header()). */
  header: Wire;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: WireEvent[];
}

interface WireWatchCreate {
  key: Buffer;
  range_end: Buffer;
  start_revision: string;
  progress_notify: boolean;
  filters: string[];
  prev_kv: boolean;
  watch_id: string;
  fragment: boolean;
}

export interface WireWatchRequest {
  request_union?: 'create_request' | 'cancel_request' | 'progress_request';
  create_request?: WireWatchCreate | null;
  cancel_request?: { watch_id: string } | null;
  progress_request?: object | null;
}

/** The part of grpc-js's ServerDuplexStream the service uses (a fake in unit tests). */
export interface WatchCall {
  on(event: 'data', listener: (req: WireWatchRequest) => void): unknown;
  on(event: 'end' | 'close' | 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  write(resp: WireWatchResponse): boolean;
  end(): void;
}

export interface WatchServiceOptions {
  /** Encoded size past which a fragmenting watcher's response is split (etcd: max request bytes). */
  fragmentBytesMax: number;
}

/** etcd's message when a create asks for a negative start revision (rpctypes.ErrCompacted). */
const COMPACTED_REASON = 'etcdserver: mvcc: required revision has been compacted';

/** Accounted size of an event beside its keys and values, for fragmenting. */
const WIRE_EVENT_OVERHEAD_BYTES = 64;

function wireEvent(e: MvccEvent): WireEvent {
  return { type: e.type, kv: kvToWire(e.kv), prev_kv: e.prevKv === undefined ? null : kvToWire(e.prevKv) };
}

function wireEventBytes(e: MvccEvent): number {
  let n = WIRE_EVENT_OVERHEAD_BYTES + e.kv.key.length + e.kv.value.length;
  if (e.prevKv !== undefined) n += e.prevKv.key.length + e.prevKv.value.length;
  return n;
}

/** The WatchCreate of a wire create request, with etcd's defaults for key and range_end. */
function watchCreateOf(c: WireWatchCreate): WatchCreate {
  // An empty key is "\0", the smallest key; an empty range_end is the key alone.
  return {
    key: c.key.length === 0 ? new Uint8Array([0]) : new Uint8Array(c.key),
    rangeEnd: c.range_end.length === 0 ? undefined : new Uint8Array(c.range_end),
    startRevision: Number(c.start_revision),
    watchId: Number(c.watch_id),
    noPut: c.filters.includes('NOPUT'),
    noDelete: c.filters.includes('NODELETE'),
    prevKv: c.prev_kv,
    progressNotify: c.progress_notify,
  };
}

/**
 * Serves one Watch call until either side ends it. `header(revision)` fills the response header
 * (cluster, member, term) for a revision.
 */
export function serveWatch(
  call: WatchCall,
  hub: WatchHub,
  header: (revision: number) => Wire,
  options: WatchServiceOptions,
): void {
  const fragmenting = new Set<number>();
  let stream: WatchStream | undefined;

  const response = (revision: number, watchId: number, fields: Partial<WireWatchResponse>): WireWatchResponse => ({
    header: header(revision),
    watch_id: String(watchId),
    created: false,
    canceled: false,
    compact_revision: '0',
    cancel_reason: '',
    fragment: false,
    events: [],
    ...fields,
  });

  const sendEvents = (r: WatchHubResponse & { kind: 'events' }): boolean => {
    const total = r.events.reduce((n, e) => n + wireEventBytes(e), 0);
    if (!fragmenting.has(r.watchId) || total <= options.fragmentBytesMax || r.events.length < 2) {
      return call.write(response(r.revision, r.watchId, { events: r.events.map(wireEvent) }));
    }
    let ok = true;
    let chunk: WireEvent[] = [];
    let bytes = 0;
    for (const e of r.events) {
      const b = wireEventBytes(e);
      if (chunk.length > 0 && bytes + b > options.fragmentBytesMax) {
        ok = call.write(response(r.revision, r.watchId, { events: chunk, fragment: true })) && ok;
        chunk = [];
        bytes = 0;
      }
      chunk.push(wireEvent(e));
      bytes += b;
    }
    return call.write(response(r.revision, r.watchId, { events: chunk })) && ok;
  };

  const send = (r: WatchHubResponse): boolean => {
    switch (r.kind) {
      case 'events':
        return sendEvents(r);
      case 'progress':
        return call.write(response(r.revision, r.watchId, {}));
      case 'compacted':
        fragmenting.delete(r.watchId);
        return call.write(
          response(r.revision, r.watchId, { canceled: true, compact_revision: String(r.compactRevision) }),
        );
      case 'failed':
        fragmenting.delete(r.watchId);
        return call.write(
          response(r.revision, r.watchId, { canceled: true, cancel_reason: etcdStatusOf(r.error, true).details }),
        );
    }
  };

  stream = hub.openStream({ send });
  const close = (): void => {
    stream?.close();
    stream = undefined;
  };

  call.on('data', (req: WireWatchRequest) => {
    if (stream === undefined) return;
    switch (req.request_union) {
      case 'create_request': {
        const c = req.create_request;
        if (c == null) return;
        const create = watchCreateOf(c);
        if (create.startRevision < 0) {
          call.write(response(hub.revision, -1, { created: true, canceled: true, cancel_reason: COMPACTED_REASON }));
          return;
        }
        const result = stream.watch(create);
        if ('reason' in result) {
          call.write(response(hub.revision, -1, { created: true, canceled: true, cancel_reason: result.reason }));
          return;
        }
        if (c.fragment) fragmenting.add(result.id);
        // The hub sends nothing for a new watcher before this returns (its first read is deferred),
        // so `created` always precedes the watcher's events.
        if (!call.write(response(hub.revision, result.id, { created: true }))) stream.transportFull();
        return;
      }
      case 'cancel_request': {
        const id = Number(req.cancel_request?.watch_id ?? -1);
        if (!stream.cancel(id)) return; // etcd sends nothing for an unknown id
        fragmenting.delete(id);
        if (!call.write(response(hub.revision, id, { canceled: true }))) stream.transportFull();
        return;
      }
      case 'progress_request':
        stream.requestProgress();
        return;
      default:
        return; // etcd ignores a request of no known kind rather than ending the stream
    }
  });
  call.on('drain', () => stream?.drained());
  call.on('end', () => {
    close();
    call.end();
  });
  call.on('close', close);
  call.on('error', close);
}
