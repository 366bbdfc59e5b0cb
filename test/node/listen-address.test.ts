/**
 * KvNode's listenAddress: a node listens on one address and announces another (a proxy in front
 * of it). Peers must reach it only through the announced address: in their address books, in its
 * HELLO and in leader hints. The proxy here is the chaos tests' (test/chaos/proxy.ts), which counts
 * the connections it forwards.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvNode } from '../../src/node/kv-node.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { freePort } from '../helpers/cluster.js';
import { LinkFaults, PeerProxy } from '../chaos/proxy.js';

describe('KvNode listenAddress', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('announces the proxy address, and peers reach the node only through it', async () => {
    const dir = tempDir('listen-address');
    cleanups.push(() => removeDir(dir));
    const faults = new LinkFaults();
    // The proxy first forwards to a port nobody listens on.
    const proxy = new PeerProxy(2, `127.0.0.1:${await freePort()}`, faults, () => [1, 2]);
    const proxyAddress = await proxy.listen();
    cleanups.push(() => proxy.close());
    const a = await KvNode.start({ id: 1, address: '127.0.0.1:0', dataDir: join(dir, 'a'), engine: 'js', workerPool: false });
    cleanups.push(() => a.stop());
    const listenAddress = `127.0.0.1:${await freePort()}`;
    const b = await KvNode.start({ id: 2, address: proxyAddress, listenAddress, dataDir: join(dir, 'b'), engine: 'js', workerPool: false });
    cleanups.push(() => b.stop());
    expect(b.address).toBe(proxyAddress);
    expect(b.status().address).toBe(proxyAddress);

    // Without the real port the proxy forwards nowhere: the add must fail, proving traffic uses it.
    await expect(a.addMember(2, proxyAddress)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
    proxy.setTarget(listenAddress);
    await a.addMember(2, proxyAddress);
    await a.put('k', 'v');
    await eventually('node 2 applied the put', () => b.localGet('k') !== undefined, 10_000);
    expect(fromUtf8(b.localGet('k')!)).toBe('v');
    expect((await a.members()).find((m) => m.id === 2)?.address).toBe(proxyAddress);
    expect(proxy.stats.accepted).toBeGreaterThan(0);
  });

  it('refuses a listenAddress with an announced port 0', async () => {
    const dir = tempDir('listen-address');
    cleanups.push(() => removeDir(dir));
    await expect(KvNode.start({ id: 1, address: '127.0.0.1:0', listenAddress: '127.0.0.1:0', dataDir: join(dir, 'a'), engine: 'js', workerPool: false })).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
  });
});
