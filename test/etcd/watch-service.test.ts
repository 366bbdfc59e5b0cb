import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WatchHub } from '../../src/etcd/watch-hub.js';
import {
  serveWatch,
  type WatchCall,
  type WireWatchRequest,
  type WireWatchResponse,
} from '../../src/etcd/watch-service.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { FakeWatchSource, settle } from './fake-watch-source.js';

/** A grpc-js duplex call stand-in: the test pushes requests, reads responses, and fills the buffer. */
class FakeCall extends EventEmitter implements WatchCall {
  readonly written: WireWatchResponse[] = [];
  full = false;
  ended = false;
  write(resp: WireWatchResponse): boolean {
    this.written.push(resp);
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
  request(req: WireWatchRequest): void {
    this.emit('data', req);
  }
}

function createReq(fields: Partial<NonNullable<WireWatchRequest['create_request']>>): WireWatchRequest {
  return {
    request_union: 'create_request',
    create_request: {
      key: Buffer.alloc(0),
      range_end: Buffer.alloc(0),
      start_revision: '0',
      progress_notify: false,
      filters: [],
      prev_kv: false,
      watch_id: '0',
      fragment: false,
      ...fields,
    },
  };
}

const header = (revision: number) => ({ cluster_id: '1', member_id: '2', revision: String(revision), raft_term: '3' });

const hubs: WatchHub[] = [];
function setup(fragmentBytesMax = 1 << 20): { src: FakeWatchSource; hub: WatchHub; call: FakeCall } {
  const src = new FakeWatchSource();
  const hub = new WatchHub(src, { progressIntervalMs: 0 });
  hubs.push(hub);
  const call = new FakeCall();
  serveWatch(call, hub, header, { fragmentBytesMax });
  return { src, hub, call };
}
afterEach(() => {
  for (const h of hubs.splice(0)) h.close();
});

function brief(r: WireWatchResponse): string {
  const flags = [r.created && 'created', r.canceled && 'canceled', r.fragment && 'fragment'].filter(Boolean).join(',');
  const events = r.events.map((e) => `${e.type} ${String(e.kv.key)}=${String(e.kv.value)}@${String(e.kv.mod_revision)}`);
  return `id=${r.watch_id} rev=${String(r.header.revision)} ${flags} ${r.compact_revision !== '0' ? `compact=${r.compact_revision} ` : ''}${r.cancel_reason} [${events.join(' ')}]`.replace(/\s+/g, ' ');
}

describe('serveWatch', () => {
  it('creates, streams events with etcd wire fields, and cancels', () => {
    const { src, call } = setup();
    src.apply([['a', '1']]);
    call.request(createReq({ key: Buffer.from('a'), range_end: Buffer.from('c'), prev_kv: true }));
    src.apply([['b', 'x']]);
    src.apply([['a', '2']]);
    call.request({ request_union: 'cancel_request', cancel_request: { watch_id: '0' } });
    call.request({ request_union: 'cancel_request', cancel_request: { watch_id: '7' } }); // unknown: nothing
    src.apply([['a', '3']]);
    expect(call.written.map(brief)).toEqual([
      'id=0 rev=2 created []',
      'id=0 rev=3 [PUT b=x@3]',
      'id=0 rev=4 [PUT a=2@4]',
      'id=0 rev=4 canceled []',
    ]);
    const put = call.written[2]!.events[0]!;
    expect(put.kv).toMatchObject({ create_revision: 2, version: 2, lease: 0n });
    expect(String(put.prev_kv?.value)).toBe('1');
    expect(call.written[1]!.events[0]!.prev_kv).toBeNull();
  });

  it('watches every key for key "\\0"-less empty key with range_end "\\0", and refuses bad creates as etcd does', () => {
    const { src, call } = setup();
    call.request(createReq({ range_end: Buffer.from([0]) }));
    call.request(createReq({ key: Buffer.from('b'), range_end: Buffer.from('a') }));
    call.request(createReq({ key: Buffer.from('b'), start_revision: '-1' }));
    call.request(createReq({ key: Buffer.from('b'), watch_id: '0' }));
    call.request(createReq({ key: Buffer.from('b'), watch_id: '1' }));
    src.apply([['zz', '1']]);
    expect(call.written.map(brief)).toEqual([
      'id=0 rev=1 created []',
      'id=-1 rev=1 created,canceled mvcc: watcher range is empty []',
      'id=-1 rev=1 created,canceled etcdserver: mvcc: required revision has been compacted []',
      'id=1 rev=1 created []',
      'id=-1 rev=1 created,canceled mvcc: duplicate watch ID provided on the WatchStream []',
      'id=0 rev=2 [PUT zz=1@2]',
    ]);
  });

  it('replies created before canceling a watcher whose start revision was compacted', async () => {
    const { src, call } = setup();
    for (let i = 0; i < 4; i++) src.apply([['k', `${i}`]]);
    src.compact(3);
    call.request(createReq({ key: Buffer.from('k'), start_revision: '2' }));
    await settle();
    call.request(createReq({ key: Buffer.from('k'), start_revision: '4' }));
    await settle();
    expect(call.written.map(brief)).toEqual([
      'id=0 rev=5 created []',
      'id=0 rev=5 canceled compact=3 []',
      'id=1 rev=5 created []',
      'id=1 rev=5 [PUT k=2@4 PUT k=3@5]',
    ]);
  });

  it('splits a large response of a fragmenting watcher, and only its', async () => {
    const { src, call } = setup(200);
    const big = 'v'.repeat(100);
    src.apply([['a', big], ['b', big], ['c', big], ['d', big], ['e', big]]);
    call.request(createReq({ key: Buffer.from('a'), range_end: Buffer.from([0]), start_revision: '2', fragment: true }));
    call.request(createReq({ key: Buffer.from('a'), range_end: Buffer.from([0]), start_revision: '2' }));
    await settle();
    const of = (id: string): string[] =>
      call.written.filter((r) => r.watch_id === id && !r.created).map((r) => `${r.fragment ? 'F' : 'L'}${r.events.length}`);
    expect(of('0')).toEqual(['F1', 'F1', 'F1', 'F1', 'L1']);
    expect(of('1')).toEqual(['L5']);
  });

  it('holds events while the transport is full and sends them on drain; ends the hub stream with the call', () => {
    const { src, hub, call } = setup();
    call.request(createReq({ key: Buffer.from('a') }));
    call.full = true;
    src.apply([['a', '1']]);
    src.apply([['a', '2']]);
    expect(call.written.length).toBe(2); // created, then the write that filled the buffer
    call.full = false;
    call.emit('drain');
    expect(call.written.map(brief).slice(1)).toEqual(['id=0 rev=2 [PUT a=1@2]', 'id=0 rev=3 [PUT a=2@3]']);
    call.emit('end');
    expect(call.ended).toBe(true);
    expect(hub.stats()).toMatchObject({ synced: 0, unsynced: 0 });
  });

  it('cancels a watcher whose history read the store refuses for good, with etcd\'s message for the error', async () => {
    const { src, call, hub } = setup();
    src.apply([['k', '1']]);
    src.readError = new InvalidArgumentError('key is too long', 'KV_ERR_INVALID_ARGUMENT');
    call.request(createReq({ key: Buffer.from('k'), start_revision: '2' }));
    await settle();
    expect(call.written.map(brief)).toEqual(['id=0 rev=2 created []', 'id=0 rev=2 canceled etcdserver: key is too long []']);
    expect(hub.stats()).toMatchObject({ synced: 0, unsynced: 0 });
  });

  it('drops the watchers of a call the client cancelled', () => {
    const { hub, call } = setup();
    call.request(createReq({ key: Buffer.from('a') }));
    call.request(createReq({ key: Buffer.from('b'), range_end: Buffer.from('c') }));
    expect(hub.stats().synced).toBe(2);
    call.emit('close'); // grpc-js: 'cancelled', then the stream is destroyed
    expect(hub.stats().synced).toBe(0);
    call.request(createReq({ key: Buffer.from('a') })); // a late message is ignored
    expect(hub.stats().synced).toBe(0);
  });

  it('answers a progress request with watch id -1 at the current revision', () => {
    const { src, call } = setup();
    src.apply([['a', '1']]);
    call.request({ request_union: 'progress_request', progress_request: {} });
    expect(call.written.map(brief)).toEqual(['id=-1 rev=2 []']);
  });
});
