/**
 * What the etcd API checks drive, whichever server answers: a cluster of members, each a process
 * with a client address (host:port of its etcd v3 gRPC API). test/etcd/real-etcd.ts starts etcd
 * 3.4 itself, test/etcd/lsmraft-cluster.ts starts kv-server processes with --etcd-address; the
 * checks (the etcdctl scenario, the etcd3 client tests, the benchmark) see only this interface, so
 * they run unchanged against both.
 */
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

/**
 * Starts a `size`-member cluster of `kind` (the module is loaded only when used). `flags`: server
 * flags both take (etcd's spelling, which kv-server shares: --quota-backend-bytes).
 */
export async function startTarget(kind: TargetKind, size: number, flags: readonly string[] = []): Promise<EtcdCluster> {
  if (kind === 'etcd') return (await import('./real-etcd.js')).startRealEtcd(size, flags);
  return (await import('./lsmraft-cluster.js')).startLsmraftCluster(size, { extraArgs: [...flags] });
}
