// KvNode in process: clusters of real nodes on 127.0.0.1 (TCP, fsync, LSM trees on disk) driven
// through the public API. Membership growth and shrinkage under writes, snapshot catch-up after log
// compaction, leader loss, restart from the data directory, and the JOIN handshake's refusals.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { makeMessage } from '../../src/raft/types.js';
import { decodeIdentity, encodeIdentity } from '../../src/node/identity.js';
import { AddressBook } from '../../src/node/membership.js';
import { checksumFiles, createSnapshot } from '../../src/node/snapshot/checkpoint.js';
import { decodeSnapshotAck, decodeSnapshotChunk, encodeSnapshotAck } from '../../src/node/snapshot/chunk-codec.js';
import { SnapshotReceiver } from '../../src/node/snapshot/receiver.js';
import { SnapshotSender } from '../../src/node/snapshot/sender.js';
import { KvStateMachine } from '../../src/node/state-machine.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { putEntry, registerEntry } from '../helpers/kv-entries.js';

const running = new Set<KvNode>();
const dirs: string[] = [];

async function start(dir: string, id: number, extra: Partial<KvNodeOptions> = {}): Promise<KvNode> {
  const node = await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, `node-${id}`), engine: 'js', workerPool: false, ...extra });
  running.add(node);
  return node;
}

async function stop(node: KvNode): Promise<void> {
  running.delete(node);
  await node.stop();
}

function text(b: Uint8Array | undefined): string | undefined {
  return b === undefined ? undefined : fromUtf8(b);
}

/** Keeps writing unique keys through `pick()` (any member) until stopped; records acknowledged ones. */
function writer(pick: () => KvNode, prefix: string): { acked: string[]; failed: number; stop: () => Promise<void> } {
  const state = { acked: [] as string[], failed: 0, stop: async () => {} };
  let stopped = false;
  const loop = (async () => {
    // Bounded: stopped by the test (each pass is one write, at most a request timeout long).
    for (let i = 0; i < 100_000 && !stopped; i++) {
      const key = `${prefix}${String(i).padStart(6, '0')}`;
      try {
        await pick().put(key, `v${i}`);
        state.acked.push(key);
      } catch {
        state.failed++;
      }
    }
  })();
  state.stop = async () => {
    stopped = true;
    await loop;
  };
  return state;
}

