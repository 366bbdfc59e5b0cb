// A client given every member's address loses at most one attempt timeout to a leader that hangs
// (SIGSTOP: its sockets stay open, it just never answers): after the timeout it moves on to the
// next member, which forwards the write to the new leader (or names it), instead of asking the
// hung leader a second time.
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient, retryPauseMs } from '../../src/node/kv-client.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { startCluster, TestResources } from '../helpers/cluster.js';

const ATTEMPT_TIMEOUT_MS = 1_000;
/** Generous slack over one attempt timeout: the election (~0.3 s), a retry pause, the forwarded write. */
const SLACK_MS = 1_000;

describe('client failover from a hung leader', () => {
  const res = new TestResources();
  afterEach(() => res.release());

  it('a put to a SIGSTOPped leader completes within one attempt timeout plus slack', async () => {
    const servers = await startCluster(res.dir('client-failover'));
    const client = res.track(await KvClient.connect(servers.map((s) => s.address), { attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, requestTimeoutMs: 20_000 }));
    await client.put('before', '1');
    const leaderId = (await client.status()).leader;
    const leader = servers.find((s) => s.id === leaderId)!;

    leader.kill('SIGSTOP');
    const startMs = Date.now();
    await client.put('during', '2');
    const tookMs = Date.now() - startMs;
    expect(tookMs, `put took ${tookMs} ms`).toBeLessThan(ATTEMPT_TIMEOUT_MS + SLACK_MS);

    // The client now talks to the new leader: the next put does not wait at all for the hung one.
    const nextStartMs = Date.now();
    await client.put('after', '3');
    expect(Date.now() - nextStartMs).toBeLessThan(ATTEMPT_TIMEOUT_MS);
    const status = await client.status();
    expect(status.leader).not.toBe(leaderId);
    expect(fromUtf8((await client.get('during'))!)).toBe('2');
  });
});

describe('retryPauseMs', () => {
  it('grows from 5-10 ms to at most 200 ms, half of it random', () => {
    expect(retryPauseMs(0, () => 0)).toBe(5);
    expect(retryPauseMs(0, () => 0.999)).toBeLessThan(10);
    expect(retryPauseMs(3, () => 0)).toBe(40);
    for (const r of [0, 0.5, 0.999]) {
      const ms = retryPauseMs(1_000, () => r);
      expect(ms).toBeGreaterThanOrEqual(100);
      expect(ms).toBeLessThan(200);
    }
  });
});
