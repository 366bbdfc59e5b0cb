/**
 * One chaos run against real kv-server processes: start a cluster behind fault proxies, run
 * concurrent clients while the nemesis plays a seeded fault schedule, heal everything, wait for
 * the replicas to converge, then check
 *   (a) the client history is linearizable per key (src/sim/linearizability.ts with the register
 *       model of src/sim/kv-model.ts; unknown outcomes may or may not have taken effect), and
 *   (b) every replica's local contents (`lsm r`) are the same.
 * A failed run writes its history, fault plan and fault log (JSON) to a directory it names, with
 * the seed that replays the schedule.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvClient } from '../../src/node/kv-client.js';
import { kvModel, pruneUnobservedUnknownPuts } from '../../src/sim/kv-model.js';
import { checkOperations, describeHistory, type CheckResult } from '../../src/sim/linearizability.js';
import { ChaosCluster } from './cluster.js';
import { FAULT_KINDS, Nemesis, countErrorCauses, planFaults, type FaultEvent, type FaultKind, type PlannedFault } from './nemesis.js';
import { describeRecord, staleReadWitnesses } from './witness.js';
import { keyName, runOp, toOperations, Workload, type OpRecord } from './workload.js';

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  nodes: number;
  workers?: number;
  keys?: number;
  opsMax?: number;
  kinds?: readonly FaultKind[];
  /** Bound on the wait for convergence after healing (CONVERGE_MS_DEFAULT). */
  convergeMs?: number;
  /** Bound on the checker's search. */
  checkTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  ops: number;
  outcomes: Record<string, number>;
  faults: FaultEvent[];
  /** Fault errors by cause (nemesis.ts faultErrorCause). */
  faultErrors: Record<string, number>;
  linearizable: CheckResult;
  /** The sub-history (one key) with no linearization, as readable lines. */
  violation?: string[];
  /** Reads of an acknowledged write after a later acknowledged write (test/chaos/witness.ts). */
  staleReads?: string[];
  converged: boolean;
  /** Per node: its local contents, when they differ. */
  divergence?: Record<number, string[]>;
  peakRssKiB: Record<number, { any: number; asLeader: number }>;
  /** Where the history and faults were written (failed runs only). */
  failureDir?: string;
  ok: boolean;
}

const CONVERGE_POLL_MS = 300;
/**
 * Default bound on healing and converging after the run: it may add nodes back, and one add (JOIN,
 * learner catch-up, promotion) is bounded by the node's own catch-up deadline of 30 s, retried.
 */
const CONVERGE_MS_DEFAULT = 180_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Makes every node a running voter again (a membership fault may have left one out), then waits
 * until all report the same applied index and the same local contents. */
