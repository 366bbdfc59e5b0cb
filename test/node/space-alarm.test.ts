// SpaceAlarm (src/node/space-alarm.ts) over scripted tree stats: it proposes this member's NOSPACE
// alarm when a tree's background work fails with ENOSPC (not with another errno) or the state tree
// passes the quota; never while the alarm is applied or a proposal is in flight; a proposal that
// fails with a typed error is logged and tried again at the next check, anything else is fatal.
import { describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import type { BackgroundStatus } from '../../src/lsm/error-handler.js';
import type { TreeStats } from '../../src/lsm/db.js';
import { NodeStoppedError } from '../../src/node/errors.js';
import { SpaceAlarm, type SpaceAlarmHost } from '../../src/node/space-alarm.js';

function failing(errno: string | undefined): BackgroundStatus {
  const cause = { code: 'LSM_ERR_IO', message: `create x.sst: ${errno ?? 'no errno'}`, at: 0, ...(errno === undefined ? {} : { errno }) };
  return { state: 'retrying', cause, attempts: 1, nextRetryAt: undefined };
}

function harness(quotaBackendBytes = 0) {
  const world = { log: { state: 'ok' } as BackgroundStatus, state: { state: 'ok' } as BackgroundStatus, size: 0, active: false, unreadable: false };
  const raised: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  const lines: string[] = [];
  const fatal: unknown[] = [];
  const host: SpaceAlarmHost = {
    trees: () => [
      { tree: 'log', stats: { background: world.log } as TreeStats },
      { tree: 'state', stats: { background: world.state } as TreeStats },
    ],
    dbSizeBytes: () => world.size,
    quotaBackendBytes,
    checkMs: 1_000,
    active: () => {
      if (world.unreadable) throw new NodeStoppedError('node 1: the state machine is being replaced by a snapshot; retry');
      return world.active;
    },
    raise: () => new Promise<void>((resolve, reject) => raised.push({ resolve, reject })),
    log: (line) => lines.push(line),
    fatal: (err) => fatal.push(err),
  };
  return { world, raised, lines, fatal, alarm: new SpaceAlarm(host) };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('SpaceAlarm', () => {
  it('raises on ENOSPC from either tree, once at a time, and not while the alarm is applied', async () => {
    const h = harness();
    h.alarm.check();
    h.world.state = failing('EIO');
    h.alarm.check();
    expect(h.raised).toHaveLength(0);
    h.world.log = failing('ENOSPC');
    expect(h.alarm.reason()).toContain('log tree');
    h.alarm.check();
    h.alarm.check();
    expect(h.raised).toHaveLength(1);
    h.raised[0]!.resolve();
    await settle();
    h.world.active = true;
    h.alarm.check();
    expect(h.raised).toHaveLength(1);
    // Disarmed while still full: raised again.
    h.world.active = false;
    h.alarm.check();
    expect(h.raised).toHaveLength(2);
    h.raised[1]!.resolve();
    await settle();
    // While a snapshot replaces the state machine its alarms cannot be read: the next check decides.
    h.world.unreadable = true;
    expect(() => h.alarm.check()).not.toThrow();
    expect(h.raised).toHaveLength(2);
    h.world.unreadable = false;
    h.alarm.check();
    expect(h.raised).toHaveLength(3);
    expect(h.fatal).toEqual([]);
  });

  it('raises past the quota only, and retries a proposal that failed with a typed error', async () => {
    const h = harness(1_000);
    h.world.size = 1_000;
    h.alarm.check();
    expect(h.raised).toHaveLength(0);
    h.world.size = 1_001;
    h.alarm.check();
    h.raised[0]!.reject(new LsmraftError('KV_ERR_TIMEOUT', 'timed out'));
    await settle();
    expect(h.lines.at(-1)).toContain('not raised (tried again)');
    h.alarm.check();
    expect(h.raised).toHaveLength(2);
    h.raised[1]!.reject(new TypeError('a bug'));
    await settle();
    expect(h.fatal).toHaveLength(1);
    expect(harness(0).alarm.reason()).toBeUndefined();
  });
});
