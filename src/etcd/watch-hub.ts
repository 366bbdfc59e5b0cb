/**
 * The watch hub: etcd's watchable store (etcd server/mvcc/watchable_store.go, watcher_group.go)
 * over this replica's applied revisions.
 *
 * Every watcher is in one of two groups, as in etcd:
 * - synced: it has been given every event up to the hub's head revision, and each newly applied
 *   revision is matched against it as it arrives (onApplied);
 * - unsynced: it is behind (it asked for a past start revision, or it was a slow "victim" whose
 *   queue overflowed) and catches up by reading retained history (readEvents) until it reaches the
 *   head, then joins the synced group. Live revisions are not given to it meanwhile: they are in the
 *   history it will read.
 *
 * What must hold (exactly once, in order): each watcher has `queuedThrough`, the revision through
 * which every event was sent, is in its queue, or was filtered out (for a synced watcher that is
 * really max(queuedThrough, head): the field is only moved when it gets an event, so an apply visits
 * just the watchers of its keys). Only events of revisions above it are ever queued, and it only
 * grows, except when a victim's queue is dropped, which lowers it to just below the first dropped
 * event (nothing past it was sent). A synced watcher becomes unsynced
 * only through that drop; an unsynced one becomes synced only synchronously, when queuedThrough
 * reaches the head, so no applied revision can slip between a history read and the live feed.
 *
 * Memory is bounded per watcher (pendingEventsMax, pendingBytesMax): when the stream's transport
 * is full (sink.send returned false), events wait in the watcher's queue; past the bound the queue is
 * dropped and the watcher catches up from history once the stream drains (etcd's victims), instead
 * of growing. History reads are bounded in events (catchupEventsMax), in the revisions they span
 * (catchupRevisionsMax: a read scans the event index of every revision it spans, on the main
 * thread, even for a watcher of one rare key) and in number at once
 * (catchupReadsMax).
 *
 * A snapshot install moves the applied revision past revisions the listener never reported: the
 * hub notices the jump (a batch beyond head + 1, or currentRevision() beyond the head on its
 * headCheckMs timer) and sends every synced watcher back to history for the gap, as etcd's
 * watchable store does on restore.
 *
 * Stricter than etcd 3.4: a requested progress notification (WatchProgressRequest) is sent only
 * when every watcher of the stream is synced and has nothing queued, so its revision is a promise
 * that the client has seen everything up to it (the rule etcd 3.5 adopted); until then it waits.
 */
import { LsmraftError } from '../errors.js';
import type { MvccEvent, RevisionEvents } from '../mvcc/types.js';
import { assert } from '../util/assert.js';
import { compareBytes, equalBytes } from '../util/bytes.js';
import { WatcherGroup } from './watcher-group.js';
import {
  DEFAULT_WATCH_HUB_OPTIONS,
  WATCH_DUPLICATE_ID,
  WATCH_RANGE_EMPTY,
  WATCH_TOO_MANY,
  isFromKey,
  type WatchCreate,
  type WatchHubOptions,
  type WatchHubResponse,
  type WatchSink,
  type WatchSource,
} from './watch-types.js';

/** Errors of a history read that pass (a snapshot replacing the state; a stop, after which the hub closes). */
const RETRIED_CODES: ReadonlySet<string> = new Set(['KV_ERR_STOPPED', 'LSM_ERR_CLOSED']);

/** Accounted size of one event beside its keys and values (revisions, type, framing). */
const EVENT_OVERHEAD_BYTES = 48;

interface Queued {
  /** The first revision of the response's events: below it, all was sent. */
  firstRevision: number;
  response: WatchHubResponse & { kind: 'events' };
  bytes: number;
}

class Watcher {
  queuedThrough: number;
  synced = false;
  catchingUp = false;
  /** No history read before this time (performance.now()): the last one met unavailable state. */
  retryAtMs = 0;
  canceled = false;
  readonly queue: Queued[] = [];
  queuedEvents = 0;
  queuedBytes = 0;
  /** An event went out since the last progress tick (etcd elides that tick's notification). */
  sentSinceTick = false;

