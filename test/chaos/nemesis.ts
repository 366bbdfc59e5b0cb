/**
 * The nemesis of a chaos run (after Jepsen's nemesis generators): a schedule of faults drawn from
 * a seed, then played against a ChaosCluster. The schedule (kinds, targets, times, hold times) is a
 * pure function of (seed, duration, node count), so a failing run is replayed by its seed; which
 * node "the leader" was is only known at run time and is recorded in the fault log.
 *
 * One fault at a time: a fault is applied, held, healed, then the cluster gets a quiet gap. So a
 * majority is always reachable once a fault heals, and a run can end with everything healed.
 */
import { LsmraftError } from '../../src/errors.js';
import { Random } from '../../src/sim/random.js';
import type { ChaosCluster } from './cluster.js';
import type { CutMode } from './proxy.js';

export type FaultKind = 'kill' | 'pause' | 'isolate' | 'split' | 'delay' | 'drop' | 'membership' | 'transfer';

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'isolate', 'split', 'delay', 'drop', 'membership', 'transfer'];

export interface PlannedFault {
  atMs: number;
  kind: FaultKind;
  /** A node id, or 'leader' (resolved when applied). */
  target: number | 'leader';
  holdMs: number;
  mode?: CutMode;
  /** split: one side (the other is the rest). */
  side?: number[];
  /** delay: added latency of every peer link. */
  delayMs?: number;
}

export interface FaultEvent {
  tMs: number;
  kind: FaultKind;
  phase: 'apply' | 'heal' | 'error';
  node?: number;
  detail?: string;
  /** An error's cause for the run's summary: kind, error code, message without ids, indexes and addresses. */
  cause?: string;
}

/** The cause of a fault's error, the same for the same failure at another node, port or index. */
export function faultErrorCause(kind: FaultKind, err: unknown): string {
  const code = err instanceof LsmraftError ? err.code : 'harness';
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  return `${kind} ${code}: ${message.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR').replace(/\d+/g, 'N').slice(0, 100)}`;
}

