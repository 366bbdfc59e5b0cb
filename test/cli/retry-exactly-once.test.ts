// A retried write is applied exactly once (client sessions, src/node/session-table.ts), with real
// kv-server processes: client A's put reaches a follower that is paused (SIGSTOP), times out and is
// retried at another member, where it succeeds; client B then writes the same key and reads its own
// value. When the follower resumes (SIGCONT) it still holds A's first attempt in its socket buffer
// and proposes it; without de-duplication that old put would overwrite B's acknowledged write.
// A client goes to the leader it learned, so the paused follower is the member A last knew as the
// leader: leadership moves away from it first, and A's next put goes to it on the stale hint.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../helpers/cluster.js';

/** How long B keeps reading after the follower resumed (the old attempt lands within ~1 s). */
const WATCH_MS = 4_000;

describe('a write retried after a timeout', () => {
  const dirs: string[] = [];
  const clients: KvClient[] = [];
  let paused: ServerProcess | undefined;
  afterEach(async () => {
    if (paused?.running === true) paused.kill('SIGCONT');
    paused = undefined;
    for (const c of clients.splice(0)) c.close();
    await stopAll();
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('is applied once: a stale first attempt does not overwrite a later acknowledged write', async () => {
    const dir = tempDir('exactly-once');
    dirs.push(dir);
    const servers = await Promise.all([1, 2, 3].map((id) => startServer({ id, dataDir: join(dir, `node-${id}`) })));
    const [s1, s2, s3] = servers as [ServerProcess, ServerProcess, ServerProcess];
    expect(await s1.ask(`add 2 ${s2.address}`, /^(added|error)/, 15_000)).toMatch(/^added/);
    expect(await s1.ask(`add 3 ${s3.address}`, /^(added|error)/, 15_000)).toMatch(/^added/);

    const b = await KvClient.connect(servers.map((s) => s.address));
    clients.push(b);
    const a = new KvClient(servers.map((s) => s.address), { attemptTimeoutMs: 1_000, requestTimeoutMs: 10_000 });
    clients.push(a);
    await a.put('warm', 'up'); // opens A's session and teaches A the leader
    const oldLeaderId = (await b.status()).leader;
    const follower = servers.find((s) => s.id === oldLeaderId)!;
    const next = servers.find((s) => s.id !== oldLeaderId)!;
    await b.transferLeadership(next.id);
    await eventually('leadership moved', async () => (await b.status()).leader === next.id);
    await eventually('the old leader applied the warm-up write', async () => (await follower.ask('lsm g warm', /./)) === 'up');

    process.kill(follower.pid, 'SIGSTOP');
    paused = follower;
    const startMs = Date.now();
    await a.put('k', 'v1'); // first attempt waits in the paused follower's socket; a retry succeeds
    expect(Date.now() - startMs).toBeGreaterThanOrEqual(900);
    await b.put('k', 'v2');
    expect(fromUtf8((await b.get('k'))!)).toBe('v2');

    process.kill(follower.pid, 'SIGCONT');
    paused = undefined;
    const seen: string[] = [];
    const watchUntil = Date.now() + WATCH_MS;
    // One read per pass, bounded by WATCH_MS.
    while (Date.now() < watchUntil) {
      seen.push(fromUtf8((await b.get('k'))!));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.filter((v) => v !== 'v2')).toEqual([]);
    // The follower did serve again (so its buffered attempt was read and handled).
    await eventually('the resumed follower has v2', async () => (await follower.ask('lsm g k', /./)) === 'v2');
  });
});