afterEach(async () => {
  await Promise.all([...running].map((n) => n.stop()));
  running.clear();
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('KvNode client sessions', () => {
  it('answers a write sent again with its tag without applying it again; refuses discarded and unknown sessions', async () => {
    const dir = tempDir('kvnode-sessions');
    dirs.push(dir);
    const n = await start(dir, 1);
    const sessionId = await n.registerSession();
    const w = (seq: number, value: string, firstOutstandingSeq = 1) =>
      n.sessionWrite({ type: 'put', key: utf8('k'), value: utf8(value), sessionId, seq, firstOutstandingSeq });
    await w(1, 'v1');
    await w(2, 'v2');
    await w(1, 'v1'); // a retry of seq 1, answered from the session table
    expect(text(await n.get('k'))).toBe('v2');
    await w(3, 'v3', 3);
    await expect(w(1, 'v1')).rejects.toMatchObject({ code: 'KV_ERR_SESSION_SEQ_DISCARDED' });
    await expect(n.sessionWrite({ type: 'del', key: utf8('k'), sessionId: sessionId + 1000, seq: 1, firstOutstandingSeq: 1 }))
      .rejects.toMatchObject({ code: 'KV_ERR_SESSION_EXPIRED' });
    await expect(n.keepAliveSession(sessionId + 1000)).rejects.toMatchObject({ code: 'KV_ERR_SESSION_EXPIRED' });
    expect(text(await n.get('k'))).toBe('v3');
    // The node's own API writes go through a session of its own.
    await n.put('own', 'x');
    await n.delete('k');
    expect(text(await n.get('own'))).toBe('x');
    expect(await n.get('k')).toBeUndefined();
  });

  it("stamps the log with leaders' clocks only: a follower whose clock runs 10 hours ahead expires no session", async () => {
    const dir = tempDir('kvnode-clock');
    dirs.push(dir);
    const n1 = await start(dir, 1);
    const n2 = await start(dir, 2, { clockMs: () => Date.now() + 10 * 3_600_000 });
    await n1.addMember(2, n2.address);
    await eventually('node 2 follows node 1', () => n2.leader?.id === 1);
    const sessionId = await n1.registerSession();
    const w = (node: KvNode, seq: number) => node.sessionWrite({ type: 'put', key: utf8('k'), value: utf8(`v${seq}`), sessionId, seq, firstOutstandingSeq: seq });
    await w(n1, 1);
    // Node 2 registers its own session and writes: proposals forwarded to node 1, which stamps them.
    await n2.put('x', 'y');
    await w(n1, 2);
    await w(n2, 3); // a client's write through the follower keeps its tag
    expect(text(await n2.get('k'))).toBe('v3');
  });
});

describe('KvNode cluster', () => {
  it('grows 1 -> 3 -> 5 and shrinks by two while writes keep working', async () => {
    const dir = tempDir('kvnode-members');
    dirs.push(dir);
    const nodes = await Promise.all([1, 2, 3, 4, 5].map((id) => start(dir, id)));
    const [n1, n2, n3, n4, n5] = nodes as [KvNode, KvNode, KvNode, KvNode, KvNode];
    const members = new Set<KvNode>([n1]);
    let turn = 0;
    const w = writer(() => {
      const list = [...members];
      return list[turn++ % list.length]!;
    }, 'm');
    const expectMembers = async (ids: number[]): Promise<void> => {
      await eventually(`members ${ids}`, () => n1.status().voters.join(',') === ids.join(','), 10_000);
    };

    await n1.addMember(2, n2.address);
    await n1.addMember(3, n3.address);
    await expectMembers([1, 2, 3]);
    members.add(n2).add(n3);
    const ackedAt3 = w.acked.length;
    await n1.addMember(4, n4.address);
    await n1.addMember(5, n5.address);
    await expectMembers([1, 2, 3, 4, 5]);
    members.add(n4).add(n5);
    await eventually('writes through the grown cluster', () => w.acked.length > ackedAt3 + 20, 10_000);

    // Remove two followers (the leader is n1 unless an election moved it; remove at whoever leads).
    members.delete(n4);
    members.delete(n5);
    const leader = nodes.find((n) => n.isLeader)!;
    const victims = [4, 5].filter((id) => id !== leader.id);
    for (const id of victims) await leader.removeMember(id);
    await eventually('members shrink', () => victims.every((id) => !leader.status().voters.includes(id)), 10_000);
    const ackedAt5 = w.acked.length;
    await eventually('writes after the removal', () => w.acked.length > ackedAt5 + 20, 10_000);
    await w.stop();
    // A write may fail (outcome unknown) only if an election happened meanwhile; most succeed.
    expect(w.failed).toBeLessThan(w.acked.length / 10 + 5);

    // Every acknowledged write is readable, linearizably, at every remaining member.
    for (const n of [n1, n2, n3]) {
      const pairs = await n.scan('m', 'm~', 10_000);
      const keys = new Set(pairs.map(([k]) => fromUtf8(k)));
      for (const k of w.acked) expect(keys.has(k), `node ${n.id} lacks ${k}`).toBe(true);
    }
    // A removed node no longer receives entries.
    const removed = nodes.find((n) => n.id === victims[0])!;
    await leader.put('after-removal', 'x');
    await new Promise((r) => setTimeout(r, 300));
    expect(removed.localGet('after-removal')).toBeUndefined();
  });

  it('a follower behind the compacted log catches up by snapshot', async () => {
    const dir = tempDir('kvnode-snap');
    dirs.push(dir);
    const opts = { snapshotEntries: 50, compactKeepEntries: 10, snapshotTransfer: { chunkBytes: 4096 } };
    const n1 = await start(dir, 1, opts);
    let n2 = await start(dir, 2, opts);
    const n3 = await start(dir, 3, opts);
    await n1.addMember(2, n2.address);
    await n1.addMember(3, n3.address);
    await n1.put('early', 'bird');
    await eventually('n2 applies early', () => text(n2.localGet('early')) === 'bird');
    const n2Address = n2.address;
    await stop(n2);
    for (let i = 0; i < 300; i++) await n1.put(`k${String(i).padStart(4, '0')}`, `value-${i}`.repeat(20));
    const st1 = n1.status();
    expect(st1.snapshotIndex).toBeGreaterThan(200);
    expect(st1.logFirstIndex).toBeGreaterThan(200);
    n2 = await start(dir, 2, { ...opts, address: n2Address });
    await eventually('n2 catches up', () => n2.status().applied >= st1.commit, 15_000);
    expect(n2.stats().snapshotsInstalled).toBeGreaterThanOrEqual(1);
    expect(text(n2.localGet('early'))).toBe('bird');
    expect(text(n2.localGet('k0299'))).toBe('value-299'.repeat(20));
    expect(n2.localScan('k', 'k~', 10_000)).toHaveLength(300);
    // It keeps following after the snapshot.
    await n1.put('later', 'yes');
    await eventually('n2 applies later', () => text(n2.localGet('later')) === 'yes');
  });

  it('elects a new leader when the leader stops; the old one restarts from its data dir', async () => {
    const dir = tempDir('kvnode-failover');
    dirs.push(dir);
    const [n1, n2, n3] = await Promise.all([1, 2, 3].map((id) => start(dir, id)));
    await n1!.addMember(2, n2!.address);
    await n1!.addMember(3, n3!.address);
    for (let i = 0; i < 20; i++) await n2!.put(`a${i}`, `${i}`);
    const clusterId = n1!.clusterId;
    const address = n1!.address;
    await stop(n1!);
    await eventually('a new leader', () => n2!.isLeader || n3!.isLeader, 5_000, 10);
    const leader = n2!.isLeader ? n2! : n3!;
    const follower = leader === n2 ? n3! : n2!;
    await eventually('the follower knows the new leader', () => follower.status().leader === leader.id, 5_000, 10);
    // Writes at either survivor work (a follower forwards to the new leader).
    await follower.put('after', 'failover');
    await leader.put('after2', 'x');
    expect(text(await follower.get('after2'))).toBe('x');
    expect(text(await leader.get('after'))).toBe('failover');
    const back = await start(dir, 1, { address });
    expect(back.clusterId).toBe(clusterId);
    await eventually('restarted node catches up', () => text(back.localGet('after')) === 'failover', 10_000);
    expect(text(back.localGet('a19'))).toBe('19');
    expect(back.members().map((m) => m.id)).toEqual([1, 2, 3]);
  });

  it('transfers leadership, forwards admin requests from a follower, and KvClient follows the leader', async () => {
    const dir = tempDir('kvnode-admin');
    dirs.push(dir);
    const [n1, n2, n3] = (await Promise.all([1, 2, 3].map((id) => start(dir, id)))) as [KvNode, KvNode, KvNode];
    await n1.addMember(2, n2.address);
    // Added at a follower: forwarded to the leader.
    await n2.addMember(3, n3.address);
    await eventually('n3 is a voter everywhere', () => [n1, n2, n3].every((n) => n.status().voters.join(',') === '1,2,3'));
    expect(n2.members().map((m) => [m.id, m.role])).toEqual([[1, 'leader'], [2, 'follower'], [3, 'follower']]);
    expect(n1.members().every((m) => typeof m.match === 'number')).toBe(true);

    await n3.transferLeadership(2);
    await eventually('n2 leads', () => n2.isLeader && n1.status().leader === 2 && n3.status().leader === 2);
    const client = await KvClient.connect([n3.address, n1.address]);
    try {
      await client.put('c', 'd');
      expect(text(await client.get('c'))).toBe('d');
      expect((await client.status()).leader).toBe(2);
      expect((await client.scan('a', 'z')).map(([k, v]) => [text(k), text(v)])).toEqual([['c', 'd']]);
      await client.delete('c');
      expect(await client.get('c')).toBeUndefined();
      // A follower's removal, sent to a follower: forwarded; the cluster shrinks.
      await client.removeMember(3);
      await eventually('n3 removed', () => n2.status().voters.join(',') === '1,2');
      await expect(n1.addMember(2, n2.address)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
      // The leader removes itself: it hands leadership over first.
      await n2.removeMember(2);
      await eventually('n2 removed, n1 leads alone', () => n1.isLeader && n1.status().voters.join(',') === '1');
      await expect(n1.removeMember(1)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
      await n1.put('alone', 'yes');
      expect(text(await n1.get('alone'))).toBe('yes');
    } finally {
      client.close();
    }
  });

  it('keeps its data and identity across a restart of a one-member cluster', async () => {
    const dir = tempDir('kvnode-restart');
    dirs.push(dir);
    let n = await start(dir, 1);
    for (let i = 0; i < 50; i++) await n.put(`r${i}`, `${i}`);
    await n.delete('r7');
    const id = n.clusterId;
    await stop(n);
    n = await start(dir, 1);
    expect(n.clusterId).toBe(id);
    expect(text(await n.get('r49'))).toBe('49');
    expect(await n.get('r7')).toBeUndefined();
    await n.put('r50', '50');
    expect(text(await n.get('r50'))).toBe('50');
    // The data dir belongs to node 1.
    await stop(n);
    await expect(start(dir, 2, { dataDir: join(dir, 'node-1') })).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
  });

  it('validates arguments at the edge with typed errors', async () => {
    const dir = tempDir('kvnode-args');
    dirs.push(dir);
    const n = await start(dir, 1);
    await expect(n.put('', 'x')).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
    await expect(n.addMember(0, '127.0.0.1:1')).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
    await expect(n.addMember(2, 'nowhere')).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
    await expect(n.addMember(2, '127.0.0.1:1')).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
    await expect(n.removeMember(9)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
    await expect(n.removeMember(1)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
    await expect(KvNode.start({ id: 1, address: 'bad', dataDir: join(dir, 'x') })).rejects.toMatchObject({ code: 'KV_ERR_INVALID_ARGUMENT' });
    await stop(n);
    await expect(n.put('a', 'b')).rejects.toMatchObject({ code: 'KV_ERR_STOPPED' });
  });
});

describe('snapshot transfer over a lossy link', () => {
  const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);

  it(`resumes from the receiver's position after lost chunks and acks (seed ${SEED})`, async () => {
    const dir = tempDir('transfer');
    dirs.push(dir);
    // A state with a few tables' worth of data, checkpointed.
    const sm = await KvStateMachine.open(join(dir, 'state'), { engine: 'js', workerPool: false, memtableBytesMax: 64 * 1024 });
    const entries = Array.from({ length: 400 }, (_, i) =>
      (i === 0 ? registerEntry(1) : putEntry(i + 1, { id: 1, seq: i }, `key${String(i).padStart(5, '0')}`, 'v'.repeat(300))));
    await sm.apply(entries);
    const local = await createSnapshot(sm, join(dir, 'snapshots'), { index: 400, term: 1, conf: { voters: [1, 2], learners: [] } }, { fs: nodeFileSystem });
    await sm.close();
    expect(local.files.length).toBeGreaterThan(2);

    // The link loses about a fifth of the chunks and of the acks (seeded).
    let x = SEED >>> 0 || 1;
    const lose = (): boolean => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % 5 === 0;
    };
    const receiver = new SnapshotReceiver(join(dir, 'follower'), { fs: nodeFileSystem });
    let chain: Promise<void> = Promise.resolve();
    let outcome: { ok: boolean; why: string } | undefined;
    let sends = 0;
    const transfer: SnapshotSender = new SnapshotSender(2, local, makeMessage({ type: 'snap', to: 2 }), {
      fs: nodeFileSystem,
      sendChunk: (_to, payload) => {
        sends++;
        if (sends > 5_000) return false; // a resend storm (a bug): drop, so the transfer fails fast
        if (lose()) return true; // sent, then lost on the way
        chain = chain.then(async () => {
          const r = await receiver.receive(decodeSnapshotChunk(payload));
          const ack = r.status === 'complete'
            ? encodeSnapshotAck({ status: 'complete', position: { snapshotId: r.snapshot.snapshotId, fileIndex: r.snapshot.files.length, offset: 0 } })
            : encodeSnapshotAck({ status: 'next', position: r.next });
          if (!lose() || r.status === 'complete') transfer.onAck(decodeSnapshotAck(ack));
        });
        return true;
      },
      done: (_to, ok, why) => {
        outcome = { ok, why };
      },
      log: () => {},
    }, { chunkBytes: 2048, windowChunks: 4, resendAfterMs: 30, stallRetriesMax: 50 });
    transfer.start();
    await eventually('the transfer ends', () => outcome !== undefined, 15_000, 10);
    expect(outcome, `seed ${SEED}`).toEqual({ ok: true, why: 'complete' });
    // Each loss costs a bounded resend, not a storm (one rewind per lost chunk, not per ack).
    const chunks = local.files.reduce((n, f) => n + Math.max(1, Math.ceil(f.size / 2048)), 0);
    expect(sends, `seed ${SEED}`).toBeLessThan(4 * chunks);
    await chain;
    // The receiver holds the same files, byte for byte (it checked each file's CRC32C).
    const got = await checksumFiles(nodeFileSystem, join(dir, 'follower', `snapshot-incoming-${local.id}`));
    expect(got.map((f) => [f.name, f.size, f.crc32c]).sort()).toEqual(local.files.map((f) => [f.name, f.size, f.crc32c]).sort());
  });
});

describe('node file and wire formats (golden bytes)', () => {
  it('IDENTITY, MEMBERS and SNAPSHOT_ACK encode to fixed bytes and decode back; damage is refused', () => {
    const identity = encodeIdentity({ nodeId: 3, clusterId: 0x0123456789abcdefn });
    expect(fromUtf8(identity)).toBe('lsmraft-identity v1 node=3 cluster=0123456789abcdef crc=d82602eb\n');
    expect(decodeIdentity(identity)).toEqual({ nodeId: 3, clusterId: 0x0123456789abcdefn });
    expect(() => decodeIdentity(utf8('lsmraft-identity v1 node=4 cluster=0123456789abcdef crc=d82602eb\n'))).toThrow(expect.objectContaining({ code: 'LSM_ERR_CORRUPTION' }));

    const book = new AddressBook();
    book.set(3, '127.0.0.1:10003');
    book.set(2, 'localhost:10002');
    const members = book.encode();
    expect(fromUtf8(members)).toBe('lsmraft-members v1\n2 localhost:10002\n3 127.0.0.1:10003\ncrc=ad3e1060\n');
    expect(AddressBook.decodeWire(members).entries()).toEqual([[2, 'localhost:10002'], [3, '127.0.0.1:10003']]);
    const damaged = members.slice();
    damaged[22] ^= 1;
    expect(() => AddressBook.decodeWire(damaged)).toThrow(expect.objectContaining({ code: 'KV_ERR_BAD_FRAME' }));

    const ack = encodeSnapshotAck({ status: 'next', position: { snapshotId: '12-2-abcd', fileIndex: 1, offset: 300 } });
    expect(Buffer.from(ack).toString('hex')).toBe('01010931322d322d6162636401ac02');
    expect(decodeSnapshotAck(ack)).toEqual({ status: 'next', position: { snapshotId: '12-2-abcd', fileIndex: 1, offset: 300 } });
    expect(() => decodeSnapshotAck(Uint8Array.of(1, 9, 0, 0, 0))).toThrow(expect.objectContaining({ code: 'KV_ERR_BAD_FRAME' }));
  });
});