/** Error counts by cause, most frequent first. */
export function countErrorCauses(events: readonly FaultEvent[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const e of events) if (e.phase === 'error') counts.set(e.cause ?? `${e.kind} (no cause)`, (counts.get(e.cause ?? `${e.kind} (no cause)`) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

/** Bounds of one fault's hold time and of the quiet gap after it. */
const HOLD_MS_MIN = 1_000;
const HOLD_MS_MAX = 5_000;
const GAP_MS_MIN = 500;
const GAP_MS_MAX = 2_500;

export function planFaults(seed: number, durationMs: number, nodes: number, kinds: readonly FaultKind[] = FAULT_KINDS): PlannedFault[] {
  const rnd = new Random(seed);
  const plan: PlannedFault[] = [];
  let t = 1_000;
  // Bounded: t grows by at least HOLD_MS_MIN + GAP_MS_MIN a pass.
  while (t + HOLD_MS_MIN < durationMs) {
    const kind = kinds[rnd.int(kinds.length)]!;
    const target: number | 'leader' = rnd.chance(0.4) ? 'leader' : rnd.range(1, nodes);
    const holdMs = rnd.range(HOLD_MS_MIN, HOLD_MS_MAX);
    const f: PlannedFault = { atMs: t, kind, target, holdMs };
    if (kind === 'isolate' || kind === 'split') f.mode = rnd.chance(0.5) ? 'close' : 'blackhole';
    if (kind === 'split') {
      // A minority side: the rest keeps a quorum.
      const ids = Array.from({ length: nodes }, (_, i) => i + 1);
      const side: number[] = [];
      const size = rnd.range(1, Math.floor((nodes - 1) / 2));
      while (side.length < size) {
        const id = ids.splice(rnd.int(ids.length), 1)[0]!;
        side.push(id);
      }
      f.side = side.sort((a, b) => a - b);
    }
    if (kind === 'delay') f.delayMs = rnd.range(20, 300);
    plan.push(f);
    t += holdMs + rnd.range(GAP_MS_MIN, GAP_MS_MAX);
  }
  return plan;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Plays `plan` against `cluster`; returns the log of what was applied and healed. */
export class Nemesis {
  readonly events: FaultEvent[] = [];
  private readonly t0 = Date.now();
  private stopped = false;

  constructor(private readonly cluster: ChaosCluster, private readonly plan: readonly PlannedFault[], private readonly log: (line: string) => void) {}

  stop(): void {
    this.stopped = true;
  }

  private now(): number {
    return Date.now() - this.t0;
  }

  private record(e: Omit<FaultEvent, 'tMs'>): void {
    const ev = { tMs: this.now(), ...e };
    this.events.push(ev);
    this.log(`${(ev.tMs / 1000).toFixed(1)}s ${ev.phase} ${ev.kind}${ev.node === undefined ? '' : ` node ${ev.node}`}${ev.detail === undefined ? '' : ` ${ev.detail}`}`);
  }

  async run(): Promise<void> {
    for (const f of this.plan) {
      if (this.stopped) return;
      await sleep(f.atMs - this.now());
      if (this.stopped) return;
      try {
        await this.play(f);
      } catch (err) {
        this.record({ kind: f.kind, phase: 'error', detail: err instanceof Error ? err.message.split('\n')[0] : String(err), cause: faultErrorCause(f.kind, err) });
        await this.cluster.healAll().catch((e: unknown) => this.record({ kind: f.kind, phase: 'error', detail: `heal: ${String(e)}`, cause: `heal after ${faultErrorCause(f.kind, e)}` }));
      }
    }
  }

  private async resolve(target: number | 'leader'): Promise<number> {
    if (target !== 'leader') return target;
    const l = await this.cluster.leader();
    return l === 0 ? 1 : l;
  }

  private async play(f: PlannedFault): Promise<void> {
    const c = this.cluster;
    switch (f.kind) {
      case 'kill': {
        const id = await this.resolve(f.target);
        await c.kill(id);
        this.record({ kind: f.kind, phase: 'apply', node: id, detail: 'SIGKILL' });
        await sleep(f.holdMs);
        await c.startProcess(id);
        this.record({ kind: f.kind, phase: 'heal', node: id, detail: 'restarted on the same data directory' });
        return;
      }
      case 'pause': {
        const id = await this.resolve(f.target);
        c.pause(id);
        this.record({ kind: f.kind, phase: 'apply', node: id, detail: 'SIGSTOP' });
        await sleep(f.holdMs);
        c.resume(id);
        this.record({ kind: f.kind, phase: 'heal', node: id, detail: 'SIGCONT' });
        return;
      }
      case 'isolate': {
        const id = await this.resolve(f.target);
        const rest = c.ids.filter((x) => x !== id);
        c.faults.split([id], rest, f.mode!);
        this.record({ kind: f.kind, phase: 'apply', node: id, detail: f.mode });
        await sleep(f.holdMs);
        c.faults.healAll();
        this.record({ kind: f.kind, phase: 'heal', node: id });
        return;
      }
      case 'split': {
        const rest = c.ids.filter((x) => !f.side!.includes(x));
        c.faults.split(f.side!, rest, f.mode!);
        this.record({ kind: f.kind, phase: 'apply', detail: `[${f.side!.join(',')}] | [${rest.join(',')}] ${f.mode}` });
        await sleep(f.holdMs);
        c.faults.healAll();
        this.record({ kind: f.kind, phase: 'heal' });
        return;
      }
      case 'delay': {
        c.faults.setDelay(f.delayMs!);
        this.record({ kind: f.kind, phase: 'apply', detail: `${f.delayMs} ms on every peer link` });
        await sleep(f.holdMs);
        c.faults.setDelay(0);
        this.record({ kind: f.kind, phase: 'heal' });
        return;
      }
      case 'drop': {
        const id = await this.resolve(f.target);
        c.node(id).proxy.dropAll();
        this.record({ kind: f.kind, phase: 'apply', node: id, detail: 'closed every peer connection to it' });
        return;
      }
      case 'membership': {
        const id = await this.resolve(f.target);
        this.record({ kind: f.kind, phase: 'apply', node: id, detail: 'remove, wipe, add back' });
        await c.removeAndReadd(id);
        this.record({ kind: f.kind, phase: 'heal', node: id, detail: 're-added' });
        return;
      }
      case 'transfer': {
        const leader = await c.leader();
        // A node that is out (removed, its add back not done) is no voter to hand leadership to.
        const others = c.ids.filter((x) => x !== leader && !c.out.has(x));
        if (others.length === 0) {
          this.record({ kind: f.kind, phase: 'apply', detail: `skipped: no voter but the leader ${leader}` });
          return;
        }
        const to = f.target === 'leader' || f.target === leader || c.out.has(f.target) ? others[f.holdMs % others.length]! : f.target;
        await c.transfer(to);
        this.record({ kind: f.kind, phase: 'apply', node: to, detail: `from ${leader}` });
        return;
      }
    }
  }
}
