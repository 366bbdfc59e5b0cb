/**
 * A cluster of real kv-server processes for chaos tests: N nodes on 127.0.0.1, each in its own
 * temporary data directory, each behind a PeerProxy (test/chaos/proxy.ts). A node listens on its
 * own port (`--listen`) and announces its proxy's address, so peers always reach it through the
 * proxy; the harness talks to nodes directly (stdin for status and local scans, KvClient on the
 * listen ports).
 *
 * The cluster is built the seed's way: node 1 starts as a cluster of one and `add`s the others at
 * their proxy addresses. Processes come from test/helpers/cluster.ts (tracked, stopped by PID).
 */
import { readFileSync } from 'node:fs';
import { LsmraftError } from '../../src/errors.js';
import { KvClient } from '../../src/node/kv-client.js';
import { freePort, removeDir, startServer, tempDir, type ServerProcess } from '../helpers/cluster.js';
import { LinkFaults, PeerProxy } from './proxy.js';

/** Bound on one stdin command's answer (a status or a local scan). */
const ASK_MS = 5_000;
/** Bound on `add` (JOIN, snapshot, catch-up). */
const ADD_MS = 60_000;
/** Attempts at binding a node's listen port (another process may take a free port first). */
const START_ATTEMPTS_MAX = 3;
/** Bound on finding out a node's membership after an admin call of unknown outcome. */
const SETTLE_MS = 10_000;
const SETTLE_POLL_MS = 250;
/** Adds of one node back whose leader lost leadership before promoting it. */
const ADD_ATTEMPTS_MAX = 3;
/** How often the resident set of every node is sampled. */
const RSS_SAMPLE_MS = 250;

export interface NodeStatusLine {
  id: number;
  role: string;
  term: number;
  leader: number;
  commit: number;
  applied: number;
  voters: number[];
  learners: number[];
  clusterId: string;
}

export interface ChaosNode {
  id: number;
  listenAddress: string;
  proxy: PeerProxy;
  dataDir: string;
  proc: ServerProcess | undefined;
  paused: boolean;
  /** Peak resident set seen, in KiB, over all its processes (VmHWM and VmRSS samples). */
  peakRssKiB: number;
  /** Peak resident set sampled while this node was the last known leader, in KiB. */
  peakRssAsLeaderKiB: number;
}

export interface ChaosClusterOptions {
  nodes: number;
  engine?: 'wasm' | 'js';
  log?: (line: string) => void;
}

export function parseStatusLine(line: string): NodeStatusLine {
  const m = /^node (\d+) (\w+) term (\d+) leader (none|\d+).* commit (\d+) applied (\d+) .*voters \[([\d,]*)\] cluster (\w+)/.exec(line);
  if (m === null) throw new Error(`unparsable status line: ${line}`);
  const learners = / learners \[([\d,]*)\] voters /.exec(line)?.[1] ?? '';
  return {
    id: Number(m[1]),
    role: m[2]!,
    term: Number(m[3]),
    leader: m[4] === 'none' ? 0 : Number(m[4]),
    commit: Number(m[5]),
    applied: Number(m[6]),
    voters: m[7] === '' ? [] : m[7]!.split(',').map(Number),
    learners: learners === '' ? [] : learners.split(',').map(Number),
    clusterId: m[8]!,
  };
}

/** The resident set now and its high-water mark, in KiB (0 when the process is gone). */
function readRssKiB(pid: number): { rss: number; hwm: number } {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return { rss: 0, hwm: 0 };
    throw err;
  }
  const hwm = /VmHWM:\s+(\d+)/.exec(text);
  const rss = /VmRSS:\s+(\d+)/.exec(text);
  return { rss: rss === null ? 0 : Number(rss[1]), hwm: hwm === null ? 0 : Number(hwm[1]) };
}

export class ChaosCluster {
  readonly faults = new LinkFaults();
  readonly nodes = new Map<number, ChaosNode>();
  private admin: KvClient | undefined;
  private rssTimer: NodeJS.Timeout | undefined;
  private lastLeader = 0;
  /** The cluster's id (node 1's, which the others adopt when added). */
  clusterId = '';
  /** Nodes removed and wiped, not added back yet: one-member clusters of their own. */
  readonly out = new Set<number>();
  private readonly log: (line: string) => void;

  constructor(private readonly opts: ChaosClusterOptions) {
    this.log = opts.log ?? (() => undefined);
  }

  get ids(): number[] {
    return [...this.nodes.keys()];
  }

  /** The members' own (client) addresses, in id order; a node that is out is left out. */
  get clientAddresses(): string[] {
    return [...this.nodes.values()].filter((n) => !this.out.has(n.id)).map((n) => n.listenAddress);
  }

