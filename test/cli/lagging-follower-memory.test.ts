// A follower that lags by more than a whole append (maxSizePerMsgBytes, 1 MiB) must not blow up the
// leader's memory. The recipe that once did: kill a follower, write ~14,000 entries without it,
// restart it and stop it (SIGSTOP) at once for 1.5 s. The leader's heartbeats wait in its socket;
// when it resumes it answers them all in one burst, and the leader built a full 1 MiB append per
// answer, faster than it could send them: its heap grew by ~1 GB in 2 s, no write succeeded for 12 s,
// and it died of a V8 heap OOM. Here the leader's resident set stays bounded and writes go on.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { eventually, startCluster, startServer, TestResources } from '../helpers/cluster.js';

/** Entries written while the follower is down: ~14,000 of ~80 bytes, over 1 MiB of log (env LSMRAFT_LAG_ENTRIES). */
const LAG_ENTRIES = Number(process.env.LSMRAFT_LAG_ENTRIES ?? 14_000);
const WRITERS = 64;
const STOPPED_MS = 1_500;
/** How long after the resume the leader's memory is watched. */
const WATCH_MS = 6_000;
const RSS_BYTES_MAX = 300 * 1024 * 1024;
/**
 * Bound on its growth over the moment the follower was stopped (~180 MiB here): catching up on
 * ~1 MiB of log needs little; the burst of full appends grew it by ~150 MiB (30 heartbeats).
 */
const RSS_GROWTH_BYTES_MAX = 64 * 1024 * 1024;
/** A write after the resume must succeed within this. */
const PUT_AFTER_RESUME_MS_MAX = 3_000;

/** Resident set size of a process, from /proc/<pid>/status (VmRSS, in kB). */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a lagging follower and the leader\'s memory', () => {
  const res = new TestResources();
  afterEach(() => res.release());

  it('a follower stopped right after its restart does not run the leader out of memory', async () => {
    const servers = await startCluster(res.dir('lagging'));
    const client = res.track(await KvClient.connect(servers.map((s) => s.address), { requestTimeoutMs: 20_000 }));
    const leaderId = (await client.status()).leader;
    const leader = servers.find((s) => s.id === leaderId)!;
    const follower = servers.find((s) => s.id !== leaderId)!;

    // The follower goes down; the other two commit LAG_ENTRIES entries without it.
    follower.kill('SIGKILL');
    await follower.exited;
    const value = 'v'.repeat(40);
    let next = 0;
    await Promise.all(Array.from({ length: WRITERS }, async () => {
      // Bounded: each pass takes one of the LAG_ENTRIES writes.
      while (next < LAG_ENTRIES) {
        const i = next++;
        await client.put(`lag-${String(i).padStart(6, '0')}`, value);
      }
    }));
    const lagging = await client.status();
    expect(lagging.logLastIndex - lagging.logFirstIndex).toBeGreaterThanOrEqual(LAG_ENTRIES);

    // It restarts and is stopped at once: the leader reconnects and its heartbeats pile up.
    const back = await startServer({ id: follower.id, address: follower.address, dataDir: follower.dataDir });
    back.kill('SIGSTOP');
    const baselineBytes = rssBytes(leader.pid);
    await sleep(STOPPED_MS);
    back.kill('SIGCONT');
    const resumedMs = Date.now();

    // Watch the leader's memory while the follower catches up; a write must go through meanwhile.
    let peakBytes = baselineBytes;
    let putMs: number | undefined;
    let putError: unknown;
    void client.put('after-resume', 'ok').then(() => {
      putMs = Date.now() - resumedMs;
    }, (err: unknown) => {
      putError = err;
    });
    // Bounded by WATCH_MS: one sample every 50 ms.
    while (Date.now() - resumedMs < WATCH_MS && leader.running) {
      peakBytes = Math.max(peakBytes, rssBytes(leader.pid));
      await sleep(50);
    }
    const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MiB`;
    expect(leader.running, leader.diagnostics()).toBe(true);
    const peak = `leader RSS peaked at ${mib(peakBytes)} (baseline ${mib(baselineBytes)})`;
    expect(peakBytes, peak).toBeLessThan(RSS_BYTES_MAX);
    expect(peakBytes - baselineBytes, peak).toBeLessThan(RSS_GROWTH_BYTES_MAX);
    expect(putError).toBeUndefined();
    expect(putMs, 'a put after the resume did not complete').toBeDefined();
    expect(putMs!).toBeLessThan(PUT_AFTER_RESUME_MS_MAX);

    // And the follower catches up.
    const target = (await client.status()).commit;
    await eventually('the stopped follower catches up', async () => {
      const line = await back.ask('status', /^node /);
      return Number(/applied (\d+)/.exec(line)?.[1] ?? 0) >= target;
    }, 20_000, 200);
  });
});
