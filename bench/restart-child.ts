/**
 * The child process of bench/restart.bench.ts: one single-member KvNode on a real data directory.
 *
 *   restart-child.ts write DIR     writes BENCH_KEYS keys (16 B) of 100 B values through KvNode.put,
 *                                  BENCH_IN_FLIGHT at once, prints `WRITTEN {json}`, then waits to be
 *                                  killed (the parent sends SIGKILL: no clean close, no last flush);
 *   restart-child.ts restart DIR   starts the node on DIR, gets the first key until it succeeds,
 *                                  prints `READY {json}` with the node's replay counters, stops.
 *
 * Options from the environment: BENCH_ENGINE (wasm), BENCH_MEMTABLE_MB (64), BENCH_SNAPSHOT_ENTRIES
 * and BENCH_STATE_FLUSH_ENTRIES (the node's defaults when unset).
 */
import { LsmraftError } from '../src/errors.js';
import { KvNode, type KvNodeOptions } from '../src/node/kv-node.js';
import { writeDigitKey } from './common.js';

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
/** Bound on the wait for the first successful get after a restart. */
const READY_TIMEOUT_MS = 600_000;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}

function key(i: number): Uint8Array {
  return writeDigitKey(i, new Uint8Array(KEY_BYTES));
}

function nodeOptions(dataDir: string): KvNodeOptions {
  const o: KvNodeOptions = {
    id: 1,
    address: '127.0.0.1:0',
    dataDir,
    engine: process.env.BENCH_ENGINE === 'js' ? 'js' : 'wasm',
    memtableBytesMax: (envInt('BENCH_MEMTABLE_MB') ?? 64) * 1024 * 1024,
  };
  const snapshotEntries = envInt('BENCH_SNAPSHOT_ENTRIES');
  if (snapshotEntries !== undefined) o.snapshotEntries = snapshotEntries;
  const flushEntries = envInt('BENCH_STATE_FLUSH_ENTRIES');
  if (flushEntries !== undefined) o.stateFlushEntriesMax = flushEntries;
  return o;
}

async function write(dataDir: string): Promise<void> {
  const keys = envInt('BENCH_KEYS') ?? 1_000_000;
  const inFlight = envInt('BENCH_IN_FLIGHT') ?? 256;
  const node = await KvNode.start(nodeOptions(dataDir));
  const value = new Uint8Array(VALUE_BYTES).map((_, i) => 97 + (i % 26));
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      // Each pass writes one of the `keys` keys.
      while (next < keys) await node.put(key(next++), value);
    }),
  );
  const writeMs = performance.now() - t0;
  const st = node.status();
  const sm = node.lsmDescribe().split('\n', 1)[0];
  console.log(`WRITTEN ${JSON.stringify({ keys, writeMs: Math.round(writeMs), applied: st.applied, logFirstIndex: st.logFirstIndex, snapshotIndex: st.snapshotIndex, state: sm, stateFlushes: node.stats().stateFlushes, stateFlushWaits: node.stats().stateFlushWaits })}`);
  // Wait for the SIGKILL (bounded: the parent kills at once).
  await new Promise((r) => setTimeout(r, READY_TIMEOUT_MS));
  process.exit(3);
}

async function restart(dataDir: string): Promise<void> {
  const t0 = performance.now();
  const node = await KvNode.start(nodeOptions(dataDir));
  const startedMs = performance.now() - t0;
  const first = key(0);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let value: Uint8Array | undefined;
  // Each pass is one get; bounded by the deadline.
  while (value === undefined && Date.now() < deadline) {
    try {
      value = await node.get(first);
    } catch (err) {
      // No leader yet, or the replay outlasted the read's deadline: ask again.
      if (!(err instanceof LsmraftError)) throw err;
    }
  }
  const readyMs = performance.now() - t0;
  const s = node.stats();
  console.log(`READY ${JSON.stringify({ found: value !== undefined, startMs: Math.round(startedMs), firstGetMs: Math.round(readyMs), appliedOnStart: s.appliedOnStart, replayedEntries: s.replayedEntries, replayMs: s.replayMs, storageOpenMs: s.storageOpenMs })}`);
  await node.stop();
}

const [mode, dir] = process.argv.slice(2);
if (dir === undefined || (mode !== 'write' && mode !== 'restart')) throw new Error('usage: restart-child.ts write|restart DIR');
await (mode === 'write' ? write(dir) : restart(dir));
