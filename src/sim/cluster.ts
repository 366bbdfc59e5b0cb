/**
 * The deterministic Raft simulator: N nodes running the real core in one process, a faulty
 * network, crashes that lose unsynced state, slow disks, membership changes, log compaction, and
 * clients issuing put/get/delete with timeouts and retries. One integer seed decides everything,
 * so any failure replays exactly. After the simulation testing of FoundationDB and TigerBeetle's
 * VOPR, and the network harness of etcd-io/raft's tests; safety is checked after every handled
 * Ready (src/sim/invariants.ts) and the client history at the end (src/sim/linearizability.ts).
 *
 * A run is a sequence of steps. Each step: inject faults, tick every live node (a node skips a
 * tick now and then: clocks drift), deliver the messages due, let clients act, then let every node
 * handle its Readies. The last fifth of a run is quiet (partitions healed, nodes restarted, no new
 * faults) so that operations in flight can finish and the history says more.
 *
 * The core is injected (RaftCore), never imported here, so a test can run a mutant copy of it.
 */

import type { RaftConfig } from '../raft/config.js';
import type { ConfChange, Message, NodeId } from '../raft/types.js';
import { utf8 } from '../util/bytes.js';
import { History } from './history.js';
import { SafetyChecker, SafetyViolation, type InvariantName } from './invariants.js';
import { kvModel, pruneUnobservedUnknownPuts, type KvInput } from './kv-model.js';
import { checkOperations, describeHistory, type CheckResult } from './linearizability.js';
import { SimNetwork } from './network.js';
import { SimNode, type NodeHost, type RaftCore } from './node.js';
import { encodeCommand } from './state-machine.js';
import { Random } from './random.js';
import { drawKnobs, type Knobs } from './scenario.js';

export interface SimOptions {
  seed: number;
  /** Voters of the initial cluster (3 or 5 typically). */
  nodes: number;
  core: RaftCore;
  /** Length of the run in steps. Default 300 (DEFAULT_STEPS). */
  steps?: number;
  clients?: number;
  keys?: number;
  /** Whether the run may add and remove members. Default true. */
  membership?: boolean;
  /** Bound on the linearizability search. Default 300,000 steps. */
  checkerMaxSteps?: number;
  /** Check the leader commit and conf change rules directly, not only by consequence. Default true. */
  ruleChecks?: boolean;
  /** Receives a trace of notable events (verbose mode). */
  log?: (line: string) => void;
}

export interface SimStats {
  steps: number;
  messagesSent: number;
  messagesDropped: number;
  crashes: number;
  partitions: number;
  leaderTerms: number;
  committedEntries: number;
  opsCompleted: number;
  opsInHistory: number;
  confChangesProposed: number;
  snapshotsTaken: number;
  /** Snapshots a node received from a leader and installed. */
  snapshotsInstalled: number;
  readiesHandled: number;
  invariantChecks: number;
  checkerSteps: number;
  linearizability: CheckResult | 'not-run';
}

export interface SimFailure {
  invariant: InvariantName;
  message: string;
  step: number;
}

export interface SimResult {
  seed: number;
  nodes: number;
  ok: boolean;
  failure?: SimFailure;
  stats: SimStats;
  /** The command that replays this run. */
  replay: string;
}

const DEFAULT_STEPS = 300;

/** The command that replays a run (the defaults of SimOptions need no flag). */
export function replayCommand(seed: number, nodes: number, steps = DEFAULT_STEPS, ruleChecks = true): string {
  const extra = `${steps === DEFAULT_STEPS ? '' : ` --steps ${steps}`}${ruleChecks ? '' : ' --properties-only'}`;
  return `npm run sim -- --seed ${seed} --nodes ${nodes}${extra}`;
}

/** One line (or a few) saying what failed and how to replay it. */
export function describeFailure(r: SimResult): string {
  if (r.ok || r.failure === undefined) return `seed ${r.seed} (${r.nodes} nodes): ok`;
  return `seed ${r.seed} (${r.nodes} nodes) failed at step ${r.failure.step}: ${r.failure.message}\n  replay: ${r.replay}`;
}

