/**
 * Point reads side by side, the read half of bench/engines.bench.ts alone: lsmraft (wasm and js
 * twins) and classic-level, each in its own child process, load BENCH_KEYS keys (16 ASCII digits,
 * 100-byte random values, batches of 1000 in random order), compact, then time random existing
 * keys read with 32 gets in flight and with getSync. For lsmraft it also reports the block cache's
 * hit rate over the reads and the bytes it holds; then a full scan; for every store the child's peak RSS.
 *
 *   BENCH_KEYS=200000 npm run bench:point-reads
 *   BENCH_READ_ENGINES=lsmraft-js ...          # a comma-separated subset
 *   BENCH_BLOCK_CACHE_MIB=12 ...               # lsmraft's block cache size (default: the tree's)
 *   BENCH_CPU_PROF_DIR=/tmp/prof ...           # each child writes a V8 CPU profile there
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LsmTree } from '../src/index.js';
import { randomValues, scanTree, shuffledIndexes, writeDigitKey, xorshift32 } from './common.js';
import { classicLevel } from './engines/classic-level.js';
import { BATCH_OPS, GETS_IN_FLIGHT, KEY_BYTES, KEYS_COUNT, VALUE_BYTES, VALUE_POOL_COUNT } from './engines/config.js';
import type { StoreAdapter } from './engines/engine.js';

const ENGINES = ['lsmraft-wasm', 'lsmraft-js', 'classic-level'] as const;
type ReadEngine = (typeof ENGINES)[number];
const SEED = { fill: 22, get: 44, getSync: 55, values: 77 } as const;

interface ReadReport {
  engine: ReadEngine;
  getPerSec: number;
  getSyncPerSec: number;
  /** Process CPU time (all threads, user + system) per operation: less swayed by a busy machine than the rates. */
  getCpuUs: number;
  getSyncCpuUs: number;
  scanPerSec: number;
  cache?: { hitRate: number; usedMiB: number; capacityMiB: number };
  rssMiB: number;
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function openStore(engine: ReadEngine, dir: string): Promise<{ store: StoreAdapter; tree?: LsmTree }> {
  if (engine === 'classic-level') return { store: await classicLevel.open(dir, 'unsynced') };
  const cacheMiB = process.env.BENCH_BLOCK_CACHE_MIB;
  const tree = await LsmTree.open(dir, {
    engine: engine === 'lsmraft-wasm' ? 'wasm' : 'js',
    ...(cacheMiB === undefined ? {} : { blockCacheBytes: Number(cacheMiB) * 2 ** 20 }),
  });
  const store: StoreAdapter = {
    alloc: (n) => new Uint8Array(n),
    put: (k, v) => tree.put(k, v),
    writeBatch: (keys, values) => tree.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i]! }))),
    getInFlight: async (keys) => {
      let hits = 0;
      for (const v of await Promise.all(keys.map((k) => tree.get(k)))) if (v !== undefined) hits++;
      return hits;
    },
    getSync: (k) => tree.getSync(k),
    scan: () => Promise.resolve(scanTree(tree)),
    compact: () => tree.compact(),
    settle: async () => {},
    close: () => tree.close(),
  };
  return { store, tree };
}

