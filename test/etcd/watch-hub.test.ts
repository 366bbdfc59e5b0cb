import { afterEach, describe, expect, it, vi } from 'vitest';
import { WatchHub, type WatchStream } from '../../src/etcd/watch-hub.js';
import {
  WATCH_DUPLICATE_ID,
  WATCH_RANGE_EMPTY,
  WATCH_TOO_MANY,
  type WatchCreate,
  type WatchHubOptions,
  type WatchHubResponse,
} from '../../src/etcd/watch-types.js';
import type { MvccEvent } from '../../src/mvcc/types.js';
import { compareBytes, utf8 } from '../../src/util/bytes.js';
import { Rng, testSeeds } from '../helpers/rng.js';
import { FakeWatchSource, eventText, settle } from './fake-watch-source.js';

/** A sink that records what it is sent and reports itself full when `full` is set. */
class RecordingSink {
  readonly responses: WatchHubResponse[] = [];
  full = false;
  onSend: ((r: WatchHubResponse) => void) | undefined;
  send(r: WatchHubResponse): boolean {
    this.onSend?.(r);
    this.responses.push(r);
    return !this.full;
  }
  events(watchId: number): string[] {
    return this.responses.flatMap((r) => (r.kind === 'events' && r.watchId === watchId ? r.events.map(eventText) : []));
  }
}

function create(key: string, opts: Partial<WatchCreate> & { end?: string } = {}): WatchCreate {
  return {
    key: utf8(key),
    rangeEnd: opts.end === undefined ? opts.rangeEnd : utf8(opts.end),
    startRevision: opts.startRevision ?? 0,
    watchId: opts.watchId ?? 0,
    noPut: opts.noPut ?? false,
    noDelete: opts.noDelete ?? false,
    prevKv: opts.prevKv ?? false,
    progressNotify: opts.progressNotify ?? false,
  };
}

function idOf(r: { id: number } | { reason: string }): number {
  if (!('id' in r)) throw new Error(`watch refused: ${r.reason}`);
  return r.id;
}

const hubs: WatchHub[] = [];
function newHub(source: FakeWatchSource, options: Partial<WatchHubOptions> = {}): WatchHub {
  const hub = new WatchHub(source, { progressIntervalMs: 0, ...options });
  hubs.push(hub);
  return hub;
}
afterEach(() => {
  for (const h of hubs.splice(0)) h.close();
  vi.useRealTimers();
});