  node(id: number): ChaosNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Starts the proxies and the processes and builds the cluster (node 1 adds the others). */
  async start(): Promise<void> {
    for (let id = 1; id <= this.opts.nodes; id++) {
      const listenAddress = `127.0.0.1:${await freePort()}`;
      const proxy = new PeerProxy(id, listenAddress, this.faults, () => this.ids);
      await proxy.listen();
      this.nodes.set(id, { id, listenAddress, proxy, dataDir: tempDir(`chaos-${id}`), proc: undefined, paused: false, peakRssKiB: 0, peakRssAsLeaderKiB: 0 });
    }
    for (const id of this.ids) await this.startProcess(id);
    const first = this.node(1).proc!;
    for (const id of this.ids.slice(1)) {
      const answer = await first.ask(`add ${id} ${this.node(id).proxy.address}`, /^(added|error)/, ADD_MS);
      if (!answer.startsWith('added')) throw new Error(`could not add node ${id}: ${answer}`);
    }
    this.clusterId = (await this.status(1)).clusterId;
    this.renewAdmin();
    this.rssTimer = setInterval(() => this.sampleRss(), RSS_SAMPLE_MS);
    this.log(`cluster of ${this.ids.length} up: ${this.ids.map((id) => `${id}@${this.node(id).listenAddress} (proxy ${this.node(id).proxy.address})`).join(', ')}`);
  }

