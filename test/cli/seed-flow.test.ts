// The seed's kv_server flow (README.md, "Running a cluster"), through piped stdin of two real
// kv-server processes: start 3 and 2, `add 2 ...` at 3, `ls`, `put 1 1`, `lsm g 1` on both,
// `lsm r 1 3`, `lsm s`. Also the compiled dist/ binary starts and answers.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { REPO_ROOT, eventually, removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../helpers/cluster.js';

describe('kv-server seed flow', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await stopAll();
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('adds node 2 at node 3, replicates put 1 1, and both trees show it', async () => {
    const dir = tempDir('seed');
    dirs.push(dir);
    const [n3, n2] = await Promise.all([
      startServer({ id: 3, address: 'localhost:0', dataDir: join(dir, 'node-3'), engine: 'wasm' }),
      startServer({ id: 2, address: 'localhost:0', dataDir: join(dir, 'node-2'), engine: 'wasm' }),
    ]);
    expect(n3.address).toMatch(/^localhost:\d+$/);

    expect(await n3.ask(`add 2 ${n2.address}`, /^(added|error)/), n3.diagnostics()).toBe(`added node 2 at ${n2.address}`);
    const ls = await n3.askLines('ls', /^3 /);
    expect(ls[0]).toMatch(new RegExp(`^2 ${n2.address} follower match \\d+ seen \\d+ ms ago$`));
    expect(ls[1]).toMatch(new RegExp(`^3 ${n3.address} leader match \\d+ \\(this node\\)$`));

    expect(await n3.ask('put 1 1', /^(ok|error)/), `${n3.diagnostics()}\n${n2.diagnostics()}`).toBe('ok');
    expect(await n3.ask('lsm g 1', /./)).toBe('1');
    // Node 2 applies the entry when the leader's next message carries the commit index.
    await eventually('node 2 applies put 1 1', async () => (await n2.ask('lsm g 1', /./)) === '1');
    // A write at the follower is forwarded to the leader; both see it.
    expect(await n2.ask('put 3 three', /^(ok|error)/)).toBe('ok');
    expect(await n2.ask('get 1', /./)).toBe('1');
    await eventually('node 3 applies put 3 three', async () => (await n3.ask('lsm g 3', /./)) === 'three');

    expect(await n3.askLines('lsm r 1 3', /^\(\d+ keys?\)$/)).toEqual(['1 = 1', '3 = three', '(2 keys)']);
    const tree = await n2.askLines('lsm s', /memtable|level|L\d/);
    expect(tree[0]).toMatch(/^applied index \d+/);
    expect(tree.join('\n')).toContain('lsm tree');

    const status = await n2.ask('status', /^node 2 /);
    expect(status).toMatch(/^node 2 follower term \d+ leader 3 /);
    expect(status).toContain('voters [2,3]');

    // `exit` stops the node and the process ends with code 0.
    n2.send('exit');
    await n2.exited;
    expect(n2.exitCode).toBe(0);
  });

  it('refuses to add a node that holds data, naming the reason, and changes nothing', async () => {
    const dir = tempDir('seed-refuse');
    dirs.push(dir);
    const [a, b] = await Promise.all([
      startServer({ id: 1, dataDir: join(dir, 'a') }),
      startServer({ id: 2, dataDir: join(dir, 'b') }),
    ]);
    expect(await b.ask('put x 1', /^(ok|error)/)).toBe('ok');
    const answer = await a.ask(`add 2 ${b.address}`, /^(added|error)/);
    expect(answer).toMatch(/^error KV_ERR_MEMBERSHIP: .*node 2 holds user data/);
    // Still a one-member cluster.
    const ls = await a.askLines('ls', /^1 /);
    expect(ls).toHaveLength(1);
    expect(ls[0]).toMatch(new RegExp(`^1 ${a.address} leader match \\d+ \\(this node\\)$`));
    expect(await b.ask('get x', /./)).toBe('1');
    // Two clusters stay apart: a node of one cluster cannot be added to another as a different id.
    expect(await a.ask(`add 7 ${b.address}`, /^(added|error)/)).toMatch(/^error KV_ERR_MEMBERSHIP: .*node 2, not node 7/);
  });

  it('names the wrong argument of a bad command, takes quoted arguments, and keeps serving', async () => {
    const dir = tempDir('seed-usage');
    dirs.push(dir);
    const s = await startServer({ id: 1, dataDir: join(dir, 'a') });
    expect(await s.ask('frobnicate', /./)).toMatch(/^error KV_ERR_INVALID_ARGUMENT: unknown command "frobnicate"/);
    expect(await s.ask('put onlykey', /./)).toBe('error KV_ERR_INVALID_ARGUMENT: put: missing <value> (usage: put <key> <value>)');
    expect(await s.ask('add x 127.0.0.1:1', /./)).toBe('error KV_ERR_INVALID_ARGUMENT: add: <id> must be a positive integer, got "x" (usage: add <id> <host:port>)');
    expect(await s.ask('add 2 nowhere', /./)).toBe('error KV_ERR_INVALID_ARGUMENT: add: <host:port> must be host:port, got "nowhere" (usage: add <id> <host:port>)');
    expect(await s.ask('LSM q', /./)).toBe('error KV_ERR_INVALID_ARGUMENT: lsm: unknown form "q", expected s, g or r (usage: lsm s | lsm g <key> | lsm r <from> <to>)');
    // Quoting, case-insensitive names, help for one command.
    expect(await s.ask('PUT "a b" "c = d"', /^(ok|error)/)).toBe('ok');
    expect(await s.ask('Get "a b"', /./)).toBe('"c = d"');
    expect(await s.askLines('help put', /^Quote/)).toEqual(['usage: put <key> <value>', 'replicate key = value', expect.stringMatching(/^Quote keys and values with spaces/)]);
    expect(await s.ask('get onlykey', /./)).toBe('(not found)');
    const help = await s.askLines('help', /^exit /);
    expect(help.map((l) => l.split(' ')[0])).toEqual(['add', 'remove', 'ls', 'put', 'get', 'del', 'lsm', 'status', 'transfer', 'help', 'exit']);

    // End of piped input: the node keeps serving (clients still reach it) until SIGTERM.
    expect(await s.ask('put after eof', /^(ok|error)/)).toBe('ok');
    s.child.stdin!.end();
    await new Promise((r) => setTimeout(r, 300));
    expect(s.running).toBe(true);
    const client = await KvClient.connect([s.address]);
    try {
      expect(fromUtf8((await client.get('after'))!)).toBe('eof');
    } finally {
      client.close();
    }
    await s.stop();
    expect([s.exitCode, s.exitSignal]).toEqual([0, null]);
  });

  it('the compiled binary (dist/) starts and answers', async (ctx) => {
    if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'kv-server.js'))) {
      ctx.skip();
      return;
    }
    const dir = tempDir('seed-dist');
    dirs.push(dir);
    const s: ServerProcess = await startServer({ id: 1, dataDir: join(dir, 'a'), compiled: true });
    expect(await s.ask('put a b', /^(ok|error)/)).toBe('ok');
    expect(await s.ask('get a', /./)).toBe('b');
  });
});
