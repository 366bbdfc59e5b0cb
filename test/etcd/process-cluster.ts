/**
 * A cluster whose members are local processes (a real etcd's or lsmraft's kv-server), each with
 * the address of its etcd v3 API; stopped by PID, its directory removed.
 */
import { Etcd3, EtcdError, GRPCGenericError } from 'etcd3';
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

/**
 * Waits until each endpoint, asked alone, answers a linearizable get (bounded by timeoutMs; each
 * try bounded by a 2 s deadline). A fresh client per try: the etcd3 client's circuit breaker
 * would refuse an endpoint at once after its first failure.
 */
export async function waitServing(endpoints: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const ep of endpoints) {
    // Each pass is one get, then 100 ms; bounded by the deadline.
    for (;;) {
      const client = new Etcd3({ hosts: `http://${ep}`, dialTimeout: 2_000 });
      try {
        await client.get('health').options({ deadline: Date.now() + 2_000 }).string();
        break;
      } catch (e) {
        if (!(e instanceof GRPCGenericError || e instanceof EtcdError)) throw e;
        if (Date.now() > deadline) throw new Error(`${ep} did not serve a read within ${timeoutMs} ms: ${e.message}`);
      } finally {
        client.close();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
