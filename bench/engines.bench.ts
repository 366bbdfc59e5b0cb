/**
 * lsmraft (LsmTree with the 'wasm' twin and the 'js' twin, through src/index.ts) side by side with
 * classic-level (LevelDB), lmdb and rocksdb-native, each store through its own public API
 * (bench/engines/<store>.ts). Workloads after LevelDB's db_bench: 16-byte keys, 100-byte seeded
 * random values, BENCH_KEYS keys: awaited put; fill and overwrite in batches of 1000 (random
 * order); get with 32 in flight and synchronous get (random existing keys); full scan; synced put
 * (BENCH_SYNC_KEYS); compact() after the fill and the overwrite; write amplification over those
 * three (bytes the child process wrote to storage, /proc/self/io write_bytes, over the 2 x keys x
 * 116 user bytes); peak RSS of the child; the main thread's event-loop delay (p99 and max) during
 * compact() and during fill + overwrite (bench/engines/loop-delay.ts). "No sync" means each store's default write without
 * fsync (lmdb chooses durability per environment: its unsynced store opens with noSync).
 *
 * Every (store, repeat) runs in its own child process (bench/engines/child.ts), so peak RSS and
 * bytes written are that store's alone; the order of the stores rotates with each repeat, so slow
 * drift of the machine's load does not always fall on the same store. Each workload times a fixed
 * count of operations with process.hrtime.bigint() (throughput over the whole count, not
 * tinybench's samples of a short task). The table shows the median over BENCH_REPEATS and, with
 * more than one repeat, a second table of the spread min..max.
 *
 *   npm run bench:engines                                    # 1M keys, 4 repeats
 *   BENCH_KEYS=20000 BENCH_REPEATS=1 npm run bench:engines   # a quick run
 *   BENCH_SYNC_KEYS=500 ...                                  # fewer synced puts
 *   BENCH_TIMED_OPS=250000 ...                               # time 250k awaited puts and gets
 *                                                            #   (of BENCH_KEYS keys): a shorter run
 *   BENCH_OUT_DIR=/tmp/x ...                                 # write engines.json/.md/.svg elsewhere
 *
 * Prints and writes the medians, the spread, and each of lsmraft's goals met or missed with its
 * measured ratio (bench/engines/goals.ts) to bench/results/engines.md; every sample and the goals
 * to bench/results/engines.json; the chart to bench/results/engines.svg.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BATCH_OPS, GETS_IN_FLIGHT, KEY_BYTES, KEYS_COUNT, REPEATS_COUNT, SYNC_KEYS_COUNT, TIMED_OPS_COUNT, VALUE_BYTES } from './engines/config.js';
import { ENGINE_IDS } from './engines/engine.js';
import type { EngineId } from './engines/engine.js';
import { GOAL_KEYS_COUNT, goalLines, judgeGoals } from './engines/goals.js';
import { LOOP_DELAY_RESOLUTION_MS } from './engines/loop-delay.js';
import { loadFactories } from './engines/registry.js';
import { resultsSvg, resultsTable, summarize } from './engines/report.js';
import { makeProgress } from './progress.js';
import { PHASES, WORKLOADS } from './engines/workloads.js';
import type { ChildMessage, ChildReport, ChildResult } from './engines/workloads.js';

const OUT_DIR = process.env.BENCH_OUT_DIR ?? fileURLToPath(new URL('./results', import.meta.url));
const CHILD = fileURLToPath(new URL('./engines/child.ts', import.meta.url));

/** Runs one child for `engine`; resolves with its measurements, rejects if it fails. */
function runChild(engine: EngineId, dataDir: string, onPhase: (phase: string) => void): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [engine, dataDir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let done: ChildReport | undefined;
    child.on('message', (msg: ChildMessage) => {
      if (msg.kind === 'phase') onPhase(msg.phase);
      else done = msg;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (done !== undefined && code === 0) resolve(done);
      else reject(new Error(`${engine} child exited with ${signal ?? `code ${code}`} before reporting its results`));
    });
  });
}

