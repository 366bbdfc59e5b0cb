/**
 * TLS of a node's port (src/node/tls-options.ts, transport.ts): a CA, node and client certificates
 * and an unrelated CA are made at test time with the openssl command (skipped, with the reason
 * printed, where it is missing). Checked: a 3-node TLS cluster serves a TLS client end to end; a
 * plain-text peer and a peer whose certificate another CA signed are refused before any frame is
 * read (seen from the refused side: its connection closes, it reaches no "connected" state that
 * lasts); clientCertAuth refuses a client without a certificate; a plain-text client gets an error
 * within its timeout; bad files fail the start with KV_ERR_INVALID_ARGUMENT naming the file.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { FrameType } from '../../src/node/frame.js';
import { connectClient } from '../../src/node/client-connection.js';
import { parseAddress } from '../../src/node/address.js';
import { PEER_SERVERNAME, resolveClientTls, resolveNodeTls, type NodeTls } from '../../src/node/tls-options.js';
import { Transport } from '../../src/node/transport.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';

function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `openssl not runnable (${(err as Error).message})`;
  }
}
const skipReason = opensslMissing();
if (skipReason !== undefined) console.log(`test/node/tls.test.ts skipped: ${skipReason}`);

/** The certificates of these tests, made by openssl in a temp dir: file paths by name. */
interface Pki {
  dir: string;
  file(name: string): string;
}