describe('WatchHub', () => {
  it('gives a watcher from now the live events of its key range, filtered and shaped as asked', () => {
    const src = new FakeWatchSource();
    src.apply([['a', '0']]);
    const hub = newHub(src);
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    const all = idOf(stream.watch(create('a', { end: 'c', prevKv: true })));
    const noPut = idOf(stream.watch(create('a', { noPut: true })));
    expect([all, noPut]).toEqual([0, 1]);
    src.apply([['a', '1'], ['b', '1'], ['c', '1']]);
    src.apply([['a', null]]);
    expect(sink.events(all)).toEqual(['PUT a@3', 'PUT b@3', 'DELETE a@4']);
    expect(sink.events(noPut)).toEqual(['DELETE a@4']);
    const first = sink.responses[0] as { events: MvccEvent[] };
    expect(first.events[0]!.prevKv?.modRevision).toBe(2); // asked for prev_kv
    const del = sink.responses.find((r) => r.kind === 'events' && r.watchId === noPut) as { events: MvccEvent[] };
    expect(del.events[0]!.prevKv).toBeUndefined(); // did not ask
  });

  it('refuses an empty range and a duplicate id, limits watchers per stream, and picks ids around chosen ones', () => {
    const src = new FakeWatchSource();
    const hub = newHub(src, { watchersPerStreamMax: 3 });
    const stream = hub.openStream(new RecordingSink());
    expect(stream.watch(create('b', { end: 'a' }))).toEqual({ reason: WATCH_RANGE_EMPTY });
    expect(stream.watch(create('b', { end: 'b' }))).toEqual({ reason: WATCH_RANGE_EMPTY });
    expect(stream.watch(create('a', { watchId: 1 }))).toEqual({ id: 1 });
    expect(stream.watch(create('a', { watchId: 1 }))).toEqual({ reason: WATCH_DUPLICATE_ID });
    expect(stream.watch(create('a'))).toEqual({ id: 0 });
    expect(stream.watch(create('a'))).toEqual({ id: 2 });
    expect(stream.watch(create('a'))).toEqual({ reason: WATCH_TOO_MANY });
    expect(stream.cancel(2)).toBe(true);
    expect(stream.cancel(2)).toBe(false);
    expect(stream.watch(create('a'))).toEqual({ id: 3 });
  });

  it('catches a past start revision up from history while live revisions race the read, each event once', async () => {
    const src = new FakeWatchSource();
    for (let i = 0; i < 5; i++) src.apply([[`k${i}`, 'v']]); // revisions 2..6
    src.holdReads = true;
    const hub = newHub(src, { catchupEventsMax: 2 });
    const sink = new RecordingSink();
    const id = idOf(hub.openStream(sink).watch(create('k', { end: 'l', startRevision: 3 })));
    expect(src.held.length).toBe(0); // the first read waits for the created reply to go out
    await settle();
    expect(src.held.length).toBe(1);
    src.apply([['k9', 'v']]); // revision 7, applied while the first read is in flight
    expect(sink.events(id)).toEqual([]); // unsynced: it will read 7 from history, not take it live
    for (let i = 0; i < 10 && (src.releaseOne() || src.held.length > 0); i++) {
      await settle();
      if (i === 1) src.apply([['k8', 'v']]); // revision 8, during a later read
    }
    expect(src.held.length).toBe(0);
    expect(hub.stats()).toMatchObject({ synced: 1, unsynced: 0 });
    src.apply([['k7', 'v']]); // revision 9, live
    expect(sink.events(id)).toEqual(['PUT k1@3', 'PUT k2@4', 'PUT k3@5', 'PUT k4@6', 'PUT k9@7', 'PUT k8@8', 'PUT k7@9']);
    expect(src.readsStarted).toBeGreaterThan(2); // catchupEventsMax made it read in pieces
  });

  it('bounds the revisions one history read spans, for a watcher of a rare key over a long history', async () => {
    const src = new FakeWatchSource();
    src.apply([['rare', '1']]);
    for (let i = 0; i < 95; i++) src.apply([['busy', `${i}`]]);
    src.apply([['rare', '2']]); // revision 98
    const hub = newHub(src, { catchupRevisionsMax: 10 });
    const sink = new RecordingSink();
    const id = idOf(hub.openStream(sink).watch(create('rare', { startRevision: 2 })));
    for (let i = 0; i < 50 && hub.stats().unsynced > 0; i++) await settle();
    expect(sink.events(id)).toEqual(['PUT rare@2', 'PUT rare@98']);
    expect(src.spans.length).toBe(10);
    expect(src.spans.every(([from, to]) => to - from < 10)).toBe(true);
  });

  it('cancels a watcher whose start revision was compacted, with the compact revision (also mid-read)', async () => {
    const src = new FakeWatchSource();
    for (let i = 0; i < 6; i++) src.apply([['k', `${i}`]]); // revisions 2..7
    src.compact(4);
    const hub = newHub(src);
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    const old = idOf(stream.watch(create('k', { startRevision: 3 })));
    const atCompact = idOf(stream.watch(create('k', { startRevision: 4 })));
    await settle();
    expect(sink.responses.filter((r) => r.watchId === old)).toEqual([
      { kind: 'compacted', watchId: old, revision: 7, compactRevision: 4 },
    ]);
    expect(sink.events(atCompact)).toEqual(['PUT k@4', 'PUT k@5', 'PUT k@6', 'PUT k@7']);
    expect(stream.watchers.has(old)).toBe(false);

    src.holdReads = true;
    const racing = idOf(stream.watch(create('k', { startRevision: 5 })));
    src.compact(6); // compacted while its read is in flight
    src.releaseOne();
    await settle();
    expect(sink.responses.filter((r) => r.watchId === racing)).toEqual([
      { kind: 'compacted', watchId: racing, revision: 7, compactRevision: 6 },
    ]);
  });

  it('bounds a slow stream: past the queue limit the watcher drops its queue and catches up from history', async () => {
    const src = new FakeWatchSource();
    const hub = newHub(src, { pendingEventsMax: 10, pendingBytesMax: 1 << 20 });
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    const id = idOf(stream.watch(create('k', { end: 'l' })));
    sink.full = true;
    src.apply([['k0', 'v']]); // sent; the transport reports itself full
    let peak = 0;
    for (let i = 1; i < 200; i++) {
      src.apply([[`k${i}`, 'v']]);
      peak = Math.max(peak, hub.stats().queuedEvents);
    }
    expect(peak).toBeLessThanOrEqual(10);
    expect(hub.stats()).toMatchObject({ synced: 0, unsynced: 1, queuedEvents: 0 });
    sink.full = false;
    stream.drained();
    for (let i = 0; i < 20 && hub.stats().unsynced > 0; i++) await settle();
    expect(hub.stats()).toMatchObject({ synced: 1, unsynced: 0 });
    const expected = Array.from({ length: 200 }, (_, i) => `PUT k${i}@${i + 2}`);
    expect(sink.events(id)).toEqual(expected);
  });

  it('sends synced watchers back to history for revisions a snapshot install brought unreported', async () => {
    const src = new FakeWatchSource();
    const hub = newHub(src, { headCheckMs: 0 });
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    const id = idOf(stream.watch(create('k', { end: 'l' })));
    src.apply([['k1', 'v']]);
    src.apply([['k2', 'v']], true);
    src.apply([['k3', 'v']], true);
    src.apply([['k4', 'v']]); // beyond head + 1: the hub sees the jump
    await settle();
    src.apply([['k5', 'v']], true);
    hub.checkHead(); // a jump with no apply after it
    await settle();
    src.apply([['k6', 'v']]);
    expect(sink.events(id)).toEqual(['PUT k1@2', 'PUT k2@3', 'PUT k3@4', 'PUT k4@5', 'PUT k5@6', 'PUT k6@7']);
  });

  it('retries a history read that met the state unavailable (a snapshot install), and skips a head check then', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'performance'] });
    const src = new FakeWatchSource();
    src.apply([['k', '1']]);
    const hub = newHub(src, { headCheckMs: 0, catchupRetryMs: 100 });
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    src.unavailable = true;
    hub.checkHead(); // must not throw
    const id = idOf(stream.watch(create('k', { startRevision: 2 })));
    await settle();
    const refused = src.refused;
    expect(refused).toBeGreaterThan(1);
    for (let i = 0; i < 5; i++) await settle();
    expect(src.refused).toBe(refused); // no hot loop: it waits catchupRetryMs
    src.unavailable = false;
    vi.advanceTimersByTime(100);
    await settle();
    expect(sink.events(id)).toEqual(['PUT k@2']);
    expect(hub.stats()).toMatchObject({ synced: 1, unsynced: 0 });
  });

  it('answers a progress request only once every watcher of the stream is caught up', async () => {
    const src = new FakeWatchSource();
    src.apply([['a', '1']]);
    src.holdReads = true;
    const hub = newHub(src);
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    stream.requestProgress();
    expect(sink.responses).toEqual([{ kind: 'progress', watchId: -1, revision: 2 }]);
    const id = idOf(stream.watch(create('a', { startRevision: 2 })));
    stream.requestProgress();
    expect(sink.responses.length).toBe(1); // the watcher is still reading history
    await settle();
    src.releaseOne();
    await settle();
    expect(sink.responses.slice(1)).toEqual([
      { kind: 'events', watchId: id, revision: 2, events: expect.any(Array) },
      { kind: 'progress', watchId: -1, revision: 2 },
    ]);
  });

  it('sends periodic progress to quiet synced watchers that asked for it', () => {
    vi.useFakeTimers();
    const src = new FakeWatchSource();
    const hub = newHub(src, { progressIntervalMs: 1000 });
    const sink = new RecordingSink();
    const stream = hub.openStream(sink);
    const want = idOf(stream.watch(create('a', { progressNotify: true })));
    idOf(stream.watch(create('b')));
    vi.advanceTimersByTime(1000);
    expect(sink.responses).toEqual([{ kind: 'progress', watchId: want, revision: 1 }]);
    src.apply([['a', '1']]);
    vi.advanceTimersByTime(1000); // an event went out during this interval: no progress
    expect(sink.responses.length).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(sink.responses[2]).toEqual({ kind: 'progress', watchId: want, revision: 2 });
  });

  for (const seed of testSeeds(7100, 6)) {
    it(`gives every watcher each matching event exactly once under random races (seed ${seed})`, async () => {
      await randomRun(seed);
    });
  }
});

