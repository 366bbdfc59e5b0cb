/**
 * An lsmraft cluster serving the etcd v3 API: `size` kv-server processes, each started with
 * `--etcd-address 127.0.0.1:0` (a free port), whose etcd API address is read from the
 * `etcd api on <host:port>` line the node prints once it listens; nodes 2..size are added from
 * node 1's prompt as every process-level test does (test/helpers/cluster.ts startCluster).
 * Stopped by PID; the directory is removed.
 */
import { join } from 'node:path';
import { removeDir, startServer, tempDir, type ServerProcess } from '../helpers/cluster.js';
import { ProcessCluster, ProcessMember, waitServing } from './process-cluster.js';
import type { EtcdCluster } from './target.js';

/** Bound on the wait for a node's `etcd api on` line after its peer port listens. */
const etcdLineTimeoutMs = 10_000;
/** Bound on one `add` at node 1's prompt. */
const addTimeoutMs = 15_000;

/** Bound on the wait until every member answers a linearizable read. */
const servingTimeoutMs = 20_000;

const ETCD_LINE = /etcd api on (\S+)/;

export interface LsmraftClusterOptions {
  /** The hot-path twin (test/helpers/cluster.ts startServer's default: js). */
  engine?: 'wasm' | 'js';
  /** More kv-server arguments for every node. */
  extraArgs?: string[];
  /** Added to every node's environment (startServer turns LSMRAFT_INVARIANTS on unless this sets it). */
  env?: Record<string, string>;
}

/** Starts `size` kv-server processes with the etcd API on and joins them into one cluster. */
export async function startLsmraftCluster(size: number, o: LsmraftClusterOptions = {}): Promise<EtcdCluster> {
  const dir = tempDir('etcd-lsmraft');
  const servers: ServerProcess[] = [];
  try {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    servers.push(...(await Promise.all(ids.map((id) => startServer({ id, dataDir: join(dir, `node-${id}`), engine: o.engine, env: o.env, extraArgs: ['--etcd-address', '127.0.0.1:0', ...(o.extraArgs ?? [])] })))));
    const members: ProcessMember[] = [];
    for (const s of servers) {
      const { line } = await s.waitForLine(ETCD_LINE, etcdLineTimeoutMs);
      members.push(new ProcessMember(s.id, ETCD_LINE.exec(line)![1]!, s));
    }
    for (const s of servers.slice(1)) {
      const answer = await servers[0]!.ask(`add ${s.id} ${s.address}`, /^(added|error)/, addTimeoutMs);
      if (!answer.startsWith('added')) throw new Error(`add ${s.id}: ${answer}\n${servers[0]!.diagnostics()}`);
    }
    const cluster = new ProcessCluster('lsmraft', dir, members);
    // As a real etcd's start waits for "serving client traffic": every member answers a
    // linearizable read (so the new ones have caught up and know the leader).
    await waitServing(cluster.endpoints(), servingTimeoutMs);
    return cluster;
  } catch (e) {
    for (const s of servers) s.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.exited));
    removeDir(dir);
    throw e;
  }
}
