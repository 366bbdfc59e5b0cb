// PendingRequests (src/node/request-path.ts): the error a waiting request gets says truthfully
// whether it may have taken effect. A node that stops fails its waiting reads with KV_ERR_STOPPED
// (nothing happened), but a proposed write or conf change may still be committed by the others:
// KV_ERR_TIMEOUT (outcome unknown). The state machine's verdict on a write reaches its waiter.
// RequestPath.readBarrier batches linearizable reads: one ReadIndex round in flight, the reads that
// arrive meanwhile share the next one (never the round already sent: its index may predate them).
// RequestPath.proposeCommand proposes the writes of one event-loop turn as one proposal, bounded in
// count; a dropped batch falls back to proposing each write alone.
import { describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { NodeStoppedError, SessionExpiredError } from '../../src/node/errors.js';
import { decodeKvCommand, type KvCommand, type ProposalTag } from '../../src/node/kv-command.js';
import { ProposalDroppedError } from '../../src/raft/errors.js';
import type { RawNode } from '../../src/raft/raw-node.js';
import { PendingRequests, PROPOSAL_BATCH_COUNT_MAX, RequestPath, type RequestPathHost } from '../../src/node/request-path.js';

describe('PendingRequests outcomes', () => {
  it('a stop fails reads as stopped but writes and conf changes as unknown, and later requests as stopped', async () => {
    const p = new PendingRequests(10);
    const write = p.waitWrite(1, 10_000, Uint8Array.of(1), 1);
    const read = p.waitRead('aa', 10_000, Uint8Array.of(0xaa));
    const conf = p.waitConfChange('addVoter', 2, 10_000);
    p.failAll(new NodeStoppedError('node 1 stopped'));
    await expect(write).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    await expect(conf).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    await expect(read).rejects.toMatchObject({ code: 'KV_ERR_STOPPED' });
    expect(() => p.waitWrite(2, 10_000, Uint8Array.of(1), 1)).toThrow(expect.objectContaining({ code: 'KV_ERR_STOPPED' }));
    expect(p.size).toBe(0);
  });

  it("a write's waiter gets the state machine's verdict: the new session's id, or its error", async () => {
    const p = new PendingRequests(10);
    const register = p.waitWrite(1, 10_000, Uint8Array.of(1), 1);
    const refused = p.waitWrite(2, 10_000, Uint8Array.of(2), 1);
    p.writeApplied(1, { sessionId: 42 });
    p.writeApplied(2, { error: new SessionExpiredError(7, 'write seq 1') });
    p.writeApplied(3, { error: new LsmraftError('KV_ERR_INVALID_ARGUMENT', 'another incarnation') }); // ignored
    expect((await register)?.sessionId).toBe(42);
    await expect(refused).rejects.toMatchObject({ code: 'KV_ERR_SESSION_EXPIRED' });
  });

  it('times out each waiter at its own deadline with one timer, the shorter ones set after the longer too', async () => {
    const p = new PendingRequests(10);
    const started = Date.now();
    const ended: Array<{ what: string; ms: number; code: unknown }> = [];
    const watch = (what: string, promise: Promise<unknown>) => promise.then(
      () => ended.push({ what, ms: Date.now() - started, code: 'resolved' }),
      (e: unknown) => ended.push({ what, ms: Date.now() - started, code: (e as LsmraftError).code }),
    );
    const all = [
      watch('write 300', p.waitWrite(1, 300, Uint8Array.of(1), 1)),
      watch('read 40', p.waitRead('aa', 40, Uint8Array.of(0xaa))),
      watch('write 80 applied', p.waitWrite(2, 80, Uint8Array.of(2), 1)),
      watch('conf 150', p.waitConfChange('addVoter', 2, 150)),
      watch('read index 120', p.waitRead('bb', 120, Uint8Array.of(0xbb))),
    ];
    p.readIndexKnown('bb', 9, 5); // waits for apply until its deadline
    p.writeApplied(2, {});
    await Promise.all(all);
    expect(ended.map((e) => [e.what, e.code])).toEqual([
      ['write 80 applied', 'resolved'],
      ['read 40', 'KV_ERR_TIMEOUT'],
      ['read index 120', 'KV_ERR_TIMEOUT'],
      ['conf 150', 'KV_ERR_TIMEOUT'],
      ['write 300', 'KV_ERR_TIMEOUT'],
    ]);
    for (const e of ended.slice(1)) {
      const timeoutMs = Number(e.what.split(' ').at(-1));
      expect(e.ms).toBeGreaterThanOrEqual(timeoutMs - 1);
      expect(e.ms).toBeLessThan(timeoutMs + 100);
    }
    expect(p.size).toBe(0);
  });
});

/** A request path over a leader whose ReadIndex requests are recorded, answered by hand. */
function readPath(): { path: RequestPath; asked: Uint8Array[] } {
  const asked: Uint8Array[] = [];
  const raw = { readIndex: (ctx: Uint8Array) => asked.push(ctx) } as unknown as RawNode;
  const host: RequestPathHost = {
    id: 1, tickMs: 10, requestTimeoutMs: 5_000, random: () => 0.5, clockMs: () => 0, rawNode: () => raw,
    kick: () => {}, isRunning: () => true, checkRunning: () => {}, leaderId: () => 1, leader: () => undefined,
    joining: () => false, currentTerm: () => 1, dialNode: () => ({}),
  };
  return { path: new RequestPath(host, 100), asked };
}

/** Lets queued microtasks and one macrotask run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('RequestPath.readBarrier', () => {
  it('shares one ReadIndex round among the reads gathered while the previous one was in flight', async () => {
    const { path, asked } = readPath();
    const done: string[] = [];
    const first = Array.from({ length: 10 }, (_, i) => path.readBarrier().then(() => done.push(`a${i}`)));
    await settle();
    expect(asked).toHaveLength(1);
    const later = Array.from({ length: 5 }, (_, i) => path.readBarrier().then(() => done.push(`b${i}`)));
    await settle();
    expect(asked).toHaveLength(1); // they wait: round 1's index may predate them
    path.readStates([{ index: 5, context: asked[0]! }], 5);
    await Promise.all(first);
    await settle();
    expect(done.filter((d) => d.startsWith('b'))).toEqual([]);
    expect(asked).toHaveLength(2);
    path.readStates([{ index: 6, context: asked[1]! }], 6);
    await Promise.all(later);
    expect(done).toHaveLength(15);
  });

  it('refuses a read past the bound of waiting requests', async () => {
    const { path } = readPath();
    const waiting = Array.from({ length: 100 }, () => path.readBarrier());
    await expect(path.readBarrier()).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    path.stop(new NodeStoppedError('node 1 stopped'));
    for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'KV_ERR_STOPPED' });
  });
});

/** A request path over a core whose proposals are recorded; `drop` makes the core refuse them. */
function writePath(o: { leader?: () => number; drop?: () => boolean } = {}): { path: RequestPath; proposals: Uint8Array[][] } {
  const proposals: Uint8Array[][] = [];
  const take = (data: Uint8Array[]) => {
    if (o.drop?.() === true) throw new ProposalDroppedError('no leader');
    proposals.push(data);
  };
  const raw = { propose: (d: Uint8Array) => take([d]), proposeAll: (ds: Uint8Array[]) => take([...ds]) } as unknown as RawNode;
  const host: RequestPathHost = {
    id: 1, tickMs: 5, requestTimeoutMs: 2_000, random: () => 0.5, clockMs: () => 0, rawNode: () => raw,
    kick: () => {}, isRunning: () => true, checkRunning: () => {}, leaderId: o.leader ?? (() => 1), leader: () => undefined,
    joining: () => false, currentTerm: () => 1, dialNode: () => ({}),
  };
  return { path: new RequestPath(host, 1_000), proposals };
}

const register = (tag: ProposalTag & { timeMs: number }): KvCommand => ({ type: 'register', ...tag });
const proposalIdsOf = (batch: Uint8Array[]) => batch.map((d) => decodeKvCommand(d).proposalId);

describe('RequestPath.proposeCommand', () => {
  it('proposes the writes of one event-loop turn as one proposal, in order', async () => {
    const { path, proposals } = writePath();
    const writes = Array.from({ length: 20 }, () => path.proposeCommand(register));
    for (const w of writes) w.catch(() => undefined);
    await settle();
    expect(proposals).toHaveLength(1);
    const ids = proposalIdsOf(proposals[0]!);
    expect(ids).toHaveLength(20);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // Applying them answers each waiter.
    for (const id of ids) path.requests.writeApplied(id, { sessionId: id });
    expect((await Promise.all(writes)).map((o) => o?.sessionId)).toEqual(ids);
  });

  it(`splits a burst into proposals of at most ${PROPOSAL_BATCH_COUNT_MAX} writes`, async () => {
    const { path, proposals } = writePath();
    const writes = Array.from({ length: PROPOSAL_BATCH_COUNT_MAX + 10 }, () => path.proposeCommand(register));
    for (const w of writes) w.catch(() => undefined);
    await settle();
    expect(proposals.map((p) => p.length)).toEqual([PROPOSAL_BATCH_COUNT_MAX, 10]);
    path.stop(new NodeStoppedError('node 1 stopped'));
  });

  it('proposes each write of a dropped batch again, alone, once the core takes proposals', async () => {
    let dropping = true;
    const { path, proposals } = writePath({ drop: () => dropping });
    const writes = Array.from({ length: 3 }, () => path.proposeCommand(register));
    for (const w of writes) w.catch(() => undefined);
    await settle();
    expect(proposals).toEqual([]);
    dropping = false;
    path.leaderChanged(1);
    // Bounded: the single retries wait at most a few ticks each.
    for (let n = 0; n < 100 && proposals.length < 3; n++) await new Promise((r) => setTimeout(r, 5));
    expect(proposals.map((p) => p.length)).toEqual([1, 1, 1]);
    path.stop(new NodeStoppedError('node 1 stopped'));
    for (const w of writes) await expect(w).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT' });
  });
});