interface Spec {
  stream: number;
  id: number;
  req: WatchCreate;
  from: number;
  canceled: boolean;
}

/**
 * A model check: random applies, watch creations at random past/now/future revisions, held history
 * reads released in random order, transports that fill and drain. At the end every watcher must have
 * received exactly the matching events of history from its start, in order; and every progress
 * notification must have been true when sent.
 */
async function randomRun(seed: number): Promise<void> {
  const rng = new Rng(seed);
  const src = new FakeWatchSource();
  src.holdReads = true;
  const hub = newHub(src, { pendingEventsMax: 4, pendingBytesMax: 1 << 20, catchupEventsMax: 3, catchupReadsMax: 2, catchupRevisionsMax: 7 });
  const keys = ['a', 'b', 'c', 'd', 'e'];
  const sinks: RecordingSink[] = [];
  const streams: WatchStream[] = [];
  const specs: Spec[] = [];
  const matching = (spec: Spec, through: number): string[] => {
    const out: string[] = [];
    for (const b of src.history) {
      if (b.revision < spec.from || b.revision > through) continue;
      for (const e of b.events) {
        const k = e.kv.key;
        const end = spec.req.rangeEnd;
        const inRange =
          end === undefined
            ? compareBytes(k, spec.req.key) === 0
            : compareBytes(k, spec.req.key) >= 0 && ((end.length === 1 && end[0] === 0) || compareBytes(k, end) < 0);
        if (!inRange || (e.type === 'PUT' ? spec.req.noPut : spec.req.noDelete)) continue;
        out.push(eventText(e));
      }
    }
    return out;
  };
  for (let s = 0; s < 3; s++) {
    const sink = new RecordingSink();
    const streamIndex = s;
    sink.onSend = (r) => {
      if (r.kind !== 'progress' || r.watchId !== -1) return;
      for (const spec of specs) {
        if (spec.stream !== streamIndex || spec.canceled || !streams[streamIndex]!.watchers.has(spec.id)) continue;
        expect(sink.events(spec.id), `progress at ${r.revision}, seed ${seed}`).toEqual(matching(spec, r.revision));
      }
    };
    sinks.push(sink);
    streams.push(hub.openStream(sink));
  }
  for (let step = 0; step < 300; step++) {
    const roll = rng.int(100);
    const s = rng.int(3);
    if (roll < 35) {
      const ops: Array<[string, string | null]> = [];
      for (let i = 0, n = 1 + rng.int(3); i < n; i++) ops.push([rng.pick(keys), rng.chance(0.3) ? null : `${step}`]);
      src.apply(ops, rng.chance(0.05)); // now and then a revision only a snapshot brings
      if (rng.chance(0.05)) hub.checkHead();
    } else if (roll < 45) {
      const head = src.currentRevision();
      const start = rng.chance(0.3) ? 0 : 1 + rng.int(head + 2);
      const key = rng.pick(keys);
      const shape = rng.int(3);
      const req = create(key, {
        startRevision: start,
        rangeEnd: shape === 0 ? undefined : shape === 1 ? new Uint8Array([0]) : utf8(String.fromCharCode(key.charCodeAt(0) + 2)),
        noPut: rng.chance(0.15),
        noDelete: rng.chance(0.15),
      });
      const id = idOf(streams[s]!.watch(req));
      specs.push({ stream: s, id, req, from: start === 0 ? head + 1 : start, canceled: false });
    } else if (roll < 65) {
      src.releaseOne();
      await settle();
    } else if (roll < 75) {
      sinks[s]!.full = !sinks[s]!.full;
      if (!sinks[s]!.full) streams[s]!.drained();
    } else if (roll < 80) {
      streams[s]!.requestProgress();
    } else if (roll < 83) {
      const live = specs.filter((x) => !x.canceled && x.stream === s);
      if (live.length > 0) {
        const victim = rng.pick(live);
        victim.canceled = streams[s]!.cancel(victim.id);
      }
    } else {
      await settle();
    }
  }
  for (const sink of sinks) sink.full = false;
  for (let i = 0; i < 2000 && (hub.stats().unsynced > 0 || src.held.length > 0 || hub.stats().queuedEvents > 0); i++) {
    for (const st of streams) st.drained();
    hub.checkHead();
    while (src.releaseOne());
    await settle();
  }
  expect(hub.stats(), `seed ${seed}`).toMatchObject({ unsynced: 0, queuedEvents: 0 });
  const head = src.currentRevision();
  for (const spec of specs) {
    if (spec.canceled) continue;
    expect(sinks[spec.stream]!.events(spec.id), `watcher ${spec.stream}/${spec.id} seed ${seed}`).toEqual(
      matching(spec, head),
    );
  }
}
