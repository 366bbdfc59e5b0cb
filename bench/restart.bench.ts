/**
 * Restart benchmark: how long a single-member node takes, after a crash, from the spawn of its
 * process to its first successful linearizable get, and how many log entries it re-applies on the
 * way (the state tree has no WAL: src/node/state-machine.ts; src/node/state-flush.ts bounds the
 * replay). Per variant: a child process (bench/restart-child.ts) writes BENCH_KEYS keys (16 B keys,
 * 100 B values, BENCH_IN_FLIGHT puts in flight through KvNode.put), is killed with SIGKILL, and a
 * second child restarts on the same data directory.
 *
 * Variants: 'no flush bound' (stateFlushEntriesMax past any log: the state tree is made durable
 * only by full memtables and snapshots, as before state-flush.ts) and 'flush bound' (the node's
 * default stateFlushEntriesMax, or BENCH_STATE_FLUSH_ENTRIES).
 *
 *   npm run bench:restart                    # 1,000,000 keys
 *   BENCH_KEYS=20000 npm run bench:restart   # the smoke test's size
 *   BENCH_MEMTABLE_MB (64), BENCH_SNAPSHOT_ENTRIES (node default), BENCH_ENGINE=js,
 *   BENCH_VARIANTS=bound (only the 'flush bound' variant) tune it.
 *
 * Prints a table, then one line `RESULT {json}` for scripts.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { removeDir, ServerProcess, tempDir } from '../test/helpers/cluster.js';

const CHILD = join(import.meta.dirname, 'restart-child.ts');
/** Bounds on each child's phase (1M keys on a slow disk included). */
const WRITE_TIMEOUT_MS = 1_800_000;
const READY_TIMEOUT_MS = 600_000;
/** stateFlushEntriesMax that no run reaches: no flush bound. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

interface Written { keys: number; writeMs: number; applied: number; snapshotIndex: number; state: string; stateFlushes: number; stateFlushWaits: number }
interface Ready { found: boolean; startMs: number; firstGetMs: number; appliedOnStart: number; replayedEntries: number; replayMs: number | undefined; storageOpenMs: number }

/** Runs the child in `mode` until it prints `marker {json}`, then SIGKILLs it; returns the json. */
async function runChild<T>(mode: 'write' | 'restart', dir: string, env: Record<string, string>, marker: string, timeoutMs: number): Promise<T> {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const p = new ServerProcess(1, dir, c);
  try {
    const { line } = await p.waitForLine(new RegExp(`^${marker} `), timeoutMs);
    return JSON.parse(line.slice(marker.length + 1)) as T;
  } finally {
    p.kill('SIGKILL');
    await p.exited;
  }
}

async function variant(name: string, stateFlushEntries: number | undefined): Promise<{ name: string; written: Written; ready: Ready; spawnToGetMs: number }> {
  const dir = tempDir('restart-bench');
  const env: Record<string, string> = stateFlushEntries === undefined ? {} : { BENCH_STATE_FLUSH_ENTRIES: String(stateFlushEntries) };
  try {
    // The writer is killed with SIGKILL once it has written everything: a crash, no clean close.
    const written = await runChild<Written>('write', join(dir, 'node'), env, 'WRITTEN', WRITE_TIMEOUT_MS);
    const t0 = performance.now();
    const ready = await runChild<Ready>('restart', join(dir, 'node'), env, 'READY', READY_TIMEOUT_MS);
    if (!ready.found) throw new Error(`${name}: the first key was not found after the restart`);
    return { name, written, ready, spawnToGetMs: Math.round(performance.now() - t0) };
  } finally {
    removeDir(dir);
  }
}

const flushEnv = process.env.BENCH_STATE_FLUSH_ENTRIES;
const variants: Array<[string, number | undefined]> = [
  ['no flush bound', UNBOUNDED],
  ['flush bound', flushEnv === undefined || flushEnv === '' ? undefined : Number(flushEnv)],
];
const results = [];
for (const [name, entries] of variants) {
  if (process.env.BENCH_VARIANTS === 'bound' && entries === UNBOUNDED) continue;
  results.push(await variant(name, entries));
}
console.table(results.map((r) => ({
  variant: r.name,
  keys: r.written.keys.toLocaleString('en-US'),
  'write s': (r.written.writeMs / 1000).toFixed(1),
  'state flushes': r.written.stateFlushes,
  'durable at kill': /durable (\d+)/.exec(r.written.state)?.[1] ?? '?',
  'applied at kill': r.written.applied,
  'storage open s': (r.ready.storageOpenMs / 1000).toFixed(2),
  'replayed entries': r.ready.replayedEntries,
  'replay s': r.ready.replayMs === undefined ? '?' : (r.ready.replayMs / 1000).toFixed(2),
  'start to first get s': (r.ready.firstGetMs / 1000).toFixed(2),
  'spawn to first get s': (r.spawnToGetMs / 1000).toFixed(2),
})));
console.log(`RESULT ${JSON.stringify(results)}`);
