// KvClient's errors tell the truth about a write's outcome (docs/client-guarantees.md), against
// scripted fake nodes on 127.0.0.1 that speak the client protocol: a node that closes the
// connection with the write in flight leaves the outcome unknown, so a later "not leader" from
// another node must not be reported as "not applied"; a session that expired is renewed
// transparently only when no earlier attempt of the write may still be applied.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeClientRequest, encodeClientResponse, type ClientRequest, type ClientResponse } from '../../src/node/codec.js';
import { FrameDecoder, FrameType, encodeFrame } from '../../src/node/frame.js';
import { KvClient } from '../../src/node/kv-client.js';

/** What a fake node does with a request: answer it, or close the connection (undefined). */
type Script = (req: ClientRequest) => Omit<ClientResponse, 'requestId'> | undefined;

interface FakeNode {
  address: string;
  requests: ClientRequest[];
  close(): Promise<void>;
}

async function fakeNode(script: Script): Promise<FakeNode> {
  const requests: ClientRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      // Bounded by the frames in this chunk.
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        const req = decodeClientRequest(f.payload);
        requests.push(req);
        const res = script(req);
        if (res === undefined) {
          socket.destroy();
          return;
        }
        socket.write(encodeFrame(FrameType.CLIENT_RESPONSE, 0n, 1, encodeClientResponse({ ...res, requestId: req.requestId })));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const notLeader = { ok: false, errorCode: 'KV_ERR_NOT_LEADER', message: 'no leader' };
const expired = { ok: false, errorCode: 'KV_ERR_SESSION_EXPIRED', message: 'session expired' };

describe('KvClient write and membership outcomes', () => {
  const nodes: FakeNode[] = [];
  const clients: KvClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const n of nodes.splice(0)) await n.close();
  });

  async function start(...scripts: Script[]): Promise<FakeNode[]> {
    const started = await Promise.all(scripts.map(fakeNode));
    nodes.push(...started);
    return started;
  }

  function client(addresses: string[]): KvClient {
    const c = new KvClient(addresses, { requestTimeoutMs: 1_500, attemptTimeoutMs: 500, attemptsMax: 6 });
    clients.push(c);
    return c;
  }

  it('a connection closed mid-write, then "not leader" elsewhere: the outcome is unknown (KV_ERR_TIMEOUT)', async () => {
    const [closer, refuser] = await start(
      (req) => (req.op === 'registerSession' ? { ok: true, sessionId: 5 } : undefined),
      () => notLeader,
    );
    // The session is registered at the closer; the put goes there first, then to the refuser.
    const c = client([closer!.address, refuser!.address]);
    const err = await c.put('k', 'v').catch((e: unknown) => e);
    expect(closer!.requests.map((r) => r.op).slice(0, 2)).toEqual(['registerSession', 'put']);
    expect(refuser!.requests.length).toBeGreaterThan(0);
    expect(err).toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    expect((err as Error).message).toMatch(/KV_ERR_CONNECTION_CLOSED/);
    // Every attempt carried the same tag.
    const puts = [...closer!.requests, ...refuser!.requests].filter((r) => r.op === 'put');
    expect(new Set(puts.map((r) => `${r.sessionId}/${r.seq}`))).toEqual(new Set(['5/1']));
  });

  it('"not leader" from every attempt, none of unknown outcome: KV_ERR_NOT_LEADER (certainly not applied)', async () => {
    const [refuser] = await start((req) => (req.op === 'registerSession' ? { ok: true, sessionId: 5 } : notLeader));
    const err = await client([refuser!.address]).put('k', 'v').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KV_ERR_NOT_LEADER' });
  });

  it('an expired session is renewed transparently when the write was certainly not applied', async () => {
    let sessions = 10;
    const [node] = await start((req) => {
      if (req.op === 'registerSession') return { ok: true, sessionId: ++sessions };
      return req.sessionId === 11 ? expired : { ok: true };
    });
    const c = client([node!.address]);
    await c.put('k', 'v');
    expect(node!.requests.map((r) => `${r.op}${r.sessionId === undefined ? '' : ` ${r.sessionId}/${r.seq}`}`))
      .toEqual(['registerSession', 'put 11/1', 'registerSession', 'put 12/1']);
    expect(c.sessionId).toBe(12);
  });

  it('an expired session after an attempt of unknown outcome is not renewed: KV_ERR_TIMEOUT', async () => {
    const [closer, expirer] = await start(
      (req) => (req.op === 'registerSession' ? { ok: true, sessionId: 5 } : undefined),
      () => expired,
    );
    const err = await client([closer!.address, expirer!.address]).put('k', 'v').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    expect((err as Error).message).toMatch(/expired/);
    expect(expirer!.requests.map((r) => r.op)).toEqual(['put']); // no new session, no second put
  });

  it('a removal whose node closed the connection, then "not a member" elsewhere: the outcome is unknown (KV_ERR_TIMEOUT)', async () => {
    // The node that served the removal was the node removed: it stopped before answering. The
    // retry reaches a member that no longer has node 1: the removal did happen.
    const [removed, member] = await start(() => undefined, () => ({ ok: false, errorCode: 'KV_ERR_MEMBERSHIP', message: 'node 1 is not a member' }));
    const err = await client([removed!.address, member!.address]).removeMember(1).catch((e: unknown) => e);
    expect(member!.requests.map((r) => r.op)).toEqual(['removeMember']);
    expect(err).toMatchObject({ code: 'KV_ERR_TIMEOUT' });
    expect((err as Error).message).toMatch(/not a member.*KV_ERR_CONNECTION_CLOSED/);
  });

  it('a removal refused by the first node it reached: certainly not applied (KV_ERR_MEMBERSHIP)', async () => {
    const [member] = await start(() => ({ ok: false, errorCode: 'KV_ERR_MEMBERSHIP', message: 'node 7 is not a member' }));
    const err = await client([member!.address]).removeMember(7).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
  });
});
