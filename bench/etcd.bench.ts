/**
 * The etcd v3 API benchmark, after etcd's `benchmark put` and `benchmark range` (tools/benchmark):
 * one run starts a 3-node lsmraft cluster (kv-server --etcd-address, expensive invariant checks
 * off as in production) and a 3-member etcd 3.4 on 127.0.0.1, both with their default fsync on
 * (every acknowledged write is on disk on a majority), and drives each with the same load
 * generator, the etcd3 npm client (one client, all endpoints), after the same warm-up; each workload
 * runs on one target then the other, the order alternating (measure):
 *
 *   put 32 / put 128     puts of 256-byte values, 32 or 128 in flight;
 *   read 128             linearizable gets of keys written before, 128 in flight.
 *
 * Prints puts/s (gets/s), p50/p99 (ms), the CPU the three members used per operation (all
 * together, /proc/<pid>/stat: less sensitive to a busy machine than the rates) for both and
 * lsmraft's ratio to etcd; then one line
 * `RESULT {json}`; writes bench/results/etcd.json and etcd.svg (BENCH_OUT_DIR elsewhere).
 *
 *   npm run bench:etcd                     # 10 s per workload and target
 *   BENCH_SECONDS=1 npm run bench:etcd     # the vitest smoke test's short run
 *   BENCH_TARGETS=etcd (or lsmraft) measures one target only; BENCH_ENGINE=js for the JS twin.
 *
 * Without an etcd 3.4 binary the etcd side is skipped with the reason printed (ratios: n/a).
 */
import { Etcd3, EtcdError, GRPCGenericError } from 'etcd3';
import { startRealEtcd } from '../test/etcd/real-etcd.js';
import { startLsmraftCluster } from '../test/etcd/lsmraft-cluster.js';
import type { EtcdCluster, TargetKind } from '../test/etcd/target.js';
import { skipReason } from '../test/etcd/target.js';
import { stopAll } from '../test/helpers/cluster.js';
import { closedLoop, type LoadResult } from './load.js';
import { processesCpuMicros } from './process-cpu.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const LOAD_MS = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
const ENGINE = (process.env.BENCH_ENGINE ?? 'wasm') as 'wasm' | 'js';
const VALUE_BYTES = 256;
/** The closed-loop puts each target gets before it is measured. */
const WARM_UP_MS = Math.min(2_000, LOAD_MS);
/** Keys the read workload picks from (written before it starts). */
const READ_KEYS = 1_000;
const WORKLOADS = [
  { name: 'put 32', kind: 'put', concurrency: 32 },
  { name: 'put 128', kind: 'put', concurrency: 128 },
  { name: 'read 128', kind: 'read', concurrency: 128 },
] as const;

const value = Buffer.alloc(VALUE_BYTES, 'abcdefghijklmnopqrstuvwxyz');

interface WorkloadResult extends LoadResult {
  workload: string;
  /** CPU the 3 members used per operation, all together (µs; null where /proc is not readable). */
  memberCpuUsPerOp: number | null;
}

function targets(): TargetKind[] {
  const wanted = (process.env.BENCH_TARGETS ?? 'lsmraft,etcd').split(',') as TargetKind[];
  return wanted.filter((t) => {
    const reason = t === 'etcd' ? skipReason('etcd', false) : undefined;
    if (reason !== undefined) console.log(`etcd bench: skipping etcd 3.4: ${reason}`);
    return reason === undefined;
  });
}

/**
 * An error of the etcd3 client, which counts as a failed operation: a gRPC status, an etcd error,
 * or its circuit breaker refusing a host that failed three times in a row (cockatiel's
 * BrokenCircuitError, known by the flag it sets: cockatiel is the client's dependency, not ours).
 */
function clientError(e: unknown): boolean {
  return e instanceof GRPCGenericError || e instanceof EtcdError || (e instanceof Error && 'isBrokenCircuitError' in e);
}

/** A started cluster with its client. */
interface Target {
  kind: TargetKind;
  cluster: EtcdCluster;
  client: Etcd3;
}

async function open(kind: TargetKind, progress: ReturnType<typeof makeProgress>): Promise<Target> {
  progress.phase(`${kind}: start 3 members`);
  const cluster: EtcdCluster = kind === 'etcd' ? await startRealEtcd(3) : await startLsmraftCluster(3, { engine: ENGINE, env: { LSMRAFT_INVARIANTS: '0' } });
  return { kind, cluster, client: new Etcd3({ hosts: cluster.endpoints().map((a) => `http://${a}`), dialTimeout: 5_000 }) };
}

/** The same warm-up for every target (JIT, connections, the first flushes), then the keys to read. */
async function prepare({ kind, client }: Target, progress: ReturnType<typeof makeProgress>): Promise<void> {
  progress.phase(`${kind}: warm-up and ${READ_KEYS} keys to read`);
  await closedLoop(32, WARM_UP_MS, (w, i) => client.put(`warm/${w}/${i}`).value(value).exec(), clientError);
  for (let i = 0; i < READ_KEYS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => client.put(`read/${i + j}`).value(value)));
}