  constructor(
    readonly id: number,
    readonly stream: WatchStream,
    readonly req: WatchCreate,
  ) {
    this.queuedThrough = 0;
  }

  matches(key: Uint8Array): boolean {
    const { key: from, rangeEnd } = this.req;
    if (rangeEnd === undefined) return equalBytes(key, from);
    if (compareBytes(key, from) < 0) return false;
    return isFromKey(rangeEnd) || compareBytes(key, rangeEnd) < 0;
  }

  /** `e` as this watcher wants it (prev_kv only if asked), or undefined if its filters drop it. */
  shape(e: MvccEvent): MvccEvent | undefined {
    if (e.type === 'PUT' ? this.req.noPut : this.req.noDelete) return undefined;
    return this.req.prevKv || e.prevKv === undefined ? e : { type: e.type, kv: e.kv };
  }

  /** The events of `events` this watcher wants, shaped as it asked. */
  select(events: readonly MvccEvent[]): MvccEvent[] {
    const out: MvccEvent[] = [];
    for (const e of events) {
      const shaped = this.matches(e.kv.key) ? this.shape(e) : undefined;
      if (shaped !== undefined) out.push(shaped);
    }
    return out;
  }

  idle(): boolean {
    return this.synced && this.queue.length === 0;
  }
}

function eventBytes(events: readonly MvccEvent[]): number {
  let n = 0;
  for (const e of events) {
    n += EVENT_OVERHEAD_BYTES + e.kv.key.length + e.kv.value.length;
    if (e.prevKv !== undefined) n += e.prevKv.key.length + e.prevKv.value.length;
  }
  return n;
}

/** One client stream's watchers (etcd's watchStream), sharing one sink. */
export class WatchStream {
  readonly watchers = new Map<number, Watcher>();
  private nextId = 0;
  blocked = false;
  progressRequested = false;
  closed = false;

  constructor(
    private readonly hub: WatchHub,
    readonly sink: WatchSink,
  ) {}

  /** Creates a watcher: its id, or the reason it was refused (sent as cancel_reason). */
  watch(req: WatchCreate): { id: number } | { reason: string } {
    assert(!this.closed, 'watch on a closed stream');
    if (req.rangeEnd !== undefined && !isFromKey(req.rangeEnd) && compareBytes(req.key, req.rangeEnd) >= 0) {
      return { reason: WATCH_RANGE_EMPTY };
    }
    if (this.watchers.size >= this.hub.options.watchersPerStreamMax) return { reason: WATCH_TOO_MANY };
    let id = req.watchId;
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return { reason: WATCH_DUPLICATE_ID };
    }
    const w = new Watcher(id, this, req);
    this.watchers.set(id, w);
    this.hub.add(w);
    return { id };
  }

  /** Removes a watcher; false if the stream has none of that id (etcd then sends nothing). */
  cancel(id: number): boolean {
    const w = this.watchers.get(id);
    if (w === undefined) return false;
    this.hub.remove(w);
    // One fewer watcher may be what a requested progress notification waited for.
    this.hub.answerProgress(this);
    return true;
  }

  /** WatchProgressRequest: a progress notification for the whole stream, as soon as it is true. */
  requestProgress(): void {
    this.progressRequested = true;
    this.hub.answerProgress(this);
  }

  /** The transport refused a response the service wrote itself (created, canceled): hold events. */
  transportFull(): void {
    this.blocked = true;
  }

  /** The transport has room again: send what waits, then let victims catch up. */
  drained(): void {
    if (this.closed) return;
    this.blocked = false;
    this.hub.flush(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.closeStream(this);
  }
}

