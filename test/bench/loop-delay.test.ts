/**
 * The benchmark's event-loop delay meter (bench/engines/loop-delay.ts): a stall is seen wherever it
 * falls in the measured body, including right at its start, and a body that never lets the loop
 * turn counts as one turn as long as the body.
 */
import { describe, expect, it } from 'vitest';
import { measureLoopDelay } from '../../bench/engines/loop-delay.js';

/** Holds the thread for `ms` milliseconds. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const STALL_MS = 60;

describe('measureLoopDelay', () => {
  it('sees a stall at the very start of the body', async () => {
    const { delay } = await measureLoopDelay(async () => {
      stall(STALL_MS);
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
    expect(delay.maxMs).toBeGreaterThanOrEqual(STALL_MS);
  });

  it('counts a body that resolves through microtasks alone as one turn of its whole length', async () => {
    const { delay } = await measureLoopDelay(async () => {
      for (let i = 0; i < 100; i++) await Promise.resolve();
      stall(STALL_MS);
    });
    expect(delay.p99Ms).toBeGreaterThanOrEqual(STALL_MS);
    expect(delay.maxMs).toBeGreaterThanOrEqual(STALL_MS);
  });

  it('reports short turns for a body that waits on timers', async () => {
    const { delay, value } = await measureLoopDelay(async () => {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 2));
      return 'done';
    });
    expect(value).toBe('done');
    expect(delay.maxMs).toBeLessThan(STALL_MS);
  });
});