async function run({ kind, client, cluster }: Target, w: (typeof WORKLOADS)[number], progress: ReturnType<typeof makeProgress>): Promise<WorkloadResult> {
  progress.phase(`${kind}: ${w.name} for ${formatNumber(LOAD_MS)} ms`);
  const op = w.kind === 'put'
    ? (worker: number, i: number) => client.put(`${w.concurrency}/${worker}/${i}`).value(value).exec()
    : (worker: number, i: number) => client.get(`read/${(worker * 7919 + i) % READ_KEYS}`).buffer();
  const pids = cluster.members.map((m) => m.pid);
  const cpu0 = processesCpuMicros(pids);
  const r = await closedLoop(w.concurrency, LOAD_MS, op, clientError);
  const cpu1 = processesCpuMicros(pids);
  const memberCpuUsPerOp = cpu0 !== undefined && cpu1 !== undefined && r.ops > 0 ? Math.round((cpu1 - cpu0) / r.ops) : null;
  return { workload: w.name, ...r, memberCpuUsPerOp };
}

/**
 * Both clusters run side by side for the whole bench (the idle one costs little: heartbeats), and
 * each workload runs on one then the other, the order alternating from workload to workload, so
 * the load of the machine (other processes, the page cache, the disk) falls on both alike.
 */
async function measure(kinds: TargetKind[], progress: ReturnType<typeof makeProgress>): Promise<Partial<Record<TargetKind, WorkloadResult[]>>> {
  const targets: Target[] = [];
  const results: Partial<Record<TargetKind, WorkloadResult[]>> = {};
  try {
    for (const kind of kinds) targets.push(await open(kind, progress));
    for (const t of targets) await prepare(t, progress);
    for (const [n, w] of WORKLOADS.entries()) {
      const order = n % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) (results[t.kind] ??= []).push(await run(t, w, progress));
    }
    return results;
  } finally {
    for (const t of targets) {
      t.client.close();
      await t.cluster.stop();
    }
  }
}

async function main(): Promise<void> {
  const kinds = targets();
  const progress = makeProgress(kinds.length * (2 + WORKLOADS.length));
  let results: Partial<Record<TargetKind, WorkloadResult[]>> = {};
  try {
    results = await measure(kinds, progress);
  } finally {
    progress.stop();
    await stopAll();
  }
  const ratios = WORKLOADS.map((w) => {
    const l = results.lsmraft?.find((r) => r.workload === w.name);
    const e = results.etcd?.find((r) => r.workload === w.name);
    const cpu = l?.memberCpuUsPerOp != null && e?.memberCpuUsPerOp != null && e.memberCpuUsPerOp > 0 ? Number((l.memberCpuUsPerOp / e.memberCpuUsPerOp).toFixed(2)) : null;
    return { workload: w.name, opsPerSec: l !== undefined && e !== undefined ? Number((l.opsPerSec / e.opsPerSec).toFixed(3)) : null, p99: l !== undefined && e !== undefined ? Number((l.p99Ms / e.p99Ms).toFixed(3)) : null, cpuPerOp: cpu };
  });

  console.log(`etcd API bench: 3 members each, fsync on, ${VALUE_BYTES}-byte values, etcd3 client, ${formatNumber(LOAD_MS)} ms per workload (lsmraft engine ${ENGINE})`);
  const rows = WORKLOADS.flatMap((w) => kinds.map((k) => {
    const r = results[k]!.find((x) => x.workload === w.name)!;
    return [`${w.name} ${k}`, formatNumber(r.opsPerSec), formatNumber(r.p50Ms, 2), formatNumber(r.p99Ms, 2), r.memberCpuUsPerOp === null ? 'n/a' : formatNumber(r.memberCpuUsPerOp), formatNumber(r.errors)];
  }));
  console.log(alignedTable(['workload target', 'ops/s', 'p50 ms', 'p99 ms', 'members CPU µs/op', 'errors'], rows));
  for (const k of kinds) for (const r of results[k]!) if (r.errors > 0) console.log(`${k} ${r.workload}: ${r.errors} errors, first: ${r.errorSamples.join(' | ')}`);
  for (const r of ratios) console.log(`${r.workload}: lsmraft/etcd throughput ${r.opsPerSec ?? 'n/a'}, p99 ${r.p99 ?? 'n/a'}, members CPU per op ${r.cpuPerOp ?? 'n/a'}`);
  const config = { valueBytes: VALUE_BYTES, loadMs: LOAD_MS, engine: ENGINE, targets: kinds, readKeys: READ_KEYS };
  console.log(`RESULT ${JSON.stringify({ ...config, results, ratios })}`);
  writeResults('etcd', config, { results, ratios }, {
    title: 'The etcd v3 API: lsmraft and etcd 3.4, three members each',
    subtitle: `${VALUE_BYTES}-byte values, fsync on, the etcd3 npm client over all endpoints, ${formatNumber(LOAD_MS)} ms per workload; lsmraft engine ${ENGINE}; node ${process.version}. Longer is better.`,
    unit: 'ops/s',
    series: kinds.map((k) => (k === 'etcd' ? 'etcd 3.4' : 'lsmraft')),
    groups: WORKLOADS.map((w) => {
      const rs = kinds.map((k) => results[k]!.find((x) => x.workload === w.name)!);
      return { label: w.name, values: rs.map((r) => r.opsPerSec), barLabels: rs.map((r) => `${formatNumber(r.opsPerSec)}/s, p99 ${formatNumber(r.p99Ms, 1)} ms`) };
    }),
  });
}

await main();