interface ClientOp {
  opId: number;
  input: KvInput;
  nodeId: NodeId;
  deadlineStep: number;
}

interface SimClient {
  id: number;
  target: NodeId;
  op: ClientOp | undefined;
  nextStep: number;
}

/** New members a run may add, beyond the initial voters. */
const EXTRA_NODES_MAX = 3;
const ELECTION_TICKS = 10;

function isProposalDropped(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'RAFT_ERR_PROPOSAL_DROPPED';
}

class Simulation implements NodeHost {
  readonly checker: SafetyChecker;
  private readonly ruleChecks: boolean;
  private readonly rng: Random;
  private readonly opts: Required<Omit<SimOptions, 'log' | 'ruleChecks'>> & { log: ((line: string) => void) | undefined };
  private readonly knobs: Knobs;
  private readonly network: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly nodeList: SimNode[] = [];
  private readonly clients: SimClient[] = [];
  private readonly clientOfOp = new Map<number, SimClient>();
  private readonly history = new History();
  private readonly keys: string[];
  private readonly configBase: Omit<RaftConfig, 'id' | 'random' | 'appliedIndex'>;
  private now = 0;
  private healAtStep = 0;
  /** Start of the quiet phase: no new faults from here on. */
  private readonly quietFromStep: number;
  /** Nodes to crash once this step's Readies are handled (and restart next step). */
  private readonly crashAfterReadies = new Set<SimNode>();
  private nextNodeId: NodeId;
  private valueSeq = 0;
  private readonly stats: SimStats = {
    steps: 0, messagesSent: 0, messagesDropped: 0, crashes: 0, partitions: 0, leaderTerms: 0, committedEntries: 0,
    opsCompleted: 0, opsInHistory: 0, confChangesProposed: 0, snapshotsTaken: 0, snapshotsInstalled: 0, readiesHandled: 0, invariantChecks: 0,
    checkerSteps: 0, linearizability: 'not-run',
  };

  constructor(options: SimOptions) {
    this.opts = {
      seed: options.seed,
      nodes: options.nodes,
      core: options.core,
      steps: options.steps ?? DEFAULT_STEPS,
      clients: options.clients ?? 3,
      keys: options.keys ?? 3,
      membership: options.membership ?? true,
      checkerMaxSteps: options.checkerMaxSteps ?? 300_000,
      log: options.log,
    };
    this.ruleChecks = options.ruleChecks ?? true;
    this.checker = new SafetyChecker({ ruleChecks: this.ruleChecks });
    this.rng = new Random(options.seed);
    this.quietFromStep = Math.floor(this.opts.steps * 0.8);
    this.knobs = drawKnobs(this.rng, this.opts.membership);
    this.network = new SimNetwork(this.rng.fork(), {
      lossRate: this.knobs.lossRate,
      duplicateRate: this.knobs.duplicateRate,
      maxDelaySteps: this.knobs.maxDelaySteps,
      maxInFlightMessages: 4096,
    });
    const k = this.knobs;
    this.configBase = {
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: k.heartbeatTicks,
      preVote: k.preVote,
      checkQuorum: k.checkQuorum,
      maxSizePerMsgBytes: k.maxSizePerMsgBytes,
      maxInflightMsgs: k.maxInflightMsgs,
      maxInflightBytes: k.maxInflightBytes,
      readOnlyOption: 'safe',
      // The same bound for committed entries: with 1 B, every Ready applies a single entry.
      maxCommittedSizePerReadyBytes: Math.max(1, k.maxSizePerMsgBytes),
    };
    this.keys = Array.from({ length: this.opts.keys }, (_, i) => `k${i}`);
    const voters = Array.from({ length: this.opts.nodes }, (_, i) => i + 1);
    for (const id of voters) {
      const node = this.addNode(id);
      node.bootstrap(voters);
      node.start();
    }
    this.nextNodeId = this.opts.nodes + 1;
    for (let c = 0; c < this.opts.clients; c++) {
      this.clients.push({ id: c + 1, target: this.rng.pick(voters), op: undefined, nextStep: this.rng.int(5) });
    }
    this.log(`seed ${options.seed}: ${this.opts.nodes} nodes, profile ${k.profile}, ` +
      `loss ${k.lossRate}, dup ${k.duplicateRate}, delay<=${k.maxDelaySteps}, crash ${k.crashRatePerStep}, ` +
      `partition ${k.partitionRatePerStep}, leader isolation ${k.leaderIsolationRatePerStep}, slow disk ${k.slowDisk.rate}, ` +
      `compaction ${k.compactRatePerStep}, conf changes ${k.confChangeRatePerStep}, ` +
      `preVote ${k.preVote}, checkQuorum ${k.checkQuorum}, max msg ${k.maxSizePerMsgBytes} B`);
  }