async function converge(cluster: ChaosCluster, keys: number, timeoutMs: number, log: (l: string) => void): Promise<{ converged: boolean; scans: Map<number, string[]> }> {
  const deadline = Date.now() + timeoutMs;
  await cluster.healAll();
  const from = keyName(0);
  const to = keyName(keys - 1);
  let scans = new Map<number, string[]>();
  let readdsLeft = 3;
  // Each pass polls every node once; bounded by the deadline.
  while (Date.now() < deadline) {
    await sleep(CONVERGE_POLL_MS);
    const leader = await cluster.leader().catch(() => 0);
    if (leader === 0) continue;
    const ls = await cluster.status(leader).catch(() => undefined);
    if (ls === undefined) continue;
    const missing = cluster.ids.filter((id) => cluster.out.has(id) || !ls.voters.includes(id));
    if (missing.length > 0 && readdsLeft > 0) {
      readdsLeft--;
      for (const id of missing) {
        log(`node ${id} is not a voter after the run: adding it back (on an empty data directory)`);
        if (!cluster.out.has(id)) await cluster.wipe(id);
        await cluster.addBack(id).catch((e: unknown) => log(`add back of ${id} failed: ${String(e)}`));
      }
      continue;
    }
    const statuses = await Promise.all(cluster.ids.map((id) => cluster.status(id).catch(() => undefined)));
    if (statuses.some((s) => s === undefined)) continue;
    const applied = new Set(statuses.map((s) => s!.applied));
    scans = new Map();
    for (const id of cluster.ids) scans.set(id, await cluster.localScan(id, from, to).catch(() => ['(no answer)']));
    const distinct = new Set([...scans.values()].map((s) => s.join('\n')));
    if (applied.size === 1 && distinct.size === 1) return { converged: true, scans };
  }
  // What each node says of itself, for the failure's diagnosis.
  for (const id of cluster.ids) {
    const s = await cluster.status(id).catch((e: unknown) => String(e));
    log(`not converged: node ${id}${cluster.out.has(id) ? ' (out)' : ''}: ${typeof s === 'string' ? s : JSON.stringify(s)}`);
  }
  return { converged: false, scans };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const keys = o.keys ?? 5;
  const plan: PlannedFault[] = planFaults(o.seed, o.durationMs, o.nodes, o.kinds ?? FAULT_KINDS);
  log(`chaos seed ${o.seed}: ${o.nodes} nodes, ${o.durationMs / 1000} s, ${plan.length} faults planned`);
  const cluster = new ChaosCluster({ nodes: o.nodes, log });
  let records: OpRecord[] = [];
  let events: FaultEvent[] = [];
  let converged = false;
  let scans = new Map<number, string[]>();
  try {
    await cluster.start();
    const workload = new Workload({
      addresses: () => cluster.clientAddresses,
      workers: o.workers ?? o.nodes + 2,
      keys,
      opsMax: o.opsMax ?? 50_000,
      seed: o.seed,
      // Some workers retry long enough to ride out a fault; others give up early (unknown
      // outcomes); some start every operation at another node (followers forward it).
      clients: [
        { requestTimeoutMs: 5_000, attemptTimeoutMs: 1_500 },
        { requestTimeoutMs: 1_500, attemptTimeoutMs: 700 },
        { requestTimeoutMs: 5_000, attemptTimeoutMs: 1_000, freshPerOp: true },
        { requestTimeoutMs: 500, attemptTimeoutMs: 250 },
      ],
    });
    const nemesis = new Nemesis(cluster, plan, log);
    workload.start();
    const leaderPoll = setInterval(() => void cluster.leader().catch(() => 0), 1_000);
    const played = nemesis.run();
    await Promise.race([played, sleep(o.durationMs)]);
    nemesis.stop();
    await played;
    await workload.stop();
    clearInterval(leaderPoll);
    events = nemesis.events;
    log(`workload stopped: ${workload.log.records.length} operations; healing`);
    const c = await converge(cluster, keys, o.convergeMs ?? CONVERGE_MS_DEFAULT, log);
    converged = c.converged;
    scans = c.scans;
    // Final reads: a linearizable read of every key after everything healed.
    const reader = new KvClient(cluster.clientAddresses, { requestTimeoutMs: 10_000 });
    for (let k = 0; k < keys; k++) await runOp(workload.log, reader, 0, 'get', keyName(k));
    reader.close();
    records = workload.log.records;
  } finally {
    await cluster.close();
  }

  const history = pruneUnobservedUnknownPuts(toOperations(records));
  const check = checkOperations(kvModel, history, { timeoutMs: o.checkTimeoutMs ?? 60_000 });
  const outcomes: Record<string, number> = {};
  for (const r of records) outcomes[`${r.kind} ${r.outcome}`] = (outcomes[`${r.kind} ${r.outcome}`] ?? 0) + 1;
  const peakRssKiB: ChaosReport['peakRssKiB'] = {};
  for (const n of cluster.nodes.values()) peakRssKiB[n.id] = { any: n.peakRssKiB, asLeader: n.peakRssAsLeaderKiB };
  const report: ChaosReport = {
    seed: o.seed,
    ops: records.length,
    outcomes,
    faults: events,
    faultErrors: Object.fromEntries(countErrorCauses(events)),
    linearizable: check.result,
    converged,
    peakRssKiB,
    ok: check.result !== 'illegal' && converged,
  };
  if (check.result === 'illegal') {
    report.violation = describeHistory(kvModel, check.illegalPartition!);
    report.staleReads = staleReadWitnesses(records).map((w) => `${describeRecord(w.read)} after ${describeRecord(w.overwrittenBy)} overwrote ${describeRecord(w.put)}`);
  }
  if (!converged) report.divergence = Object.fromEntries(scans);

  log(`operations: ${records.length} (${Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  log(`peer proxies: ${[...cluster.nodes.values()].map((n) => `${n.id}: ${n.proxy.stats.accepted} connections, ${n.proxy.stats.closedByFault} cut, ${n.proxy.stats.blackholed} black-holed`).join('; ')}`);
  log(`faults applied: ${events.filter((e) => e.phase === 'apply').length}, errors: ${events.filter((e) => e.phase === 'error').length}`);
  for (const [cause, n] of Object.entries(report.faultErrors)) log(`  fault errors: ${n} x ${cause}`);
  log(`peak RSS (MiB) per node: ${Object.entries(peakRssKiB).map(([id, p]) => `${id}: ${(p.any / 1024).toFixed(0)} (as leader ${(p.asLeader / 1024).toFixed(0)})`).join(', ')}`);
  log(`linearizable: ${check.result} (${check.steps} steps, ${check.partitions} keys); replicas converged: ${converged}`);
  if (report.violation !== undefined) {
    log(`violation (key ${check.illegalPartition![0]!.input.key}, ${report.violation.length} operations, longest linearizable prefix ${check.longestLinearizedPrefix}):`);
    for (const l of report.violation.slice(-10)) log(`  ${l}`);
    log(`reads of an acknowledged write after a later acknowledged write: ${report.staleReads!.length}${report.staleReads!.length === 20 ? '+' : ''}`);
    for (const l of report.staleReads!) log(`  ${l}`);
  }
  if (!report.ok) {
    const dir = mkdtempSync(join(tmpdir(), `lsmraft-chaos-seed${o.seed}-`));
    writeFileSync(join(dir, 'history.json'), JSON.stringify(records, null, 1));
    writeFileSync(join(dir, 'faults.json'), JSON.stringify({ seed: o.seed, durationMs: o.durationMs, nodes: o.nodes, plan, events }, null, 1));
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 1));
    report.failureDir = dir;
    log(`FAILED: seed ${o.seed}; history and faults in ${dir}`);
  } else {
    log(`passed: seed ${o.seed}`);
  }
  return report;
}
