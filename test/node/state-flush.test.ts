// A restarted node re-applies only the log entries after its state tree's durable applied index
// (src/node/state-machine.ts: the tree has no WAL). The node flushes the tree once
// stateFlushEntriesMax entries were applied past that index (src/node/state-flush.ts), so after a
// crash (the crashable in-memory file system: only synced bytes survive) the replay stays near
// that bound even when no snapshot and no full memtable flushed the tree.
import { afterEach, describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { ReplayProgress } from '../../src/node/replay-progress.js';
import { StateFlusher } from '../../src/node/state-flush.js';
import type { KvStateMachine } from '../../src/node/state-machine.js';
import { fromUtf8 } from '../../src/util/bytes.js';

const DATA_DIR = '/lsmraft-state-flush-test/node-1';
const PUTS = 3_000;
const IN_FLIGHT = 32;
const FLUSH_ENTRIES_MAX = 300;
const nodes: KvNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
});

async function start(fs: CrashableMemFileSystem, extra: Partial<KvNodeOptions> = {}): Promise<KvNode> {
  const n = await KvNode.start({
    id: 1, address: '127.0.0.1:0', dataDir: DATA_DIR, fs, engine: 'js', workerPool: false, log: () => undefined,
    // Neither a snapshot nor a full memtable flushes the state tree during the test.
    snapshotEntries: 1_000_000_000, memtableBytesMax: 256 * 1024 * 1024, ...extra,
  });
  nodes.push(n);
  return n;
}

async function putAll(n: KvNode, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    // Each pass takes one of the `count` keys.
    while (next < count) {
      const i = next++;
      await n.put(`key-${i}`, `value-${i}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

async function crash(fs: CrashableMemFileSystem, n: KvNode): Promise<void> {
  fs.crash();
  nodes.splice(nodes.indexOf(n), 1);
  await n.stop().catch((err: unknown) => {
    if (!(err instanceof LsmraftError)) throw err;
  });
}

describe('state tree flushes bound the replay after a crash', () => {
  it('re-applies at most about stateFlushEntriesMax entries, and loses no acknowledged write', { timeout: 60_000 }, async () => {
    const fs = new CrashableMemFileSystem();
    const first = await start(fs, { stateFlushEntriesMax: FLUSH_ENTRIES_MAX });
    await putAll(first, PUTS);
    const before = first.stats();
    expect(before.stateFlushes).toBeGreaterThanOrEqual(Math.floor(PUTS / FLUSH_ENTRIES_MAX));
    const applied = first.status().applied;
    expect(applied).toBeGreaterThan(PUTS);
    await crash(fs, first);

    const second = await start(fs, { stateFlushEntriesMax: FLUSH_ENTRIES_MAX });
    expect(fromUtf8((await second.get(`key-${PUTS - 1}`))!)).toBe(`value-${PUTS - 1}`);
    expect(fromUtf8((await second.get('key-0'))!)).toBe('value-0');
    const s = second.stats();
    // The bound, plus the entries of one Ready turn (at most the puts in flight, and a session entry).
    expect(s.replayedEntries).toBeLessThanOrEqual(FLUSH_ENTRIES_MAX + 2 * IN_FLIGHT);
    expect(s.appliedOnStart).toBeGreaterThanOrEqual(applied - FLUSH_ENTRIES_MAX - 2 * IN_FLIGHT);
    expect(s.appliedOnStart + s.replayedEntries).toBeGreaterThanOrEqual(applied);
    expect(s.replayMs).toBeGreaterThanOrEqual(0);
    expect(s.storageOpenMs).toBeGreaterThanOrEqual(0);
  });

  it('without the bound (a huge stateFlushEntriesMax) the whole log is replayed: the counter sees it', { timeout: 60_000 }, async () => {
    const fs = new CrashableMemFileSystem();
    const first = await start(fs, { stateFlushEntriesMax: 1_000_000_000 });
    await putAll(first, 500);
    const applied = first.status().applied;
    expect(first.stats().stateFlushes).toBe(0);
    await crash(fs, first);

    const second = await start(fs, { stateFlushEntriesMax: 1_000_000_000 });
    expect(fromUtf8((await second.get('key-499'))!)).toBe('value-499');
    const s = second.stats();
    expect(s.appliedOnStart).toBeLessThan(10);
    expect(s.replayedEntries).toBeGreaterThanOrEqual(applied - s.appliedOnStart);
  });
});

describe('ReplayProgress', () => {
  it('counts entries of the log at start applied past the durable index, skipping a snapshot', () => {
    let now = 100;
    const p = new ReplayProgress(10, 50, 3, () => now);
    expect(p.pendingEntries).toBe(40);
    expect(p.applied(5)).toBe(false);
    expect(p.applied(20)).toBe(false);
    expect(p.replayedEntries).toBe(10);
    p.installed(30);
    expect(p.replayMs).toBeUndefined();
    now = 130;
    expect(p.applied(60)).toBe(true);
    expect(p.replayedEntries).toBe(30);
    expect(p.replayMs).toBe(30);
    expect(p.applied(70)).toBe(false);
    expect(p.replayedEntries).toBe(30);
  });

  it('has nothing to replay when the state tree was durable up to the log end', () => {
    const p = new ReplayProgress(50, 50, 3, () => 7);
    expect(p.pendingEntries).toBe(0);
    expect(p.replayMs).toBe(0);
  });
});

describe('StateFlusher.maintenance', () => {
  /** A state machine with `behind` entries past its durable applied index and a flush that ends by hand. */
  function fakeStateMachine(behind: number): { sm: KvStateMachine; finish: () => void; flushes: () => number } {
    let finish = (): void => {};
    let flushes = 0;
    const sm = {
      appliedIndex: 1_000 + behind,
      durableAppliedIndex: 1_000,
      lsm: { stats: () => ({ memtable: { immutableBytes: 0 } }) },
      startFlush: () => {
        flushes++;
        return new Promise<void>((resolve) => (finish = resolve));
      },
    } as unknown as KvStateMachine;
    return { sm, finish: () => finish(), flushes: () => flushes };
  }

  it('says it did work when it starts a flush, not while that flush is still running below the bound', async () => {
    const { sm, finish, flushes } = fakeStateMachine(60);
    const f = new StateFlusher({ entriesMax: 100, stateMachine: () => sm, log: () => {}, fatal: (err) => { throw err; } });
    expect(await f.maintenance()).toBe(true); // started (60 >= 100 / 2)
    expect(flushes()).toBe(1);
    // Running, below the bound: nothing to do, so the driver loop may stop instead of spinning.
    expect(await f.maintenance()).toBe(false);
    expect(await f.maintenance()).toBe(false);
    expect([flushes(), f.waits]).toEqual([1, 0]);
    finish();
    await new Promise((r) => setImmediate(r));
  });

  it('waits for the running flush at the bound, and says so', async () => {
    const { sm, finish, flushes } = fakeStateMachine(100);
    const f = new StateFlusher({ entriesMax: 100, stateMachine: () => sm, log: () => {}, fatal: (err) => { throw err; } });
    const first = f.maintenance();
    setTimeout(finish, 20);
    expect(await first).toBe(true);
    expect([flushes(), f.waits]).toEqual([1, 1]);
  });
});