  async run(): Promise<SimResult> {
    let failure: SimFailure | undefined;
    try {
      for (this.now = 1; this.now <= this.opts.steps; this.now++) {
        if (this.now < this.quietFromStep) this.injectFaults();
        else if (this.now === this.quietFromStep) this.calm();
        this.tickNodes();
        this.deliverMessages();
        this.runClients();
        await this.handleReadies();
      }
    } catch (e) {
      failure = this.toFailure(e);
    }
    if (failure === undefined) failure = this.checkHistory();
    this.collectStats();
    const result: SimResult = {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      ok: failure === undefined,
      stats: this.stats,
      replay: replayCommand(this.opts.seed, this.opts.nodes, this.opts.steps, this.ruleChecks),
    };
    if (failure !== undefined) result.failure = failure;
    return result;
  }

  // --- NodeHost ---

  nowStep(): number {
    return this.now;
  }

  log(line: string): void {
    if (this.opts.log !== undefined) this.opts.log(`[${this.now}] ${line}`);
  }

  send(from: SimNode, m: Message): void {
    const k = this.knobs;
    if (m.type === 'voteResp' && !m.reject && this.now < this.quietFromStep && k.crashAfterVoteRate > 0 && this.rng.chance(k.crashAfterVoteRate)) {
      // The vote is on its way; the voter must remember it after a restart.
      this.crashAfterReadies.add(from);
    }
    const to = this.nodes.get(m.to);
    const dropped = to === undefined ? 'partition' : this.network.send(m, this.now);
    if (dropped === undefined) return;
    const raw = from.raw;
    if (raw === undefined) return;
    if (m.type === 'snap') raw.reportSnapshot(m.to, false);
    if (dropped === 'partition') raw.reportUnreachable(m.to);
  }

  writeApplied(node: SimNode, opId: number): void {
    const client = this.clientOfOp.get(opId);
    if (client === undefined || client.op === undefined || client.op.opId !== opId || client.op.nodeId !== node.id) return;
    this.history.complete(opId, {});
    this.finishOp(client, node.id);
  }

  readReady(node: SimNode, opId: number): void {
    const client = this.clientOfOp.get(opId);
    if (client === undefined || client.op === undefined || client.op.opId !== opId || client.op.nodeId !== node.id) return;
    const value = node.sm.kv.get(client.op.input.key) ?? null;
    this.history.complete(opId, { value });
    this.finishOp(client, node.id);
  }

  // --- the step ---

  private addNode(id: NodeId): SimNode {
    const node = new SimNode(id, this.opts.core, this, this.configBase, this.rng.fork(), this.knobs.slowDisk);
    this.nodes.set(id, node);
    this.nodeList.push(node);
    return node;
  }

  private aliveNodes(): SimNode[] {
    return this.nodeList.filter((n) => n.alive);
  }

