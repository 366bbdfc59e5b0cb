/**
 * The window of in-flight append messages to one follower in replicate state, bounded by count and
 * by payload bytes. After etcd-io/raft's tracker/inflights.go: a ring buffer of the last entry index
 * of each message sent, freed when the follower acknowledges an index.
 *
 * Invariant: indexes in the window increase from oldest to newest.
 */
import { assert } from '../util/assert.js';

export class Inflights {
  private readonly maxCount: number;
  /** 0 means no byte limit. */
  private readonly maxBytes: number;
  private readonly indexes: number[];
  private readonly sizesBytes: number[];
  private start = 0;
  private count = 0;
  private bytes = 0;

  constructor(maxCount: number, maxBytes: number) {
    assert(maxCount > 0, 'inflights: maxCount must be positive');
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
    this.indexes = new Array<number>(maxCount).fill(0);
    this.sizesBytes = new Array<number>(maxCount).fill(0);
  }

  /** Records a message whose last entry is `index`, carrying `sizeBytes` of payload. */
  add(index: number, sizeBytes: number): void {
    assert(!this.full(), 'inflights: add into a full window');
    if (this.count > 0) {
      const lastSlot = (this.start + this.count - 1) % this.maxCount;
      assert(index > this.indexes[lastSlot]!, () => `inflights: index ${index} not after ${this.indexes[lastSlot]}`);
    }
    const slot = (this.start + this.count) % this.maxCount;
    this.indexes[slot] = index;
    this.sizesBytes[slot] = sizeBytes;
    this.count++;
    this.bytes += sizeBytes;
  }

  /** Frees every message whose last index is <= `to` (the follower acknowledged up to `to`). */
  freeLE(to: number): void {
    while (this.count > 0 && this.indexes[this.start]! <= to) {
      this.bytes -= this.sizesBytes[this.start]!;
      this.start = (this.start + 1) % this.maxCount;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  full(): boolean {
    return this.count === this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  countInflight(): number {
    return this.count;
  }

  bytesInflight(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
