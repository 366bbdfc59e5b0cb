/**
 * Synced put, one at a time (`put(k, v, { sync: true })` awaited before the next): lsmraft (wasm,
 * js, and wasm with jobs inline, no worker pool) side by side with classic-level in one process,
 * each round in a fresh directory, the stores taking turns so a load change hits them alike. The
 * figure of the "synced put" row of bench:engines, on its own, in seconds; run it under
 * `strace -f -c` (BENCH_SYNC_ENGINES=one store) to count the syscalls of a put.
 *
 * Then the file-level cause it was written for: a 138-byte append + sync (the WAL record of one
 * such put) on a file that grows with each append, and on one preallocated ahead of its appends
 * (src/lsm/fs.ts CreateOptions), interleaved operation by operation so both see the same load.
 *
 * Knobs: BENCH_SYNC_KEYS puts per round (default 2000), BENCH_SYNC_ROUNDS rounds (default 3),
 * BENCH_SYNC_ENGINES a comma list (default all four), BENCH_SYNC_FILE_OPS appends of the file
 * comparison (default 4000; 0 skips it), BENCH_DIR where the stores live (default the tmpdir).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { LsmTree, type EngineName } from '../src/lsm.js';
import { nodeFileSystem } from '../src/lsm/node-fs.js';

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${raw}`);
  return v;
}

const PUTS_COUNT = intFromEnv('BENCH_SYNC_KEYS', 2000, 1);
const ROUNDS_COUNT = intFromEnv('BENCH_SYNC_ROUNDS', 3, 1);
const FILE_OPS_COUNT = intFromEnv('BENCH_SYNC_FILE_OPS', 4000, 0);
const VALUE_BYTES = 100;

interface SyncStore {
  putSynced(key: Uint8Array, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

function lsmraft(engine: EngineName, workerPool: boolean): (dir: string) => Promise<SyncStore> {
  return async (dir) => {
    const tree = await LsmTree.open(dir, { engine, workerPool });
    return { putSynced: (k, v) => tree.put(k, v, { sync: true }), close: () => tree.close() };
  };
}

const STORES: Record<string, (dir: string) => Promise<SyncStore>> = {
  'lsmraft-wasm': lsmraft('wasm', true),
  'lsmraft-js': lsmraft('js', true),
  'lsmraft-inline': lsmraft('wasm', false),
  'classic-level': async (dir) => {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return { putSynced: (k, v) => db.put(k, v, { sync: true }), close: () => db.close() };
  },
};
const chosen = (process.env['BENCH_SYNC_ENGINES'] ?? Object.keys(STORES).join(',')).split(',');
for (const name of chosen) if (STORES[name] === undefined) throw new Error(`unknown store ${name}; one of ${Object.keys(STORES).join(', ')}`);

const root = mkdtempSync(join(process.env['BENCH_DIR'] ?? tmpdir(), 'sync-put-'));
const value = new Uint8Array(VALUE_BYTES).fill(0x61);
const encoder = new TextEncoder();

interface Round {
  putsPerS: number;
  /** Process CPU (every thread) per put: what a put costs a loaded machine. */
  cpuUsPerPut: number;
}

async function round(name: string, r: number): Promise<Round> {
  const dir = join(root, `${name}-${r}`);
  mkdirSync(dir, { recursive: true });
  const store = await STORES[name]!(dir);
  try {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PUTS_COUNT; i++) {
      const key = encoder.encode(`key${String((i * 7919) % PUTS_COUNT).padStart(13, '0')}`);
      await store.putSynced(key, value);
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    return { putsPerS: PUTS_COUNT / seconds, cpuUsPerPut: (cpu.user + cpu.system) / PUTS_COUNT };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
const f = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Microseconds of each append + sync, on a growing file and a preallocated one, taking turns. */
async function fileComparison(): Promise<{ growing: number[]; preallocated: number[] }> {
  const record = new Uint8Array(VALUE_BYTES + 38).fill(7);
  const growing = nodeFileSystem.create(join(root, 'growing'));
  const preallocated = nodeFileSystem.create(join(root, 'preallocated'), { preallocateBytes: 4 * 1024 * 1024 });
  const times = { growing: [] as number[], preallocated: [] as number[] };
  try {
    for (let i = 0; i < FILE_OPS_COUNT; i++) {
      const which = i % 2 === 0 ? 'growing' : 'preallocated';
      const file = which === 'growing' ? growing : preallocated;
      const t0 = process.hrtime.bigint();
      file.append(record);
      await file.sync();
      times[which].push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
  } finally {
    growing.close();
    preallocated.close();
  }
  return times;
}

const results = new Map<string, Round[]>(chosen.map((n) => [n, []]));
let files: Awaited<ReturnType<typeof fileComparison>> | undefined;
try {
  for (let r = 0; r < ROUNDS_COUNT; r++) {
    for (const name of chosen) results.get(name)!.push(await round(name, r));
  }
  if (FILE_OPS_COUNT > 0) files = await fileComparison();
} finally {
  rmSync(root, { recursive: true, force: true });
}
console.log(`synced put: ${PUTS_COUNT} awaited puts x ${ROUNDS_COUNT} rounds; puts/s median (min..max); process CPU per put, median`);
for (const [name, rounds] of results) {
  const rates = rounds.map((x) => x.putsPerS).sort((a, b) => a - b);
  console.log(`  ${name.padEnd(15)} ${f(median(rates)).padStart(7)} (${f(rates[0]!)}..${f(rates.at(-1)!)})  cpu ${f(median(rounds.map((x) => x.cpuUsPerPut)))} us`);
}
if (files !== undefined) {
  console.log(`append ${VALUE_BYTES + 38} B + sync, ${FILE_OPS_COUNT} taking turns: us p10 / p50 / p90`);
  for (const [name, times] of Object.entries(files)) {
    const sorted = [...times].sort((a, b) => a - b);
    console.log(`  ${name.padEnd(15)} ${f(quantile(sorted, 0.1))} / ${f(quantile(sorted, 0.5))} / ${f(quantile(sorted, 0.9))}`);
  }
}
// Worker pools and classic-level's threads may keep the event loop alive.
process.exit(0);