  private injectFaults(): void {
    const k = this.knobs;
    const rng = this.rng;
    // Crashes: keep a majority of the initial voters up most of the time, so the run makes progress.
    const downMax = Math.floor((this.opts.nodes - 1) / 2) + (rng.chance(0.1) ? 1 : 0);
    let down = this.nodeList.filter((n) => !n.alive).length;
    for (const node of this.nodeList) {
      if (node.alive && down < downMax && k.crashRatePerStep > 0 && rng.chance(k.crashRatePerStep)) {
        this.crash(node);
        node.restartAtStep = this.now + rng.range(1, k.downStepsMax);
        down++;
      } else if (!node.alive && this.now >= node.restartAtStep) {
        this.restart(node);
        down--;
      }
    }
    if (k.leaderCrashRatePerStep > 0 && down < downMax && rng.chance(k.leaderCrashRatePerStep)) {
      const leader = this.currentLeader();
      if (leader !== undefined) {
        this.crash(leader);
        leader.restartAtStep = this.now + rng.range(1, k.downStepsMax);
      }
    }
    // Partitions.
    if (this.network.isPartitioned()) {
      if (this.now >= this.healAtStep) {
        this.network.heal();
        this.log('partition healed');
      }
    } else if (k.partitionRatePerStep > 0 && rng.chance(k.partitionRatePerStep)) {
      this.partition();
    }
    this.churnLeaders();
    if (k.compactRatePerStep > 0 && rng.chance(k.compactRatePerStep)) {
      const alive = this.aliveNodes();
      if (alive.length > 0 && rng.pick(alive).compact(rng.range(0, 5))) this.stats.snapshotsTaken++;
    }
    if (k.confChangeRatePerStep > 0 && rng.chance(k.confChangeRatePerStep)) this.changeMembership();
    if (k.transferRatePerStep > 0 && rng.chance(k.transferRatePerStep)) {
      const leader = this.currentLeader();
      if (leader !== undefined) {
        const others = leader.conf.voters.filter((v) => v !== leader.id);
        if (others.length > 0) {
          const to = rng.pick(others);
          this.log(`transfer leadership ${leader.id} -> ${to}`);
          leader.raw!.transferLeadership(to);
        }
      }
    }
  }

  /**
   * Leader churn: now and then cut the newest leader off from everyone (which heals whatever was
   * cut before), so that leaders come and go while their last entries reached few followers.
   */
  private churnLeaders(): void {
    const k = this.knobs;
    if (k.leaderIsolationRatePerStep === 0 || !this.rng.chance(k.leaderIsolationRatePerStep)) return;
    const leader = this.currentLeader();
    if (leader === undefined) return;
    if (this.network.isPartitioned() && this.nodeList.every((n) => n === leader || !this.network.connected(n.id, leader.id))) return;
    this.network.partition([[leader.id]]);
    this.healAtStep = this.now + this.rng.range(3, k.isolationStepsMax);
    this.stats.partitions++;
    this.log(`isolate leader ${leader.id} until step ${this.healAtStep}`);
  }

  /** Start of the quiet phase: heal everything and bring every node back. */
  private calm(): void {
    this.network.heal();
    for (const node of this.nodeList) if (!node.alive) this.restart(node);
    this.log('quiet phase: partitions healed, all nodes up');
  }

  private crash(node: SimNode): void {
    this.log(`crash node ${node.id}`);
    node.crash();
    this.stats.crashes++;
    // Clients talking to the node see their connection drop: outcome unknown.
    for (const c of this.clients) {
      if (c.op !== undefined && c.op.nodeId === node.id) {
        this.history.timeout(c.op.opId);
        c.op = undefined;
        c.target = this.randomAliveId() ?? c.target;
        c.nextStep = this.now + 1;
      }
    }
  }

  private restart(node: SimNode): void {
    this.log(`restart node ${node.id}`);
    node.start();
  }

