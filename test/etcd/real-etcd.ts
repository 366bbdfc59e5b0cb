/**
 * A real etcd 3.4 cluster of 1 or 3 members on 127.0.0.1, the reference the etcd API checks are
 * written against: each member a process in its own data directory under one temporary directory,
 * on free ports, configured with a static --initial-cluster (etcd's Documentation/op-guide/
 * clustering.md, "Static"). Ready when every member logged "serving client traffic" (it
 * logs that after it has published itself through Raft, so a leader exists). Stopped by PID; the
 * directory is removed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, freePort, removeDir, ServerProcess, tempDir } from '../helpers/cluster.js';
import { ProcessCluster, ProcessMember } from './process-cluster.js';
import type { EtcdCluster } from './target.js';
import { findEtcd, toolPath } from './tools.js';

/** Bound on a member's start (etcd 3.4 elects in ~1 s with its default 1000 ms election timeout). */
const startTimeoutMs = 20_000;
/** Starts tried when another process took a port between freePort() and etcd's bind. */
const startAttemptsMax = 3;

async function startOnce(size: number, dir: string, extraArgs: readonly string[]): Promise<ProcessCluster> {
  const etcd = toolPath(findEtcd());
  const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
  const clientUrl = (i: number) => `http://127.0.0.1:${ports[2 * i]}`;
  const peerUrl = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initialCluster = Array.from({ length: size }, (_, i) => `${i + 1}=${peerUrl(i)}`).join(',');
  const members = Array.from({ length: size }, (_, i) => {
    const args = [
      // Named by number, as lsmraft names a member by its node id.
      '--name', String(i + 1),
      '--data-dir', join(dir, `member-${i + 1}`),
      '--listen-client-urls', clientUrl(i),
      '--advertise-client-urls', clientUrl(i),
      '--listen-peer-urls', peerUrl(i),
      '--initial-advertise-peer-urls', peerUrl(i),
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `lsmraft-test-${process.pid}`,
      // Structured logs on stdout, where ServerProcess reads lines (capnslog, 3.4's default, is deprecated).
      '--logger', 'zap',
      '--log-outputs', 'stdout',
      ...extraArgs,
    ];
    const child = spawn(etcd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv({}) });
    return new ProcessMember(i + 1, clientUrl(i).slice('http://'.length), new ServerProcess(i + 1, join(dir, `member-${i + 1}`), child));
  });
  const cluster = new ProcessCluster('etcd', dir, members);
  try {
    await Promise.all(members.map((m) => m.process.waitForLine(/serving client traffic/, startTimeoutMs)));
  } catch (e) {
    for (const m of members) m.kill('SIGKILL');
    await Promise.all(members.map((m) => m.exited));
    throw e;
  }
  return cluster;
}

/** Starts a `size`-member etcd 3.4 cluster (more etcd flags in `extraArgs`) and waits until every member serves clients. */
export async function startRealEtcd(size: number, extraArgs: readonly string[] = []): Promise<EtcdCluster> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= startAttemptsMax; attempt++) {
    const dir = tempDir('real-etcd');
    try {
      return await startOnce(size, dir, extraArgs);
    } catch (e) {
      removeDir(dir);
      if (!(e instanceof Error) || !/no line matching/.test(e.message)) throw e;
      lastError = e;
    }
  }
  throw lastError;
}
