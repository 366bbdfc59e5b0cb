/**
 * Cluster benchmark, after etcd's `benchmark put` (tools/benchmark: N clients, fixed-size values,
 * throughput and latency percentiles) and its failover measurements: three local kv-server
 * processes (fsync on: the log tree syncs every append batch), one KvClient.
 *
 *   1. load: 32 and 128 concurrent puts of 256-byte values, BENCH_LOAD_MS each: puts/s, p50/p99 (ms);
 *   2. failover: BENCH_KILLS times, under a 32-way load, SIGKILL the leader and measure the time from
 *      the kill to the first acknowledged write issued after it; restart the killed node, let it
 *      catch up, repeat. Reports the median and max.
 *
 *   npm run bench:cluster                 # 10 s per load level, 10 kills
 *   BENCH_SHORT=1 npm run bench:cluster   # 2 s of load, 2 kills (the vitest smoke test runs this)
 *   BENCH_LOAD_MS, BENCH_KILLS, BENCH_ENGINE=js, BENCH_SERVER_ARGS="--snapshot-entries N" tune it.
 *
 * Prints a table, then one line `RESULT {json}` for scripts; writes bench/results/cluster.json and
 * cluster.svg (BENCH_OUT_DIR elsewhere).
 */
import { join } from 'node:path';
import { LsmraftError } from '../src/errors.js';
import { KvClient } from '../src/node/kv-client.js';
import { removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../test/helpers/cluster.js';
import { closedLoop, percentile } from './load.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const SHORT = process.env.BENCH_SHORT === '1';
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? (SHORT ? 2_000 : 10_000));
const KILLS = Number(process.env.BENCH_KILLS ?? (SHORT ? 2 : 10));
const ENGINE = (process.env.BENCH_ENGINE ?? 'wasm') as 'wasm' | 'js';
/** Extra kv-server arguments, e.g. BENCH_SERVER_ARGS="--snapshot-entries 1000000". */
const SERVER_ARGS = (process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter((a) => a.length > 0);
const VALUE_BYTES = 256;
const CONCURRENCIES = [32, 128];

const value = new Uint8Array(VALUE_BYTES).map((_, i) => 97 + (i % 26));

interface LoadResult {
  concurrency: number;
  puts: number;
  putsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** `concurrency` writers for durationMs; latencies of acknowledged puts (a typed client error counts as an error). */
async function runLoad(client: KvClient, concurrency: number, durationMs: number, prefix: string): Promise<LoadResult> {
  const r = await closedLoop(concurrency, durationMs, (w, i) => client.put(`${prefix}${w}-${i}`, value), (e) => e instanceof LsmraftError);
  return { concurrency, puts: r.ops, putsPerSec: r.opsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Each pass sleeps 50 ms; bounded by the deadline.
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One failover: kill the leader under load; ms from the kill to the first ack of a write issued after it. */
async function oneFailover(client: KvClient, servers: ServerProcess[], round: number): Promise<number> {
  const leaderId = (await client.status()).leader;
  const victim = servers.find((s) => s.id === leaderId);
  if (victim === undefined) throw new Error(`leader ${leaderId} is not one of the servers`);
  let killedAtMs = Number.POSITIVE_INFINITY;
  let firstAckMs = Number.POSITIVE_INFINITY;
  let stop = false;
  const writers = Array.from({ length: 32 }, async (_, w) => {
    // Bounded by `stop` (set once a post-kill write was acknowledged, or after 30 s).
    for (let i = 0; !stop; i++) {
      const issuedMs = Date.now();
      try {
        await client.put(`fo${round}-${w}-${i}`, value);
        if (issuedMs > killedAtMs && Date.now() < firstAckMs) firstAckMs = Date.now();
      } catch {
        // The outcome of a write in flight at the kill may be unknown: it does not count.
      }
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  killedAtMs = Date.now();
  victim.kill('SIGKILL');
  await victim.exited;
  const giveUp = Date.now() + 30_000;
  while (firstAckMs === Number.POSITIVE_INFINITY && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 5));
  stop = true;
  await Promise.all(writers);
  if (firstAckMs === Number.POSITIVE_INFINITY) throw new Error('no write was acknowledged within 30 s of the kill');
  // Restart the victim from its data directory and let it catch up before the next round.
  const back = await startServer({ id: victim.id, address: victim.address, dataDir: victim.dataDir, engine: ENGINE, extraArgs: SERVER_ARGS });
  servers[servers.indexOf(victim)] = back;
  const target = (await client.status()).commit;
  await waitFor(`node ${back.id} to catch up`, async () => {
    const line = await back.ask('status', /^node /);
    return Number(/applied (\d+)/.exec(line)?.[1] ?? 0) >= target;
  }, 60_000);
  return firstAckMs - killedAtMs;
}

async function main(): Promise<void> {
  const dir = tempDir('bench-cluster');
  try {
    const progress = makeProgress(2 + CONCURRENCIES.length + KILLS);
    progress.phase('start 3 kv-server processes');
    const servers = await Promise.all([1, 2, 3].map((id) => startServer({ id, dataDir: join(dir, `node-${id}`), engine: ENGINE, extraArgs: SERVER_ARGS })));
    for (const s of servers.slice(1)) {
      const answer = await servers[0]!.ask(`add ${s.id} ${s.address}`, /^(added|error)/, 20_000);
      if (!answer.startsWith('added')) throw new Error(answer);
    }
    const client = await KvClient.connect(servers.map((s) => s.address), { requestTimeoutMs: 30_000 });
    try {
      // A short warm-up: connections, JIT, the first memtable.
      progress.phase('warm-up');
      await runLoad(client, 32, SHORT ? 300 : 1_000, 'w');
      const loads: LoadResult[] = [];
      for (const c of CONCURRENCIES) {
        progress.phase(`${c} concurrent puts for ${formatNumber(LOAD_MS)} ms`);
        loads.push(await runLoad(client, c, LOAD_MS, `c${c}-`));
      }
      const failoversMs: number[] = [];
      for (let round = 0; round < KILLS; round++) {
        progress.phase(`failover ${round + 1}/${KILLS}: kill the leader, restart it, catch up`);
        failoversMs.push(await oneFailover(client, servers, round));
      }
      progress.stop();
      const sorted = [...failoversMs].sort((a, b) => a - b);
      const failover = { kills: KILLS, medianMs: percentile(sorted, 50), maxMs: sorted[sorted.length - 1] ?? NaN, allMs: failoversMs };

      console.log(`cluster bench: 3 kv-server processes (engine ${ENGINE}, fsync on), ${VALUE_BYTES}-byte values, ${formatNumber(LOAD_MS)} ms per level`);
      console.log(
        alignedTable(
          ['concurrency', 'puts/s', 'p50 ms', 'p99 ms', 'errors'],
          loads.map((l) => [String(l.concurrency), formatNumber(l.putsPerSec), formatNumber(l.p50Ms, 2), formatNumber(l.p99Ms, 2), formatNumber(l.errors)]),
        ),
      );
      console.log(`failover (kill leader -> first acknowledged write), ${KILLS} kills: median ${failover.medianMs} ms, max ${failover.maxMs} ms [${failoversMs.join(', ')}]`);
      console.log(`RESULT ${JSON.stringify({ engine: ENGINE, valueBytes: VALUE_BYTES, loadMs: LOAD_MS, loads, failover })}`);
      writeResults('cluster', { engine: ENGINE, valueBytes: VALUE_BYTES, loadMs: LOAD_MS, kills: KILLS, serverArgs: SERVER_ARGS }, { loads, failover }, {
        title: 'Three kv-server processes: put latency under load, and failover time',
        subtitle: `${VALUE_BYTES}-byte values, fsync on, engine ${ENGINE}, ${formatNumber(LOAD_MS)} ms per load level; failover: SIGKILL of the leader under 32 concurrent puts to the first acknowledged write issued after it, ${KILLS} kills; node ${process.version}. Shorter is better.`,
        unit: 'milliseconds',
        series: ['p50 (failover: median)', 'p99 (failover: max)'],
        groups: [
          ...loads.map((l) => ({ label: `${l.concurrency} concurrent puts (${formatNumber(l.putsPerSec)}/s)`, values: [l.p50Ms, l.p99Ms], barLabels: [`${formatNumber(l.p50Ms, 2)} ms`, `${formatNumber(l.p99Ms, 2)} ms`] })),
          { label: 'failover', values: [failover.medianMs, failover.maxMs], barLabels: [`${formatNumber(failover.medianMs)} ms`, `${formatNumber(failover.maxMs)} ms`] },
        ],
      });
    } finally {
      client.close();
    }
  } finally {
    await stopAll();
    removeDir(dir);
  }
}

await main();