export class WatchHub {
  readonly options: WatchHubOptions;
  private head: number;
  private readonly synced = new WatcherGroup<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private readonly streams = new Set<WatchStream>();
  private readsInFlight = 0;
  private readonly stopListening: () => void;
  private readonly progressTimer: NodeJS.Timeout | undefined;
  private readonly headTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: WatchSource,
    options: Partial<WatchHubOptions> = {},
  ) {
    this.options = { ...DEFAULT_WATCH_HUB_OPTIONS, ...options };
    const o = this.options;
    assert(o.catchupEventsMax > 0 && o.catchupReadsMax > 0 && o.catchupRevisionsMax > 0, 'catch-up limits must be positive');
    this.head = source.currentRevision();
    this.stopListening = source.onApplied((batch) => this.applied(batch));
    if (this.options.progressIntervalMs > 0) {
      this.progressTimer = setInterval(() => this.progressTick(), this.options.progressIntervalMs);
      this.progressTimer.unref();
    }
    if (this.options.headCheckMs > 0) {
      this.headTimer = setInterval(() => this.checkHead(), this.options.headCheckMs);
      this.headTimer.unref();
    }
  }

  /** The last revision the hub has seen applied. */
  get revision(): number {
    return this.head;
  }

  /** Watchers in each group and what they hold unsent (walks every watcher: for tests and metrics). */
  stats(): { synced: number; unsynced: number; queuedEvents: number; queuedBytes: number } {
    let queuedEvents = 0;
    let queuedBytes = 0;
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        queuedEvents += w.queuedEvents;
        queuedBytes += w.queuedBytes;
      }
    }
    return { synced: this.synced.size, unsynced: this.unsynced.size, queuedEvents, queuedBytes };
  }

  openStream(sink: WatchSink): WatchStream {
    const s = new WatchStream(this, sink);
    this.streams.add(s);
    return s;
  }

  close(): void {
    if (this.progressTimer !== undefined) clearInterval(this.progressTimer);
    if (this.headTimer !== undefined) clearInterval(this.headTimer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.stopListening();
    for (const s of [...this.streams]) s.close();
  }

  /** @internal WatchStream.close */
  closeStream(s: WatchStream): void {
    for (const w of [...s.watchers.values()]) this.remove(w);
    this.streams.delete(s);
  }

  /** @internal WatchStream.watch */
  add(w: Watcher): void {
    this.checkHead(); // "from now" means from the applied revision, even one a snapshot brought
    const start = w.req.startRevision;
    if (start === 0 || start > this.head) {
      // From now (or from a future revision): nothing in history concerns it.
      w.queuedThrough = start === 0 ? this.head : start - 1;
      w.synced = true;
      this.synced.add(w);
    } else {
      w.queuedThrough = start - 1;
      this.unsynced.add(w);
      // Deferred, so the stream's `created` reply goes out before anything of this watcher's
      // (even a compaction cancel, which kick can decide synchronously).
      queueMicrotask(() => this.kick());
    }
  }

  /** @internal WatchStream.cancel/close */
  remove(w: Watcher): void {
    w.canceled = true;
    w.queue.length = 0;
    this.synced.delete(w);
    this.unsynced.delete(w);
    w.stream.watchers.delete(w.id);
  }

  private applied(batch: RevisionEvents): void {
    assert(batch.revision > this.head, () => `applied revision ${batch.revision} not above ${this.head}`);
    if (batch.revision > this.head + 1) {
      // Revisions went by unreported (a snapshot install): this batch is in history too.
      this.jumpTo(batch.revision);
      return;
    }
    this.head = batch.revision;
    // With no synced watcher (the common case of a write load) an applied revision costs nothing more.
    if (this.synced.size === 0) return;
    // Only the watchers of the batch's keys are visited; a synced watcher's queuedThrough is not
    // moved for the revisions it does not watch (its progress is the head while it stays synced).
    const got = new Map<Watcher, MvccEvent[]>();
    for (const e of batch.events) {
      this.synced.forKey(e.kv.key, (w) => {
        if (batch.revision <= w.queuedThrough) return; // a watcher of a future start revision
        const shaped = w.shape(e);
        if (shaped === undefined) return;
        const list = got.get(w);
        if (list === undefined) got.set(w, [shaped]);
        else list.push(shaped);
      });
    }
    for (const [w, events] of got) {
      w.queuedThrough = batch.revision;
      this.push(w, batch.revision, { kind: 'events', watchId: w.id, revision: batch.revision, events });
    }
  }

  /** Looks for a revision jump no apply reported (a snapshot installed with nothing applied since). */
  checkHead(): void {
    let current: number;
    try {
      current = this.source.currentRevision();
    } catch (e) {
      if (!(e instanceof LsmraftError)) throw e;
      return; // the state is being replaced (a snapshot install): a later check sees the result
    }
    if (current > this.head) this.jumpTo(current);
  }

  /** The applied state jumped to `revision`: every synced watcher catches the gap up from history. */
  private jumpTo(revision: number): void {
    for (const w of [...this.synced]) {
      w.queuedThrough = Math.max(w.queuedThrough, this.head);
      w.synced = false;
      this.synced.delete(w);
      this.unsynced.add(w);
    }
    this.head = revision;
    this.kick();
  }

  /**
   * Sends `response` now if the stream has room and nothing waits before it; else queues it, or,
   * past the watcher's bound, drops the queue and sends the watcher back to history.
   */
  private push(w: Watcher, firstRevision: number, response: WatchHubResponse & { kind: 'events' }): void {
    const s = w.stream;
    if (!s.blocked && w.queue.length === 0) {
      this.send(w, response);
      return;
    }
    const bytes = eventBytes(response.events);
    const o = this.options;
    if (
      w.queue.length > 0 &&
      (w.queuedEvents + response.events.length > o.pendingEventsMax || w.queuedBytes + bytes > o.pendingBytesMax)
    ) {
      this.makeVictim(w);
      return;
    }
    w.queue.push({ firstRevision, response, bytes });
    w.queuedEvents += response.events.length;
    w.queuedBytes += bytes;
  }

  private makeVictim(w: Watcher): void {
    const first = w.queue[0];
    assert(first !== undefined, 'a victim has a queue');
    w.queuedThrough = first.firstRevision - 1;
    w.queue.length = 0;
    w.queuedEvents = 0;
    w.queuedBytes = 0;
    w.synced = false;
    this.synced.delete(w);
    this.unsynced.add(w);
  }

  private send(w: Watcher, response: WatchHubResponse): void {
    if (response.kind === 'events') w.sentSinceTick = true;
    if (!w.stream.sink.send(response)) w.stream.blocked = true;
  }

  /** @internal WatchStream.drained */
  flush(s: WatchStream): void {
    for (const w of s.watchers.values()) {
      while (!s.blocked && w.queue.length > 0) {
        const q = w.queue.shift()!;
        w.queuedEvents -= q.response.events.length;
        w.queuedBytes -= q.bytes;
        this.send(w, q.response);
      }
      if (s.blocked) return;
    }
    this.kick();
    this.answerProgress(s);
  }

  /** Moves caught-up watchers to the synced group and starts history reads for the others. */
  private kick(): void {
    for (const w of [...this.unsynced]) {
      if (w.catchingUp || w.canceled) continue;
      if (w.queuedThrough >= this.head) {
        // Synchronous with `applied`: no revision can fall between the history read and this.
        this.unsynced.delete(w);
        w.synced = true;
        this.synced.add(w);
        this.answerProgress(w.stream);
        continue;
      }
      if (w.stream.blocked || w.queue.length > 0) continue; // a read now would only overflow
      if (this.readsInFlight >= this.options.catchupReadsMax) continue;
      if (w.retryAtMs > performance.now()) continue;
      void this.catchUp(w);
    }
  }

  private async catchUp(w: Watcher): Promise<void> {
    w.catchingUp = true;
    this.readsInFlight++;
    const from = w.queuedThrough + 1;
    const to = Math.min(this.head, from + this.options.catchupRevisionsMax - 1);
    const countMax = this.options.catchupEventsMax;
    try {
      const batches = await this.readHistory(w, from, to, countMax);
      if (batches === undefined || w.canceled) return;
      let count = 0;
      let last = from - 1;
      const events: MvccEvent[] = [];
      for (const b of batches) {
        assert(b.revision > last && b.revision <= to, () => `history revision ${b.revision} outside (${last}, ${to}]`);
        last = b.revision;
        count += b.events.length;
        for (const e of w.select(b.events)) events.push(e);
      }
      // Fewer than countMax events: the whole interval was read.
      const through = count >= countMax && batches.length > 0 ? last : to;
      assert(w.queue.length === 0 && !w.synced, 'a catching-up watcher has no queue and gets no live events');
      w.queuedThrough = through;
      if (events.length > 0) this.push(w, from, { kind: 'events', watchId: w.id, revision: through, events });
    } finally {
      w.catchingUp = false;
      this.readsInFlight--;
      this.kick();
    }
  }

  /**
   * The history a catch-up needs; undefined when the watcher ended (its start was compacted, as
   * etcd cancels it, or the store refused the read) or must try again after catchupRetryMs (the
   * state is being replaced, or the node is stopping: RETRIED_CODES).
   */
  private async readHistory(w: Watcher, from: number, to: number, countMax: number): Promise<RevisionEvents[] | undefined> {
    try {
      const compactRevision = this.source.compactRevision();
      if (from < compactRevision) {
        this.end(w, { kind: 'compacted', watchId: w.id, revision: this.head, compactRevision });
        return undefined;
      }
      return await this.source.readEvents(from, to, w.req.key, w.req.rangeEnd, countMax);
    } catch (e) {
      if (!(e instanceof LsmraftError)) throw e;
      if (w.canceled) return undefined;
      let compactRevision: number | undefined;
      try {
        compactRevision = this.source.compactRevision();
      } catch (e2) {
        if (!(e2 instanceof LsmraftError)) throw e2;
      }
      if (compactRevision !== undefined && from < compactRevision) {
        // Compacted while the read ran.
        this.end(w, { kind: 'compacted', watchId: w.id, revision: this.head, compactRevision });
      } else if (RETRIED_CODES.has(e.code)) {
        this.retryLater(w);
      } else {
        this.end(w, { kind: 'failed', watchId: w.id, revision: this.head, error: e });
      }
      return undefined;
    }
  }

  private retryLater(w: Watcher): void {
    w.retryAtMs = performance.now() + this.options.catchupRetryMs;
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.options.catchupRetryMs);
    this.retryTimer.unref();
  }

  /** Ends a watcher for a reason of the hub's (compaction, unreadable history). */
  private end(w: Watcher, response: WatchHubResponse): void {
    const s = w.stream;
    this.remove(w);
    if (s.closed) return;
    this.send(w, response);
    this.answerProgress(s);
  }

  /** @internal Sends a requested progress notification if the stream's watchers are all caught up. */
  answerProgress(s: WatchStream): void {
    if (!s.progressRequested || s.blocked || s.closed) return;
    for (const w of s.watchers.values()) if (!w.idle()) return;
    s.progressRequested = false;
    if (!s.sink.send({ kind: 'progress', watchId: -1, revision: this.head })) s.blocked = true;
  }

  /**
   * Periodic progress (etcd's progressReportInterval): to each watcher that asked for it, is caught
   * up, and was sent no event since the last tick.
   */
  progressTick(): void {
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        if (!w.req.progressNotify) continue;
        const quiet = !w.sentSinceTick;
        w.sentSinceTick = false;
        if (quiet && w.idle() && !s.blocked) this.send(w, { kind: 'progress', watchId: w.id, revision: this.head });
      }
    }
  }
}