  /** Starts node `id` on its data directory (again, after a kill), listening where it did before if it can. */
  async startProcess(id: number): Promise<void> {
    const n = this.node(id);
    let lastErr: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS_MAX; attempt++) {
      try {
        n.proc = await startServer({ id, address: n.proxy.address, dataDir: n.dataDir, engine: this.opts.engine ?? 'js', extraArgs: ['--listen', n.listenAddress] });
        n.paused = false;
        return;
      } catch (err) {
        lastErr = err;
        // The port may have been taken while the node was down: pick another one.
        n.listenAddress = `127.0.0.1:${await freePort()}`;
        n.proxy.setTarget(n.listenAddress);
        if (this.admin !== undefined) this.renewAdmin();
      }
    }
    throw lastErr;
  }

  running(id: number): boolean {
    return this.node(id).proc?.running === true;
  }

  async kill(id: number): Promise<void> {
    const p = this.node(id).proc;
    if (p === undefined || !p.running) return;
    p.kill('SIGKILL');
    await p.exited;
    this.node(id).paused = false;
  }

  pause(id: number): void {
    const n = this.node(id);
    if (n.proc?.running !== true || n.paused) return;
    n.proc.kill('SIGSTOP');
    n.paused = true;
  }

  resume(id: number): void {
    const n = this.node(id);
    if (n.proc?.running !== true || !n.paused) return;
    n.proc.kill('SIGCONT');
    n.paused = false;
  }

  /** The admin client talks to members only (never to a node that is out). */
  private renewAdmin(): void {
    this.admin?.close();
    this.admin = new KvClient(this.clientAddresses, { requestTimeoutMs: 10_000, attemptTimeoutMs: 2_000 });
  }

  /** The leader as the cluster reports it (through any member), or 0. */
  async leader(): Promise<number> {
    for (const id of this.ids) {
      const n = this.node(id);
      if (n.proc?.running !== true || n.paused || this.out.has(id)) continue;
      const s = await this.status(id).catch(() => undefined);
      if (s !== undefined && s.leader !== 0 && s.clusterId === this.clusterId) {
        this.lastLeader = s.leader;
        return s.leader;
      }
    }
    return 0;
  }

  async status(id: number): Promise<NodeStatusLine> {
    const p = this.node(id).proc;
    if (p === undefined || !p.running) throw new Error(`node ${id} is not running`);
    return parseStatusLine(await p.ask('status', /^node \d+ \w+ term /, ASK_MS));
  }

  /** This node's local contents in the key range [from, to] (`lsm r`), as "key = value" lines. */
  async localScan(id: number, from: string, to: string): Promise<string[]> {
    const p = this.node(id).proc;
    if (p === undefined || !p.running) throw new Error(`node ${id} is not running`);
    const lines = await p.askLines(`lsm r ${from} ${to}`, /^\(\d+ keys?\)$/, ASK_MS);
    return lines.filter((l) => / = /.test(l));
  }

  async transfer(to: number): Promise<void> {
    await this.adminClient().transferLeadership(to);
  }

  /**
   * Removes node `id`, then starts it again on a fresh empty data directory and adds it back. A
   * node still out (an earlier add back failed) is only added back. A removal or an add whose
   * outcome the client reports unknown (KV_ERR_TIMEOUT: say the node that served it was the one
   * removed, and stopped before answering) is settled by asking the leader for the membership:
   * the harness goes on when the change happened and fails (typed, with the cause) when it did not.
   */
  async removeAndReadd(id: number): Promise<void> {
    // Nodes an earlier fault left out come back first: the cluster must not shrink fault by fault
    // down to its last voter.
    for (const other of [...this.out]) if (other !== id) await this.addBack(other);
    if (!this.out.has(id)) {
      await this.settle(this.adminClient().removeMember(id), id, 'none');
      await this.wipe(id);
    }
    await this.addBack(id);
  }

  /**
   * Node `id`'s membership as the leader reports it, or undefined when no leader answers within
   * SETTLE_MS (the leader's view: a follower's configuration may lag).
   */
  async membershipOf(id: number): Promise<'voter' | 'learner' | 'none' | undefined> {
    const deadline = Date.now() + SETTLE_MS;
    // Each pass asks the members once, then waits; bounded by the deadline.
    while (Date.now() < deadline) {
      const leader = await this.leader();
      const s = leader === 0 ? undefined : await this.status(leader).catch(() => undefined);
      if (s !== undefined && s.role === 'leader') return s.voters.includes(id) ? 'voter' : s.learners.includes(id) ? 'learner' : 'none';
      await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    }
    return undefined;
  }

  /**
   * Awaits an admin call; when its outcome is unknown, asks the leader whether node `id` ended as
   * `wanted` and rethrows only if it did not (or nobody can tell).
   */
  private async settle(call: Promise<void>, id: number, wanted: 'voter' | 'none'): Promise<void> {
    try {
      await call;
    } catch (err) {
      if (!(err instanceof LsmraftError) || err.code !== 'KV_ERR_TIMEOUT') throw err;
      const now = await this.membershipOf(id);
      if (now !== wanted) throw new LsmraftError('KV_ERR_TIMEOUT', `${err.message} (node ${id} is ${now ?? 'of unknown membership'} after it)`, { cause: err });
      this.log(`node ${id}: outcome unknown, but the leader has it as ${wanted}: going on`);
    }
  }

  /**
   * Kills node `id` and restarts it on a fresh empty data directory, on a new port: it is a
   * cluster of its own until added back, and clients that knew its old port must not reach it.
   */
  async wipe(id: number): Promise<void> {
    const n = this.node(id);
    this.out.add(id);
    n.proxy.refuseClients = true;
    this.renewAdmin();
    await this.kill(id);
    removeDir(n.dataDir);
    n.dataDir = tempDir(`chaos-${id}`);
    n.listenAddress = `127.0.0.1:${await freePort()}`;
    n.proxy.setTarget(n.listenAddress);
    await this.startProcess(id);
  }

  /**
   * Adds node `id` (out, on an empty data directory) back. An add whose leader lost leadership
   * before promoting the learner, or whose learner did not catch up in time, says so
   * (KV_ERR_MEMBERSHIP) and asks for another add, which promotes the learner: done up to
   * ADD_ATTEMPTS_MAX times.
   */
  async addBack(id: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.settle(this.adminClient().addMember(id, this.node(id).proxy.address), id, 'voter');
        break;
      } catch (err) {
        if (!(err instanceof LsmraftError) || err.code !== 'KV_ERR_MEMBERSHIP' || !/lost leadership before promoting|did not catch up/.test(err.message) || attempt >= ADD_ATTEMPTS_MAX) throw err;
        this.log(`node ${id}: ${err.message}; adding it again`);
        await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
      }
    }
    this.out.delete(id);
    this.node(id).proxy.refuseClients = false;
    this.renewAdmin();
  }

  adminClient(): KvClient {
    if (this.admin === undefined) throw new Error('cluster not started');
    return this.admin;
  }

  /** Ends every fault: links healed, paused nodes resumed, dead nodes restarted. */
  async healAll(): Promise<void> {
    this.faults.healAll();
    for (const id of this.ids) {
      const n = this.node(id);
      if (n.paused) this.resume(id);
      if (n.proc?.running !== true) await this.startProcess(id);
    }
  }

  private sampleRss(): void {
    for (const n of this.nodes.values()) {
      if (n.proc?.running !== true) continue;
      const { rss, hwm } = readRssKiB(n.proc.pid);
      n.peakRssKiB = Math.max(n.peakRssKiB, rss, hwm);
      if (n.id === this.lastLeader) n.peakRssAsLeaderKiB = Math.max(n.peakRssAsLeaderKiB, rss);
    }
  }

  /** Stops everything the harness started; keeps nothing on disk. */
  async close(): Promise<void> {
    if (this.rssTimer !== undefined) clearInterval(this.rssTimer);
    this.admin?.close();
    for (const n of this.nodes.values()) {
      if (n.paused) this.resume(n.id);
      if (n.proc?.running === true) {
        n.proc.kill('SIGKILL');
        await n.proc.exited;
      }
      await n.proxy.close();
      removeDir(n.dataDir);
    }
  }
}
