// Hostile and careless input: garbage bytes, an oversized frame, undecodable payloads and a
// foreign cluster's frames sent to a node's port (the node closes that connection and keeps
// serving); bad kv-server command lines (exit 2 with usage); kvctl's answers and exit codes.
import * as net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameType } from '../../src/node/frame.js';
import { KvClient } from '../../src/node/kv-client.js';
import { parseAddress } from '../../src/node/address.js';
import { removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../helpers/cluster.js';
import { mulberry32 } from '../helpers/rng.js';
import { runCli, type ScriptResult } from '../helpers/run-script.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);

/** Sends `bytes` on a fresh connection; resolves 'closed' if the server closes it within timeoutMs. */
function sendRaw(address: string, bytes: Uint8Array, timeoutMs = 3000): Promise<'closed' | 'open'> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('open');
    }, timeoutMs);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

function run(script: string, args: string[]): Promise<ScriptResult> {
  return runCli(script, args);
}

describe('garbage and bad input', () => {
  let dir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = tempDir('garbage');
    server = await startServer({ id: 1, dataDir: join(dir, 'node-1') });
  });
  afterAll(async () => {
    await stopAll();
    removeDir(dir);
  });

  it(`closes connections that send garbage, oversized or foreign frames, and keeps serving (seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const garbage = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    // Random bytes with a plausible length prefix (so the decoder reads on), then pure noise.
    for (let i = 0; i < 5; i++) {
      const g = garbage(64 + Math.floor(random() * 4000));
      g[0] = 40;
      g[1] = g[2] = g[3] = 0;
      expect(await sendRaw(server.address, g), `seed ${SEED}, garbage ${i}`).toBe('closed');
    }
    // An oversized frame: a length prefix far over the frame limit, with a valid magic and version.
    const huge = new Uint8Array(64);
    new DataView(huge.buffer).setUint32(0, 0x7fff_ffff, true);
    huge[4] = 0xa7;
    huge[5] = 1;
    expect(await sendRaw(server.address, huge)).toBe('closed');
    // Well-formed frames whose payload does not decode.
    expect(await sendRaw(server.address, encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, garbage(100)))).toBe('closed');
    expect(await sendRaw(server.address, encodeFrame(FrameType.JOIN_REQUEST, 0n, 0, garbage(30)))).toBe('closed');
    // Peer frames of another cluster, and peer frames before a HELLO.
    expect(await sendRaw(server.address, encodeFrame(FrameType.RAFT, 12345n, 9, garbage(20)))).toBe('closed');
    expect(await sendRaw(server.address, encodeFrame(FrameType.SNAPSHOT_CHUNK, 777n, 9, garbage(20)))).toBe('closed');

    // The node still serves its prompt and its clients.
    expect(await server.ask('put still alive', /^(ok|error)/)).toBe('ok');
    const client = await KvClient.connect([server.address]);
    try {
      expect(new TextDecoder().decode(await client.get('still'))).toBe('alive');
    } finally {
      client.close();
    }
  });

  it('a bad command line exits with code 2 and names the wrong argument', async () => {
    const bad = [[], ['abc', '127.0.0.1:0'], ['1', 'nohost'], ['1', '127.0.0.1:0', '--engine', 'x'], ['1', '127.0.0.1:0', '--bogus', 'y'], ['1']];
    const results = await Promise.all(bad.map((args) => run('kv-server.ts', args)));
    for (const [i, r] of results.entries()) {
      expect(r.code, `kv-server ${bad[i]!.join(' ')}`).toBe(2);
      expect(r.stderr).toMatch(/^kv-server: .+\nTry 'kv-server --help'\.\n$/);
    }
  });

  it('kvctl answers requests and reports outcomes by exit code', async () => {
    const servers = `--servers=${server.address}`;
    const put = await run('kvctl.ts', [servers, 'put', 'k1', 'v1']);
    expect([put.code, put.stdout]).toEqual([0, 'ok\n']);
    const get = await run('kvctl.ts', [servers, 'get', 'k1']);
    expect([get.code, get.stdout]).toEqual([0, 'v1\n']);
    const missing = await run('kvctl.ts', [servers, 'get', 'nope']);
    expect([missing.code, missing.stdout]).toEqual([1, '']);
    const scan = await run('kvctl.ts', [servers, 'scan', 'k', 'k~']);
    expect([scan.code, scan.stdout]).toEqual([0, 'k1 = v1\n']);
    const members = await run('kvctl.ts', [servers, 'members', '-o', 'json']);
    expect(members.code).toBe(0);
    expect(JSON.parse(members.stdout)).toEqual([expect.objectContaining({ id: 1, role: 'leader', isSelf: true })]);
    const usage = await run('kvctl.ts', [servers, 'frob']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('kvctl: unknown command "frob"');
    // A dead server first in the list: the client moves on to the next one.
    const failover = await run('kvctl.ts', [`--servers=127.0.0.1:1,${server.address}`, 'get', 'k1']);
    expect([failover.code, failover.stdout]).toEqual([0, 'v1\n']);
    const unreachable = await run('kvctl.ts', ['--servers=127.0.0.1:1', '--timeout', '1500', 'get', 'k1']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/^error KV_ERR_CONNECTION_CLOSED: /);
    const refused = await run('kvctl.ts', [servers, 'remove', '1']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^error KV_ERR_MEMBERSHIP: /);
  });
});
