/**
 * The synced watchers, indexed by what they watch (etcd server/mvcc/watcher_group.go): watchers of
 * one key in a map by key, so an event finds them in one lookup; range watchers in a list that
 * every event scans (etcd keeps these in an interval tree; a list is enough while range watchers
 * per replica are few hundred).
 */
export interface GroupMember {
  readonly req: { key: Uint8Array; rangeEnd: Uint8Array | undefined };
  matches(key: Uint8Array): boolean;
}

/** A key as a map key: one char per byte, so equal bytes give equal strings. */
function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export class WatcherGroup<W extends GroupMember> {
  private readonly byKey = new Map<string, Set<W>>();
  private readonly ranges = new Set<W>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(w: W): boolean {
    if (w.req.rangeEnd !== undefined) return this.ranges.has(w);
    return this.byKey.get(keyString(w.req.key))?.has(w) ?? false;
  }

  add(w: W): void {
    if (this.has(w)) return;
    this.count++;
    if (w.req.rangeEnd !== undefined) {
      this.ranges.add(w);
      return;
    }
    const k = keyString(w.req.key);
    let set = this.byKey.get(k);
    if (set === undefined) this.byKey.set(k, (set = new Set()));
    set.add(w);
  }

  delete(w: W): void {
    if (!this.has(w)) return;
    this.count--;
    if (w.req.rangeEnd !== undefined) {
      this.ranges.delete(w);
      return;
    }
    const k = keyString(w.req.key);
    const set = this.byKey.get(k)!;
    set.delete(w);
    if (set.size === 0) this.byKey.delete(k);
  }

  /** Every member. */
  *[Symbol.iterator](): IterableIterator<W> {
    for (const set of this.byKey.values()) yield* set;
    yield* this.ranges;
  }

  /** Calls visit for each member watching `key`. */
  forKey(key: Uint8Array, visit: (w: W) => void): void {
    const set = this.byKey.get(keyString(key));
    if (set !== undefined) for (const w of set) visit(w);
    for (const w of this.ranges) if (w.matches(key)) visit(w);
  }
}
