// PendingRequests (src/node/request-path.ts): the error a waiting request gets says truthfully
// whether it may have taken effect. A node that stops fails its waiting reads with KV_ERR_STOPPED
// (nothing happened), but a proposed write or conf change may still be committed by the others:
// KV_ERR_TIMEOUT (outcome unknown). The state machine's verdict on a write reaches its waiter.
import { describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { NodeStoppedError, SessionExpiredError } from '../../src/node/errors.js';
import { PendingRequests } from '../../src/node/request-path.js';

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
});
