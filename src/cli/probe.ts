/**
 * Why no server answered: after a kvctl request fails for want of a reachable leader, each listed
 * address is asked for its status once, in parallel, within a short budget, and the answer names
 * every address with its reason (connection refused, no answer in time, no leader known, ...), as
 * etcdctl's `endpoint health` does for each endpoint.
 */
import { LsmraftError } from '../errors.js';
import { ClientConnection } from '../node/client-connection.js';
import type { NodeStatus } from '../node/kv-node.js';

/** Why an address failed, in a few words. */
function reasonOf(err: LsmraftError): string {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const sys = typeof cause?.code === 'string' ? cause.code : undefined;
  if (sys === 'ECONNREFUSED') return 'connection refused';
  if (sys === 'ENOTFOUND' || sys === 'EAI_AGAIN') return 'host not found';
  if (sys === 'EHOSTUNREACH' || sys === 'ENETUNREACH') return 'host unreachable';
  if (err.code === 'KV_ERR_TIMEOUT') return 'no answer in time';
  return `${err.code}: ${err.message}`;
}

/** One address's state as a phrase: `connection refused`, `no leader known (follower, term 3)`, ... */
export async function probeAddress(address: string, budgetMs: number): Promise<string> {
  let conn: ClientConnection;
  try {
    conn = await ClientConnection.connect(address, { connectTimeoutMs: budgetMs, requestTimeoutMs: budgetMs });
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return reasonOf(err);
  }
  try {
    const res = await conn.request({ op: 'status' }, budgetMs);
    if (!res.ok) return `${res.errorCode ?? 'error'}: ${res.message ?? ''}`;
    const s = JSON.parse(res.json ?? 'null') as NodeStatus;
    if (s.leader === 0) return `answers, but knows no leader (node ${s.id}, ${s.role}, term ${s.term})`;
    return `answers (node ${s.id}, ${s.role}, leader ${s.leader})`;
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return reasonOf(err);
  } finally {
    conn.close();
  }
}

/** `  <address>: <reason>` lines, one per address, in the order given. */
export async function probeAll(addresses: readonly string[], budgetMs: number): Promise<string[]> {
  const reasons = await Promise.all(addresses.map((a) => probeAddress(a, budgetMs)));
  return addresses.map((a, i) => `  ${a}: ${reasons[i]}`);
}