function makePki(): Pki {
  const dir = tempDir('tls-pki');
  const file = (name: string): string => join(dir, name);
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string): void => {
    run('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  };
  const leaf = (name: string, caName: string, ext: string): void => {
    writeFileSync(file(`${name}.ext`), ext);
    run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  const nodeExt = 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n';
  ca('ca'); // signs the nodes' certificates (peers, and the certificate clients see)
  ca('client-ca'); // signs client certificates
  ca('other-ca'); // unrelated
  leaf('node', 'ca', nodeExt);
  leaf('client', 'client-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue', 'other-ca', nodeExt);
  // A node certificate for another host only: a node at 127.0.0.1 showing it fails the host check.
  leaf('elsewhere', 'ca', 'subjectAltName=IP:10.9.9.9\nextendedKeyUsage=serverAuth,clientAuth\n');
  return { dir, file };
}

describe.skipIf(skipReason !== undefined)('TLS', () => {
  let pki: Pki;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => removeDir(pki.dir));
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function peerTls(cert = 'node'): Pick<KvNodeOptions, 'peerCertFile' | 'peerKeyFile' | 'peerTrustedCaFile'> {
    return { peerCertFile: pki.file(`${cert}.crt`), peerKeyFile: pki.file(`${cert}.key`), peerTrustedCaFile: pki.file('ca.crt') };
  }

  async function startNode(id: number, dir: string, tls: Partial<KvNodeOptions>): Promise<KvNode> {
    const node = await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, `n${id}`), engine: 'js', workerPool: false, ...tls });
    cleanups.push(() => node.stop());
    return node;
  }

  function client(addresses: string[], tls: KvClientTls | undefined, requestTimeoutMs = 10_000): KvClient {
    const c = new KvClient(addresses, { requestTimeoutMs, ...(tls === undefined ? {} : { tls }) });
    cleanups.push(() => c.close());
    return c;
  }
  type KvClientTls = NonNullable<ConstructorParameters<typeof KvClient>[1]>['tls'];
  const clientCert = (): KvClientTls => ({ caFile: pki.file('ca.crt'), certFile: pki.file('client.crt'), keyFile: pki.file('client.key') });

  it('a 3-node cluster with peer TLS and clientCertAuth serves a TLS client', async () => {
    const dir = tempDir('tls-cluster');
    cleanups.push(() => removeDir(dir));
    const opts = { ...peerTls(), trustedCaFile: pki.file('client-ca.crt'), clientCertAuth: true };
    const [a, b, c] = [await startNode(1, dir, opts), await startNode(2, dir, opts), await startNode(3, dir, opts)];
    await a.addMember(2, b.address);
    await a.addMember(3, c.address);
    const kv = client([a.address, b.address, c.address], clientCert());
    await kv.put('k', 'v');
    expect(fromUtf8((await kv.get('k'))!)).toBe('v');
    await eventually('node 3 applied the put', () => c.localGet('k') !== undefined, 10_000);
    expect(fromUtf8(c.localGet('k')!)).toBe('v');
    // A follower forwards an admin request to the leader over a TLS connection of its own.
    expect((await b.members()).map((m) => m.id).sort()).toEqual([1, 2, 3]);
    for (const n of [a, b, c]) expect(n.stats().transport.tlsRefused).toBe(0);
  }, 30_000);

  /** A transport of node 9 that dials `target` as its peer 1 and sends one RAFT frame. */
  async function dialAsPeer(target: string, tls: NodeTls | undefined): Promise<Transport> {
    const lines: string[] = [];
    const t = new Transport({
      nodeId: 9, clusterId: () => 1n, listenHost: '127.0.0.1', listenPort: 0, frameBytesMax: 1 << 20,
      peerQueueFramesMax: 16, peerQueueBytesMax: 1 << 20, reconnectDelayMsMin: 20, reconnectDelayMsMax: 40,
      connectTimeoutMs: 2000, onFrame: () => undefined, log: (l) => lines.push(l), ...(tls === undefined ? {} : { tls }),
    });
    cleanups.push(() => t.close());
    await t.listen();
    t.setPeer(1, target);
    expect(t.send(1, FrameType.RAFT, new Uint8Array([1, 2, 3]))).toBe(true);
    return t;
  }

  for (const clientCertAuth of [false, true]) {
    it(`refuses a plain-text peer and a peer of another CA before reading a frame (clientCertAuth ${clientCertAuth})`, async () => {
      const dir = tempDir('tls-refuse');
      cleanups.push(() => removeDir(dir));
      const a = await startNode(1, dir, { ...peerTls(), trustedCaFile: pki.file('client-ca.crt'), clientCertAuth });
      const before = a.stats().transport;
      const plain = await dialAsPeer(a.address, undefined);
      const rogue = await dialAsPeer(a.address, resolveNodeTls(peerTls('rogue')));
      // Seen from the refused side: each connection is closed, again and again (backoff).
      await eventually('both refused peers failed twice', () =>
        plain.peerStats(1)!.consecutiveFailures >= 2 && rogue.peerStats(1)!.consecutiveFailures >= 2, 10_000);
      const after = a.stats().transport;
      expect(after.tlsRefused - before.tlsRefused).toBeGreaterThanOrEqual(4);
      // Nothing was read from them: no frame accepted, none even judged bad.
      expect(after.framesIn).toBe(before.framesIn);
      expect(after.badFrames).toBe(before.badFrames);

      // The control: the same transport with a certificate the CA signed gets its frame read
      // (judged bad there, for its foreign cluster id: proof that it was read).
      await dialAsPeer(a.address, resolveNodeTls(peerTls('node')));
      await eventually('the signed peer was read', () => a.stats().transport.badFrames > before.badFrames, 10_000);
    }, 30_000);
  }

  // With resumption on, this client's session, resumed under the peer server name, was taken for
  // an authorized peer: its client certificate passed for a peer's.
  it('resumes no session: a client session does not carry over to a peer connection', async () => {
    const dir = tempDir('tls-resume');
    cleanups.push(() => removeDir(dir));
    const a = await startNode(1, dir, { ...peerTls(), trustedCaFile: pki.file('client-ca.crt') });
    const { host, port } = parseAddress(a.address);
    const files = { ca: readFileSync(pki.file('ca.crt')), cert: readFileSync(pki.file('client.crt')), key: readFileSync(pki.file('client.key')) };
    /** One connection, ended 100 ms after its handshake: whether it resumed, and the session it was given. */
    const dial = (extra: tls.ConnectionOptions): Promise<{ reused: boolean; session: Buffer | undefined }> => new Promise((resolve, reject) => {
      const socket = tls.connect({ ...files, host, port, ...extra });
      let session: Buffer | undefined;
      let reused = false;
      socket.on('session', (s: Buffer) => { session = s; });
      socket.on('secureConnect', () => { reused = socket.isSessionReused(); setTimeout(() => socket.end(), 100); });
      socket.on('error', reject);
      socket.on('close', () => resolve({ reused, session }));
    });
    const first = await dial({});
    expect(first.session).toBeDefined();
    const before = a.stats().transport.tlsRefused;
    const second = await dial({ session: first.session!, servername: PEER_SERVERNAME, checkServerIdentity: () => undefined });
    expect(second.reused).toBe(false);
    await eventually('the client certificate was refused as a peer one', () => a.stats().transport.tlsRefused > before, 5000);
  }, 30_000);

  it('a node refuses to dial a peer whose certificate another CA signed, or one for another host', async () => {
    const dir = tempDir('tls-dial');
    cleanups.push(() => removeDir(dir));
    const a = await startNode(1, dir, peerTls());
    const rogue = await startNode(2, dir, { ...peerTls('rogue'), peerTrustedCaFile: pki.file('other-ca.crt') });
    await expect(a.addMember(2, rogue.address)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
    const elsewhere = await startNode(3, dir, peerTls('elsewhere'));
    await expect(a.addMember(3, elsewhere.address)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP', message: expect.stringMatching(/IP: 127\.0\.0\.1 is not in the cert's list/) });
  }, 30_000);

  it('clientCertAuth refuses a client without a certificate; without it the client is served', async () => {
    const dir = tempDir('tls-client-auth');
    cleanups.push(() => removeDir(dir));
    const strict = await startNode(1, dir, { ...peerTls(), trustedCaFile: pki.file('client-ca.crt'), clientCertAuth: true });
    const lax = await startNode(2, dir, { ...peerTls(), trustedCaFile: pki.file('client-ca.crt') });
    const serverOnly = { caFile: pki.file('ca.crt') };
    const startMs = Date.now();
    await expect(client([strict.address], serverOnly, 1000).put('k', 'v')).rejects.toMatchObject({ code: expect.stringMatching(/^KV_ERR_(CONNECTION_CLOSED|TIMEOUT)$/) });
    expect(Date.now() - startMs).toBeLessThan(2500);
    expect(strict.stats().transport.tlsRefused).toBeGreaterThan(0);
    // A peer's certificate is not a client's: the client CA did not sign it.
    const asPeer = { ...serverOnly, certFile: pki.file('node.crt'), keyFile: pki.file('node.key') };
    await expect(client([strict.address], asPeer, 1000).put('k', 'v')).rejects.toMatchObject({ code: expect.stringMatching(/^KV_ERR_(CONNECTION_CLOSED|TIMEOUT)$/) });
    await client([strict.address], clientCert()).put('k', 'v');
    await client([lax.address], serverOnly).put('k', 'v');
    expect(fromUtf8(lax.localGet('k')!)).toBe('v');

    // A client's connection carries client requests only: a JOIN_REQUEST (a leader's, node to
    // node) closes it unanswered.
    const conn = await connectClient(lax.address, { tls: resolveClientTls(serverOnly) });
    cleanups.push(() => conn.close());
    const badBefore = lax.stats().transport.badFrames;
    await expect(conn.join({ clusterId: 1n, nodeId: 2, leaderId: 7, leaderAddress: '127.0.0.1:1' }, 2000)).rejects.toMatchObject({ code: 'KV_ERR_CONNECTION_CLOSED' });
    expect(lax.stats().transport.badFrames).toBe(badBefore + 1);
  }, 30_000);

  it('a plain-text client against a TLS node fails within its timeout, and so does a TLS client against a plain node', async () => {
    const dir = tempDir('tls-plain-client');
    cleanups.push(() => removeDir(dir));
    const a = await startNode(1, dir, peerTls());
    const plainNode = await startNode(2, dir, {});
    for (const [address, tls] of [[a.address, undefined], [plainNode.address, { caFile: pki.file('ca.crt') }]] as const) {
      const startMs = Date.now();
      // 3 s: on a loaded machine the connect alone can take most of a second.
      const err = await client([address], tls, 3000).put('k', 'v').then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: expect.stringMatching(/^KV_ERR_(CONNECTION_CLOSED|TIMEOUT)$/) });
      expect((err as Error).message).toMatch(/TLS/);
      expect(Date.now() - startMs).toBeLessThan(6000);
    }
  }, 30_000);

  it('a bad certificate file fails the start with KV_ERR_INVALID_ARGUMENT naming the file', async () => {
    const dir = tempDir('tls-bad-files');
    cleanups.push(() => removeDir(dir));
    const missing = join(dir, 'missing.crt');
    const notPem = join(dir, 'not-pem.crt');
    writeFileSync(notPem, 'not a certificate\n');
    const cases: Array<[Partial<KvNodeOptions>, string]> = [
      [{ ...peerTls(), peerCertFile: missing }, missing],
      [{ ...peerTls(), peerTrustedCaFile: notPem }, notPem],
      [{ ...peerTls(), peerKeyFile: pki.file('rogue.key') }, pki.file('rogue.key')],
      [{ ...peerTls(), certFile: pki.file('client.crt'), keyFile: pki.file('node.key') }, pki.file('node.key')],
      [{ certFile: pki.file('node.crt'), keyFile: pki.file('node.key') }, 'peerCertFile'],
      [{ ...peerTls(), clientCertAuth: true }, 'trustedCaFile'],
    ];
    for (const [opts, named] of cases) {
      const err = await startNode(1, dir, opts).then(() => undefined, (e: unknown) => e);
      expect(err, named).toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
      expect((err as Error).message).toContain(named);
    }
    expect(() => new KvClient(['127.0.0.1:1'], { tls: { caFile: notPem } })).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT', message: expect.stringContaining(notPem) }));
  });
});
