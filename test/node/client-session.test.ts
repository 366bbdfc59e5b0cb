// ClientSession (src/node/client-session.ts), with a scripted transport and clock: one register
// for concurrent first writes, sequence numbers and the first outstanding one, the outstanding
// bound, keep-alive after a long idle, renewal after expiry (bounded), no renewal on other errors.
import { describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { ClientSession } from '../../src/node/client-session.js';
import type { SessionTag } from '../../src/node/kv-command.js';
import { SESSION_TIMEOUT_MS } from '../../src/node/session-table.js';

function setup(outstandingMax?: number) {
  const calls: string[] = [];
  let nowMs = 0;
  let nextId = 100;
  let expiredOnKeepAlive = false;
  const session = new ClientSession({
    register: async () => {
      calls.push('register');
      return ++nextId;
    },
    keepAlive: async (id) => {
      calls.push(`keepAlive ${id}`);
      if (expiredOnKeepAlive) throw new LsmraftError('KV_ERR_SESSION_EXPIRED', 'gone');
    },
  }, () => nowMs, outstandingMax);
  return {
    session, calls,
    advance: (ms: number) => { nowMs += ms; },
    expireKeepAlives: () => { expiredOnKeepAlive = true; },
  };
}

const tagText = (t: SessionTag) => `${t.sessionId}/${t.seq}/${t.firstOutstandingSeq}`;

describe('ClientSession', () => {
  it('registers once for concurrent writes and numbers them; firstOutstandingSeq is the lowest still running', async () => {
    const { session, calls } = setup();
    const tags: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const first = session.run(async (t) => { tags.push(tagText(t)); await held; });
    const second = session.run(async (t) => { tags.push(tagText(t)); });
    await second;
    const third = session.run(async (t) => { tags.push(tagText(t)); });
    await third;
    release();
    await first;
    await session.run(async (t) => { tags.push(tagText(t)); });
    expect(calls).toEqual(['register']);
    expect(tags).toEqual(['101/1/1', '101/2/1', '101/3/1', '101/4/4']);
  });

  it('refuses a write past the outstanding bound before sending it', async () => {
    const { session } = setup(2);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const a = session.run(() => held);
    const b = session.run(() => held);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    await expect(session.run(async () => undefined)).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
    release();
    await Promise.all([a, b]);
    await session.run(async () => undefined);
  });

  it('keeps an idle session alive, and registers anew when the keep-alive finds it expired', async () => {
    const { session, calls, advance, expireKeepAlives } = setup();
    await session.run(async () => undefined);
    advance(SESSION_TIMEOUT_MS / 2 - 1);
    await session.run(async () => undefined);
    expect(calls).toEqual(['register']);
    advance(SESSION_TIMEOUT_MS / 2 + 1);
    await session.run(async () => undefined);
    expect(calls).toEqual(['register', 'keepAlive 101']);
    advance(SESSION_TIMEOUT_MS);
    expireKeepAlives();
    const tags: string[] = [];
    await session.run(async (t) => { tags.push(tagText(t)); });
    expect(calls).toEqual(['register', 'keepAlive 101', 'keepAlive 101', 'register']);
    expect(tags).toEqual(['102/1/1']);
  });

  it('runs a write again under a new session after KV_ERR_SESSION_EXPIRED, a bounded number of times; other errors pass', async () => {
    const { session, calls } = setup();
    const tags: string[] = [];
    await expect(session.run(async (t) => {
      tags.push(tagText(t));
      throw new LsmraftError('KV_ERR_SESSION_EXPIRED', 'gone');
    })).rejects.toMatchObject({ code: 'KV_ERR_SESSION_EXPIRED' });
    expect(tags).toEqual(['101/1/1', '102/1/1', '103/1/1']);
    expect(calls).toEqual(['register', 'register', 'register']);
    await expect(session.run(async () => {
      throw new LsmraftError('KV_ERR_TIMEOUT', 'unknown');
    })).rejects.toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    expect(calls.length).toBe(4); // the third session expired too: one more register, no renewal on a timeout
    expect(session.sessionId).toBe(104);
  });
});
