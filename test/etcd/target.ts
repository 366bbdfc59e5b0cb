/**
 * What the etcd API checks drive, whichever server answers: a cluster of members, each a process
 * with a client address (host:port of its etcd v3 gRPC API). test/etcd/real-etcd.ts starts etcd
 * 3.4 itself, test/etcd/lsmraft-cluster.ts starts kv-server processes with --etcd-address; the
 * checks (the etcdctl scenario, the etcd3 client tests, the benchmark) see only this interface, so
 * they run unchanged against both.
 */
import { removeDir, type ServerProcess } from '../helpers/cluster.js';
import { findEtcd, findEtcdctl } from './tools.js';

export type TargetKind = 'etcd' | 'lsmraft';

export interface EtcdMember {
  /** 1-based, in start order. */
  readonly id: number;
  /** host:port of the member's etcd v3 API. */
  readonly clientAddress: string;
  readonly pid: number;
  readonly running: boolean;
  readonly exited: Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export interface EtcdCluster {
  readonly kind: TargetKind;
  readonly members: readonly EtcdMember[];
  /** Every running member's client address. */
  endpoints(): string[];
  /** Kills every member by PID and removes the data directories. */
  stop(): Promise<void>;
}

/** A member that is a local process (both kinds are). */
export class ProcessMember implements EtcdMember {
  constructor(readonly id: number, readonly clientAddress: string, readonly process: ServerProcess) {}

  get pid(): number {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
  }

  get exited(): Promise<void> {
    return this.process.exited;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.process.kill(signal);
  }
}

/** Local member processes with their data under one directory. */
export class ProcessCluster implements EtcdCluster {
  constructor(readonly kind: TargetKind, readonly dir: string, readonly members: ProcessMember[]) {}

  endpoints(): string[] {
    return this.members.filter((m) => m.running).map((m) => m.clientAddress);
  }

  async stop(): Promise<void> {
    for (const m of this.members) m.kill('SIGKILL');
    await Promise.all(this.members.map((m) => m.exited));
    removeDir(this.dir);
  }
}

/** The target the tests run against: ETCD_TARGET=etcd for a real etcd 3.4, lsmraft otherwise. */
export function targetKind(): TargetKind {
  const t = process.env.ETCD_TARGET ?? 'lsmraft';
  if (t !== 'etcd' && t !== 'lsmraft') throw new Error(`ETCD_TARGET must be etcd or lsmraft, not ${t}`);
  return t;
}

/**
 * Why a check against `kind` cannot run here, or undefined: a real etcd needs the etcd binary,
 * and a check driving etcdctl needs etcdctl.
 */
export function skipReason(kind: TargetKind, needsEtcdctl: boolean): string | undefined {
  if (needsEtcdctl) {
    const c = findEtcdctl();
    if ('skip' in c) return c.skip;
  }
  if (kind === 'etcd') {
    const e = findEtcd();
    if ('skip' in e) return e.skip;
  }
  return undefined;
}

/** Starts a `size`-member cluster of `kind` (the module is loaded only when used). */
export async function startTarget(kind: TargetKind, size: number): Promise<EtcdCluster> {
  if (kind === 'etcd') return (await import('./real-etcd.js')).startRealEtcd(size);
  return (await import('./lsmraft-cluster.js')).startLsmraftCluster(size);
}
