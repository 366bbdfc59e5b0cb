/**
 * The node's clock: a repeating, unref'd timer that turns wall time into Raft ticks (etcd's
 * raft.Node is driven the same way, by a time.Ticker calling Tick()). The Raft core never reads a
 * clock; this is the only place ticks come from.
 *
 * What must hold: stop() clears the timer, and no tick is delivered after it. The timer is unref'd
 * so a node alone never keeps the process alive (the listening socket and the CLI do that).
 * A late timer (an event loop blocked for a while) delivers the ticks it missed, up to
 * catchUpTicksMax, so elections keep their timing in wall-clock terms without a burst that would
 * make every follower campaign at once.
 */
import { assert } from '../util/assert.js';

export class Ticker {
  private timer: NodeJS.Timeout | undefined;
  private lastTickMs = 0;
  private stopped = false;

  constructor(
    private readonly tickMs: number,
    private readonly onTick: () => void,
    private readonly catchUpTicksMax = 3,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    assert(Number.isFinite(tickMs) && tickMs >= 1, () => `bad tick length ${tickMs} ms`);
  }

  start(): void {
    assert(this.timer === undefined && !this.stopped, 'Ticker.start twice or after stop');
    this.lastTickMs = this.nowMs();
    this.timer = setInterval(() => this.fire(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    if (this.stopped) return;
    const now = this.nowMs();
    const due = Math.min(this.catchUpTicksMax, Math.max(1, Math.floor((now - this.lastTickMs) / this.tickMs)));
    this.lastTickMs = now;
    for (let i = 0; i < due && !this.stopped; i++) this.onTick();
  }
}