async function child(engine: ReadEngine, dir: string): Promise<ReadReport> {
  mkdirSync(dir, { recursive: true });
  const values = randomValues(SEED.values, VALUE_POOL_COUNT, VALUE_BYTES);
  const { store, tree } = await openStore(engine, dir);
  try {
    const order = shuffledIndexes(SEED.fill, KEYS_COUNT);
    for (let start = 0; start < order.length; start += BATCH_OPS) {
      const end = Math.min(order.length, start + BATCH_OPS);
      const keys: Uint8Array[] = [];
      const vals: Uint8Array[] = [];
      for (let i = start; i < end; i++) {
        keys.push(writeDigitKey(order[i]!, store.alloc(KEY_BYTES)));
        vals.push(values[i % VALUE_POOL_COUNT]!);
      }
      await store.writeBatch(keys, vals);
    }
    await store.compact!();
    const before = tree?.stats().blockCache;

    const nextGet = xorshift32(SEED.get);
    let t0 = process.hrtime.bigint();
    let cpu0 = process.cpuUsage();
    for (let done = 0; done < KEYS_COUNT; done += GETS_IN_FLIGHT) {
      const keys = new Array<Uint8Array>(GETS_IN_FLIGHT);
      for (let i = 0; i < GETS_IN_FLIGHT; i++) keys[i] = writeDigitKey(nextGet() % KEYS_COUNT, store.alloc(KEY_BYTES));
      if ((await store.getInFlight(keys)) !== GETS_IN_FLIGHT) throw new Error(`${engine}: a get missed a loaded key`);
    }
    const getPerSec = (Math.ceil(KEYS_COUNT / GETS_IN_FLIGHT) * GETS_IN_FLIGHT) / seconds(t0);
    const getCpuUs = cpuMicros(process.cpuUsage(cpu0)) / KEYS_COUNT;

    const nextSync = xorshift32(SEED.getSync);
    const getSync = store.getSync!;
    t0 = process.hrtime.bigint();
    cpu0 = process.cpuUsage();
    for (let i = 0; i < KEYS_COUNT; i++) {
      if (getSync(writeDigitKey(nextSync() % KEYS_COUNT, store.alloc(KEY_BYTES))) === undefined) throw new Error(`${engine}: getSync missed`);
    }
    const getSyncPerSec = KEYS_COUNT / seconds(t0);
    const getSyncCpuUs = cpuMicros(process.cpuUsage(cpu0)) / KEYS_COUNT;

    const after = tree?.stats().blockCache;
    t0 = process.hrtime.bigint();
    const seen = await store.scan();
    if (seen !== KEYS_COUNT) throw new Error(`${engine}: scan saw ${seen} entries`);
    const scanPerSec = seen / seconds(t0);

    const cache = before === undefined || after === undefined ? undefined : {
      hitRate: (after.hits - before.hits) / Math.max(1, after.hits - before.hits + after.misses - before.misses),
      usedMiB: after.usedBytes / 2 ** 20,
      capacityMiB: after.capacityBytes / 2 ** 20,
    };
    return { engine, getPerSec, getSyncPerSec, getCpuUs, getSyncCpuUs, scanPerSec, cache, rssMiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 20 };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(engine: ReadEngine, dir: string): Promise<ReadReport> {
  const profDir = process.env.BENCH_CPU_PROF_DIR;
  const execArgv = ['--import', 'tsx', ...(profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`])];
  return new Promise((resolve, reject) => {
    const proc = fork(fileURLToPath(import.meta.url), [engine, dir], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let report: ReadReport | undefined;
    proc.on('message', (msg: ReadReport) => {
      report = msg;
    });
    proc.on('error', reject);
    proc.on('exit', (code) => (report !== undefined && code === 0 ? resolve(report) : reject(new Error(`${engine} child exited with code ${code}`))));
  });
}

const [childEngine, childDir] = process.argv.slice(2);
if (childEngine !== undefined && childDir !== undefined && process.send !== undefined) {
  const report = await child(childEngine as ReadEngine, childDir);
  // Exit explicitly (worker pools keep the loop alive), after the report is sent and the profile written.
  process.send(report, () => process.exit(0));
} else {
  const wanted = (process.env.BENCH_READ_ENGINES ?? ENGINES.join(',')).split(',') as ReadEngine[];
  for (const e of wanted) if (!ENGINES.includes(e)) throw new Error(`unknown engine ${e}; one of ${ENGINES.join(', ')}`);
  console.log(`point reads: ${KEYS_COUNT.toLocaleString('en-US')} keys, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const root = mkdtempSync(join(tmpdir(), 'lsmraft-bench-reads-'));
  try {
    for (const engine of wanted) {
      const r = await runChild(engine, join(root, engine));
      const cache = r.cache === undefined ? '' :
        `  cache hit ${(100 * r.cache.hitRate).toFixed(1)}% (${r.cache.usedMiB.toFixed(1)} of ${r.cache.capacityMiB} MiB)`;
      console.log(
        `${engine.padEnd(14)} get x${GETS_IN_FLIGHT} ${Math.round(r.getPerSec).toLocaleString('en-US').padStart(9)}/s (${r.getCpuUs.toFixed(2)} cpu us)  ` +
          `getSync ${Math.round(r.getSyncPerSec).toLocaleString('en-US').padStart(9)}/s (${r.getSyncCpuUs.toFixed(2)} cpu us)  ` +
          `scan ${Math.round(r.scanPerSec).toLocaleString('en-US').padStart(10)}/s  RSS ${r.rssMiB.toFixed(0)} MiB${cache}`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`load average after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}