const engines = [...ENGINE_IDS];
const FACTORIES = await loadFactories(engines);
const titles = engines.map((e) => FACTORIES[e].title);
const loadBefore = loadavg();
const timedText = TIMED_OPS_COUNT < KEYS_COUNT ? `; ${TIMED_OPS_COUNT.toLocaleString('en-US')} timed awaited puts and gets` : '';
console.log(
  `engines: ${titles.join(', ')}; ${KEYS_COUNT.toLocaleString('en-US')} keys (${SYNC_KEYS_COUNT.toLocaleString('en-US')} synced${timedText}), ${KEY_BYTES} B keys, ${VALUE_BYTES} B random values, ` +
    `batches of ${BATCH_OPS}, ${GETS_IN_FLIGHT} gets in flight; ${REPEATS_COUNT} repeat(s), one child process per store per repeat; ` +
    `fixed counts timed with process.hrtime.bigint(); node ${process.version}, ${cpus().length} cpus, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
);
const root = mkdtempSync(join(tmpdir(), 'lsmraft-bench-engines-'));
const runs = new Map<EngineId, ChildResult[]>(engines.map((e) => [e, []]));
const writeCallAmps = new Map<EngineId, number[]>(engines.map((e) => [e, []]));
let writeAmpSource = '';
const progress = makeProgress(REPEATS_COUNT * engines.length * PHASES.length);
try {
  for (let r = 0; r < REPEATS_COUNT; r++) {
    const order = engines.map((_, i) => engines[(i + r) % engines.length]!);
    for (const engine of order) {
      const out = await runChild(engine, join(root, `${engine}-${r}`), (phase) => progress.phase(`${FACTORIES[engine].title} repeat ${r + 1}/${REPEATS_COUNT}: ${phase}`));
      runs.get(engine)!.push(out.result);
      if (out.writeCallAmp !== undefined) writeCallAmps.get(engine)!.push(out.writeCallAmp);
      writeAmpSource = out.writeAmpSource;
    }
  }
} finally {
  progress.stop();
  rmSync(root, { recursive: true, force: true });
}
const loadAfter = loadavg();

const cells = summarize(engines, runs);
const goals = judgeGoals(cells);
const callAmpText = engines.map((e) => `${FACTORIES[e].title} ${writeCallAmps.get(e)!.map((v) => v.toFixed(2)).join('/') || 'n/a'}`);
// The report, printed and written as markdown (the tables are markdown already).
const report = [
  `${KEYS_COUNT.toLocaleString('en-US')} keys (${SYNC_KEYS_COUNT.toLocaleString('en-US')} synced${timedText}), node ${process.version}, ${cpus().length} cpus, ${new Date().toISOString()}`,
  '',
  `medians over ${REPEATS_COUNT} repeat(s):`,
  '',
  resultsTable(cells, engines, titles, false),
  ...(REPEATS_COUNT > 1 ? ['', `spread min..max over ${REPEATS_COUNT} repeats:`, '', resultsTable(cells, engines, titles, true)] : []),
  '',
  `goals (lsmraft wasm, from the medians above${KEYS_COUNT === GOAL_KEYS_COUNT ? '' : `; set for ${GOAL_KEYS_COUNT.toLocaleString('en-US')} keys, so only a trend at this size`}):`,
  '',
  ...goalLines(goals).map((l) => `- ${l}`),
  '',
  'n/a:',
  '',
  ...engines.flatMap((e) => Object.entries(FACTORIES[e].missing).map(([op, why]) => `- ${FACTORIES[e].title} ${op}: ${why}`)),
  '',
  `write amplification: ${writeAmpSource}`,
  `bytes passed to write calls (/proc/self/io wchar) over the same phases / user bytes, each run: ${callAmpText.join(', ')}`,
  `event-loop delay: perf_hooks.monitorEventLoopDelay at ${LOOP_DELAY_RESOLUTION_MS} ms resolution on the child's main thread, one histogram over compact() and one over fill + overwrite (a turn's length between two timer firings, so an idle loop shows about ${LOOP_DELAY_RESOLUTION_MS} ms)`,
  '',
  'how each store was driven:',
  '',
  ...engines.map((e) => `- ${FACTORIES[e].title}: ${FACTORIES[e].notes}`),
  '',
  `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
].join('\n');
console.log(`\n${report}`);

mkdirSync(OUT_DIR, { recursive: true });
const jsonPath = join(OUT_DIR, 'engines.json');
writeFileSync(
  jsonPath,
  `${JSON.stringify(
    {
      config: { keys: KEYS_COUNT, syncKeys: SYNC_KEYS_COUNT, timedOps: TIMED_OPS_COUNT, repeats: REPEATS_COUNT, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, batchOps: BATCH_OPS, getsInFlight: GETS_IN_FLIGHT },
      machine: { node: process.version, platform: process.platform, cpus: cpus().length, loadBefore, loadAfter, date: new Date().toISOString() },
      engines: engines.map((e) => ({ id: e, title: FACTORIES[e].title, notes: FACTORIES[e].notes })),
      workloads: WORKLOADS,
      writeAmpSource,
      writeCallAmp: Object.fromEntries(writeCallAmps),
      loopDelayResolutionMs: LOOP_DELAY_RESOLUTION_MS,
      goalKeys: GOAL_KEYS_COUNT,
      goals,
      cells,
    },
    null,
    2,
  )}\n`,
);
const svgPath = join(OUT_DIR, 'engines.svg');
const subtitle =
  `${KEYS_COUNT.toLocaleString('en-US')} keys of ${KEY_BYTES} B, ${VALUE_BYTES} B random values; synced put over ${SYNC_KEYS_COUNT.toLocaleString('en-US')} keys${timedText}; ` +
  `median of ${REPEATS_COUNT} run(s), one process per store per run; node ${process.version}, ${cpus().length} cpus, load average ${loadBefore[0]!.toFixed(1)} at start. ` +
  'Bars: a rate over the best rate of its row; for seconds, write amplification, MiB and ms the best over the value, so the best store is 1.0 in every row. Labels: that ratio (the median itself).';
writeFileSync(svgPath, resultsSvg(cells, engines, titles, subtitle));
const mdPath = join(OUT_DIR, 'engines.md');
writeFileSync(mdPath, `# bench:engines\n\n${report}\n`);
console.log(`results written to ${jsonPath}, ${mdPath} and ${svgPath}`);
