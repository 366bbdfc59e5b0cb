/**
 * A cluster whose members are local processes (a real etcd's or lsmraft's kv-server), each with
 * the address of its etcd v3 API; stopped by PID, its directory removed.
 */
import { removeDir, type ServerProcess } from '../helpers/cluster.js';
import type { EtcdCluster, EtcdMember, TargetKind } from './target.js';

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
