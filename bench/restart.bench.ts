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
 * Prints a table, then one line `RESULT {json}` for scripts; writes bench/results/restart.json and
 * restart.svg (BENCH_OUT_DIR elsewhere).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { removeDir, ServerProcess, tempDir } from '../test/helpers/cluster.js';
import { makeProgress } from './progress.js';
import type { Progress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

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

interface VariantResult { name: string; written: Written; ready: Ready; spawnToGetMs: number }

async function variant(name: string, stateFlushEntries: number | undefined, progress: Progress): Promise<VariantResult> {
  const dir = tempDir('restart-bench');
  const env: Record<string, string> = stateFlushEntries === undefined ? {} : { BENCH_STATE_FLUSH_ENTRIES: String(stateFlushEntries) };
  try {
    // The writer is killed with SIGKILL once it has written everything: a crash, no clean close.
    progress.phase(`${name}: write, then SIGKILL`);
    const written = await runChild<Written>('write', join(dir, 'node'), env, 'WRITTEN', WRITE_TIMEOUT_MS);
    progress.phase(`${name}: restart to the first get`);
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
const chosen = variants.filter(([, entries]) => !(process.env.BENCH_VARIANTS === 'bound' && entries === UNBOUNDED));
const progress = makeProgress(2 * chosen.length);
const results: VariantResult[] = [];
try {
  for (const [name, entries] of chosen) results.push(await variant(name, entries, progress));
} finally {
  progress.stop();
}
const seconds = (ms: number | undefined, digits: number): string => (ms === undefined ? '?' : formatNumber(ms / 1000, digits));
console.log(
  alignedTable(
    ['variant', 'keys', 'write s', 'state flushes', 'durable at kill', 'applied at kill', 'storage open s', 'replayed entries', 'replay s', 'start to first get s', 'spawn to first get s'],
    results.map((r) => {
      const durable = /durable (\d+)/.exec(r.written.state)?.[1];
      return [
        r.name,
        formatNumber(r.written.keys),
        seconds(r.written.writeMs, 1),
        formatNumber(r.written.stateFlushes),
        durable === undefined ? '?' : formatNumber(Number(durable)),
        formatNumber(r.written.applied),
        seconds(r.ready.storageOpenMs, 2),
        formatNumber(r.ready.replayedEntries),
        seconds(r.ready.replayMs, 2),
        seconds(r.ready.firstGetMs, 2),
        seconds(r.spawnToGetMs, 2),
      ];
    }),
  ),
);
console.log(`RESULT ${JSON.stringify(results)}`);
const stages: Array<[string, (r: VariantResult) => number | undefined]> = [
  ['storage open', (r) => r.ready.storageOpenMs],
  ['log replay', (r) => r.ready.replayMs],
  ['start to first get', (r) => r.ready.firstGetMs],
  ['spawn to first get', (r) => r.spawnToGetMs],
];
writeResults('restart', { keys: results[0]?.written.keys, stateFlushEntries: flushEnv, engine: process.env.BENCH_ENGINE, variants: chosen.map(([name]) => name) }, results, {
  title: 'Restart after SIGKILL: seconds to the first linearizable get',
  subtitle: `${formatNumber(results[0]?.written.keys ?? NaN)} keys written by one single-member node, killed with SIGKILL, restarted on the same directory; node ${process.version}. Shorter is better.`,
  unit: 'seconds',
  series: results.map((r) => r.name),
  groups: stages.map(([label, ms]) => ({
    label,
    values: results.map((r) => (ms(r) ?? NaN) / 1000),
    barLabels: results.map((r) => `${seconds(ms(r), 2)} s`),
  })),
  scale: 'linear',
});