  private partition(): void {
    const ids = this.nodeList.map((n) => n.id);
    const rng = this.rng;
    const kind = rng.int(3);
    let groups: NodeId[][];
    if (kind === 0) {
      // Isolate one node (often the leader).
      const leader = this.currentLeader();
      const victim = leader !== undefined && rng.chance(0.6) ? leader.id : rng.pick(ids);
      groups = [[victim]];
    } else {
      const side = ids.filter(() => rng.chance(0.5));
      groups = [side];
    }
    if (kind === 2 && this.currentLeader() !== undefined) {
      // A minority with the leader: it keeps accepting work it cannot commit.
      const leader = this.currentLeader()!;
      const minority = [leader.id, ...ids.filter((id) => id !== leader.id && rng.chance(0.25))];
      groups = [minority];
    }
    this.network.partition(groups);
    this.healAtStep = this.now + this.rng.range(5, 60);
    this.stats.partitions++;
    this.log(`partition ${this.network.describePartition()} until step ${this.healAtStep}`);
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodeList) {
      if (n.alive && n.leaderTerm !== 0 && (best === undefined || n.leaderTerm > best.leaderTerm)) best = n;
    }
    return best;
  }

  private changeMembership(): void {
    const leader = this.currentLeader();
    if (leader === undefined) return;
    const rng = this.rng;
    const changes = rng.chance(0.3) ? 2 : 1; // sometimes two at once: the second must wait
    for (let i = 0; i < changes; i++) {
      const cc = this.pickConfChange(leader);
      if (cc === undefined) return;
      this.log(`propose conf change ${cc.type} ${cc.nodeId} at leader ${leader.id}`);
      this.stats.confChangesProposed++;
      try {
        leader.raw!.proposeConfChange(cc);
      } catch (e) {
        if (!isProposalDropped(e)) throw e;
        this.log(`conf change dropped: ${(e as Error).message}`);
      }
    }
  }

  private pickConfChange(leader: SimNode): ConfChange | undefined {
    const rng = this.rng;
    const { voters, learners } = leader.conf;
    if (learners.length > 0 && rng.chance(0.5)) return { type: 'addVoter', nodeId: rng.pick(learners) };
    const canAdd = this.nextNodeId <= this.opts.nodes + EXTRA_NODES_MAX;
    const wantAdd = voters.length < this.opts.nodes || (voters.length <= this.opts.nodes && rng.chance(0.5));
    if (canAdd && (wantAdd || voters.length <= 3)) {
      const id = this.nextNodeId++;
      this.addNode(id).start();
      return { type: rng.chance(0.3) ? 'addLearner' : 'addVoter', nodeId: id };
    }
    if (voters.length > 3) return { type: 'removeVoter', nodeId: rng.pick(voters) };
    return undefined;
  }

  private tickNodes(): void {
    const rate = this.knobs.tickRate;
    for (const node of this.nodeList) {
      if (node.raw !== undefined && (rate >= 1 || this.rng.chance(rate))) node.raw.tick();
    }
  }

  private deliverMessages(): void {
    for (const m of this.network.deliverable(this.now)) {
      const to = this.nodes.get(m.to);
      const from = this.nodes.get(m.from);
      if (to === undefined || to.raw === undefined) {
        if (m.type === 'snap') from?.raw?.reportSnapshot(m.to, false);
        continue;
      }
      to.raw.step(m);
      if (m.type === 'snap') from?.raw?.reportSnapshot(m.to, true);
    }
  }

  private async handleReadies(): Promise<void> {
    const n = this.nodeList.length;
    const start = this.rng.int(n);
    for (let i = 0; i < n; i++) await this.nodeList[(start + i) % n]!.handleReadies();
    for (const node of this.crashAfterReadies) {
      if (!node.alive) continue;
      this.crash(node);
      node.restartAtStep = this.now + 1;
    }
    this.crashAfterReadies.clear();
  }

  // --- clients ---

  private runClients(): void {
    for (const c of this.clients) {
      if (c.op !== undefined) {
        if (this.now >= c.op.deadlineStep) {
          this.history.timeout(c.op.opId);
          this.log(`client ${c.id} op ${c.op.opId} timed out at node ${c.op.nodeId}`);
          const node = this.nodes.get(c.op.nodeId);
          c.op = undefined;
          this.retarget(c, node);
          c.nextStep = this.now + 1;
        }
        continue;
      }
      if (this.now >= c.nextStep) this.invoke(c);
    }
  }

  private invoke(c: SimClient): void {
    let node = this.nodes.get(c.target);
    if (node === undefined || !node.alive) {
      const id = this.randomAliveId();
      if (id === undefined) return;
      c.target = id;
      node = this.nodes.get(id)!;
    }
    const raw = node.raw!;
    const rng = this.rng;
    const key = rng.pick(this.keys);
    const r = rng.next();
    const input: KvInput = r < 0.4 ? { kind: 'put', key, value: `v${++this.valueSeq}` } : r < 0.5 ? { kind: 'delete', key } : { kind: 'get', key };
    const opId = this.history.invoke(c.id, input);
    c.op = { opId, input, nodeId: node.id, deadlineStep: this.now + this.knobs.opTimeoutSteps };
    this.clientOfOp.set(opId, c);
    try {
      if (input.kind === 'get') {
        const ctx = utf8(`r${opId}`);
        node.expectRead(ctx, opId);
        raw.readIndex(ctx);
      } else {
        raw.propose(encodeCommand(input.kind === 'put' ? { opId, kind: 'put', key, value: input.value } : { opId, kind: 'delete', key }));
      }
    } catch (e) {
      if (!isProposalDropped(e)) throw e;
      // Refused before reaching any log: the operation never happened.
      this.history.cancel(opId);
      c.op = undefined;
      this.retarget(c, node);
      c.nextStep = this.now + 1 + rng.int(5);
    }
  }

  private finishOp(c: SimClient, nodeId: NodeId): void {
    c.op = undefined;
    c.target = nodeId;
    c.nextStep = this.now + this.rng.int(3);
  }

  /** Points the client at the node's idea of the leader, or at a random live node. */
  private retarget(c: SimClient, node: SimNode | undefined): void {
    const lead = node?.alive ? node.lead : 0;
    if (lead !== 0 && lead !== node?.id && this.nodes.get(lead)?.alive && this.rng.chance(0.8)) c.target = lead;
    else c.target = this.randomAliveId() ?? c.target;
  }

  private randomAliveId(): NodeId | undefined {
    const alive = this.aliveNodes();
    return alive.length === 0 ? undefined : this.rng.pick(alive).id;
  }

  // --- end of run ---

  private checkHistory(): SimFailure | undefined {
    // Every put writes a fresh value (valueSeq), which makes the pruning sound.
    const ops = pruneUnobservedUnknownPuts(this.history.operations());
    this.stats.opsInHistory = ops.length;
    const report = checkOperations(kvModel, ops, { maxSteps: this.opts.checkerMaxSteps });
    this.stats.checkerSteps = report.steps;
    this.stats.linearizability = report.result;
    if (report.result !== 'illegal') return undefined;
    const lines = describeHistory(kvModel, report.illegalPartition ?? []);
    const shown = lines.length > 60 ? [...lines.slice(0, 60), `... ${lines.length - 60} more`] : lines;
    return {
      invariant: 'linearizability',
      message: `client history is not linearizable (key ${report.illegalPartition?.[0]?.input.key}, ${lines.length} ops, ` +
        `at most ${report.longestLinearizedPrefix} linearized):\n    ${shown.join('\n    ')}`,
      step: this.now,
    };
  }

  private toFailure(e: unknown): SimFailure {
    if (e instanceof SafetyViolation) return { invariant: e.invariant, message: e.message, step: this.now };
    const err = e instanceof Error ? e : new Error(String(e));
    const where = (err.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' <- ');
    return { invariant: 'core-error', message: `${err.name}: ${err.message} (${where})`, step: this.now };
  }

  private collectStats(): void {
    const s = this.stats;
    s.steps = Math.min(this.now, this.opts.steps);
    s.messagesSent = this.network.sentCount;
    s.messagesDropped = this.network.droppedCount;
    s.leaderTerms = this.checker.leaderTerms;
    s.committedEntries = this.checker.committedCount;
    s.opsCompleted = this.history.completedCount;
    s.invariantChecks = this.checker.checks;
    s.readiesHandled = this.nodeList.reduce((sum, n) => sum + n.readiesHandled, 0);
    s.snapshotsInstalled = this.nodeList.reduce((sum, n) => sum + n.snapshotsInstalled, 0);
  }
}

/** Runs one seeded simulation to the end (or to the first safety violation). */
export function runSimulation(options: SimOptions): Promise<SimResult> {
  return new Simulation(options).run();
}
