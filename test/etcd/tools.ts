/**
 * Where the etcd 3.4 tools the etcd API tests drive live: `etcdctl` (Debian's etcd-client) and
 * `etcd` (etcd-server), found on PATH or named by ETCDCTL_BIN / ETCD_BIN. A missing tool is not an
 * error: the caller skips and prints the reason this module gives (`bash .ci/install-test-tools.sh`
 * installs both when run as root with apt).
 */
import { spawnSync } from 'node:child_process';

export type Tool = { path: string; version: string } | { skip: string };

/** The `--version`/`version` output's first line, or undefined when the program cannot run. */
function probe(path: string, versionArgs: string[]): string | undefined {
  const r = spawnSync(path, versionArgs, { encoding: 'utf8', timeout: 5_000, env: { ...process.env, ETCDCTL_API: '3' } });
  if (r.error !== undefined || r.status !== 0) return undefined;
  return r.stdout.split('\n')[0]!.trim();
}

function find(name: string, envVar: string, versionArgs: string[]): Tool {
  const path = process.env[envVar] ?? name;
  const version = probe(path, versionArgs);
  if (version === undefined) return { skip: `${name} not found (${envVar}=${process.env[envVar] ?? 'unset'}; bash .ci/install-test-tools.sh installs it as root with apt)` };
  // The scenario's expected outputs are etcdctl 3.4's: another major/minor prints other words.
  if (!/\b3\.4\.\d+/.test(version)) return { skip: `${name} is not version 3.4 (${version})` };
  return { path, version };
}

/** etcdctl 3.4, or why not. */
export function findEtcdctl(): Tool {
  return find('etcdctl', 'ETCDCTL_BIN', ['version']);
}

/** The etcd 3.4 server, or why not. */
export function findEtcd(): Tool {
  return find('etcd', 'ETCD_BIN', ['--version']);
}

/** The path of a found tool; throws with the skip reason otherwise (callers check `'skip' in t` first). */
export function toolPath(t: Tool): string {
  if ('skip' in t) throw new Error(t.skip);
  return t.path;
}
