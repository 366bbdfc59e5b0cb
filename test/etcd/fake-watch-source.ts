/**
 * A WatchSource over an in-memory history, whose history reads the test resolves when it wants:
 * so a test can apply revisions while a read is in flight (the race the hub must survive).
 */
import type { KeyValue, MvccEvent, RevisionEvents } from '../../src/mvcc/types.js';
import { isFromKey, type WatchSource } from '../../src/etcd/watch-types.js';
import { LsmraftError } from '../../src/errors.js';
import { compareBytes, equalBytes, fromUtf8, utf8 } from '../../src/util/bytes.js';

export class CompactedError extends Error {}

interface HeldRead {
  result: RevisionEvents[];
  from: number;
  resolve: (r: RevisionEvents[]) => void;
  reject: (e: Error) => void;
}

export class FakeWatchSource implements WatchSource {
  readonly history: RevisionEvents[] = [];
  private readonly current = new Map<string, KeyValue>();
  private readonly listeners = new Set<(b: RevisionEvents) => void>();
  private rev = 1; // etcd starts at revision 1 with no events
  compacted = 0;
  /** When true, reads wait for release(); else they resolve on the next microtask. */
  holdReads = false;
  readonly held: HeldRead[] = [];
  readsStarted = 0;
  /** The [from, to] of every read. */
  readonly spans: Array<[number, number]> = [];
  /** When true, reads of the state throw KV_ERR_STOPPED (as while a snapshot replaces it). */
  unavailable = false;
  /** When set, history reads reject with it. */
  readError: LsmraftError | undefined;

  onApplied(listener: (b: RevisionEvents) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls that met `unavailable`. */
  refused = 0;

  private check(): void {
    if (this.unavailable) this.refused++;
    if (this.unavailable) throw new LsmraftError('KV_ERR_STOPPED', 'the state machine is being replaced by a snapshot');
  }

  currentRevision(): number {
    this.check();
    return this.rev;
  }

  compactRevision(): number {
    this.check();
    return this.compacted;
  }

  /**
   * Applies one transaction of puts (value given) and deletes (value null); returns its revision.
   * `silent`: the listeners are not told, as for revisions a snapshot install brings.
   */
  apply(ops: Array<[string, string | null]>, silent = false): number {
    const revision = ++this.rev;
    const events: MvccEvent[] = [];
    for (const [k, v] of ops) {
      const key = utf8(k);
      const prev = this.current.get(k);
      if (v === null) {
        if (prev === undefined) continue;
        this.current.delete(k);
        const kv: KeyValue = { key, createRevision: 0, modRevision: revision, version: 0, value: new Uint8Array(), lease: 0n };
        events.push({ type: 'DELETE', kv, prevKv: prev });
      } else {
        const kv: KeyValue = {
          key,
          createRevision: prev?.createRevision ?? revision,
          modRevision: revision,
          version: (prev?.version ?? 0) + 1,
          value: utf8(v),
          lease: 0n,
        };
        this.current.set(k, kv);
        events.push(prev === undefined ? { type: 'PUT', kv } : { type: 'PUT', kv, prevKv: prev });
      }
    }
    const batch = { revision, events };
    this.history.push(batch);
    if (!silent) for (const l of this.listeners) l(batch);
    return revision;
  }

  compact(revision: number): void {
    this.compacted = revision;
  }

  readEvents(
    from: number,
    to: number,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    countMax: number,
  ): Promise<RevisionEvents[]> {
    this.readsStarted++;
    this.spans.push([from, to]);
    if (this.unavailable) return Promise.reject(new LsmraftError('KV_ERR_STOPPED', 'being replaced'));
    if (this.readError !== undefined) return Promise.reject(this.readError);
    if (from < this.compacted) return Promise.reject(new CompactedError('compacted'));
    const inRange = (k: Uint8Array): boolean =>
      rangeEnd === undefined
        ? equalBytes(k, key)
        : compareBytes(k, key) >= 0 && (isFromKey(rangeEnd) || compareBytes(k, rangeEnd) < 0);
    const result: RevisionEvents[] = [];
    let count = 0;
    for (const b of this.history) {
      if (b.revision < from || b.revision > to) continue;
      const events = b.events.filter((e) => inRange(e.kv.key));
      if (events.length === 0) continue;
      result.push({ revision: b.revision, events });
      count += events.length;
      if (count >= countMax) break;
    }
    if (!this.holdReads) return Promise.resolve(result);
    return new Promise((resolve, reject) => this.held.push({ result, from, resolve, reject }));
  }

  /** Resolves the oldest held read (rejects it if its start was compacted meanwhile). */
  releaseOne(): boolean {
    const r = this.held.shift();
    if (r === undefined) return false;
    if (r.from < this.compacted) r.reject(new CompactedError('compacted'));
    else r.resolve(r.result);
    return true;
  }
}

/** Lets resolved reads' continuations run (they are a few promise hops deep). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

export function eventText(e: MvccEvent): string {
  return `${e.type} ${fromUtf8(e.kv.key)}@${e.kv.modRevision}`;
}
