// Snapshots: build (checkpoint) -> chunks -> receive (dropped, duplicated, restarted transfers)
// -> install -> open gives the same data; corrupted chunks and files are rejected; an install
// interrupted by a crash leaves either the old or the new state, and startup cleans up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { RaftLogStore } from '../../src/node/log-store.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { createSnapshot, type LocalSnapshot } from '../../src/node/snapshot/checkpoint.js';
import { decodeSnapshotChunk, encodeSnapshotChunk, type SnapshotChunk } from '../../src/node/snapshot/chunk-codec.js';
import { decodeStatePointer, encodeStatePointer, installSnapshot, openStateDir, reconcileLogWithState } from '../../src/node/snapshot/install.js';
import { SnapshotReceiver, type ReceivedSnapshot } from '../../src/node/snapshot/receiver.js';
import { ChunkCursor } from '../../src/node/snapshot/sender.js';
import { KvStateMachine } from '../../src/node/state-machine.js';
import type { Entry, SnapshotMeta } from '../../src/raft/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { putEntry as putKv, registerEntry } from '../helpers/kv-entries.js';
import { Rng } from '../helpers/rng.js';

const treeOptions = (fs: CrashableMemFileSystem) =>
  ({ fs, engine: 'js' as const, workerPool: false as const, memtableBytesMax: 64 * 1024, targetFileSizeBytes: 64 * 1024 });

/** A put of session 1, which entry 1 of every test log registers (registerEntry). */
function putEntry(index: number, key: string, value: Uint8Array): Entry {
  return putKv(index, { id: 1, seq: index }, key, value, { term: 2 });
}

function dump(sm: KvStateMachine): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of sm.scan(Uint8Array.of(0), Uint8Array.of(0xff), 10_000)) out.set(fromUtf8(k), Buffer.from(v).toString('hex'));
  return out;
}

/** A leader's data dir with a state machine holding `n` keys of ~1 KiB over several tables. */
async function leaderWith(fs: CrashableMemFileSystem, n: number, seed: number): Promise<{ sm: KvStateMachine; meta: SnapshotMeta; snap: LocalSnapshot }> {
  const rng = new Rng(seed);
  const { stateDir } = await openStateDir('/leader', { fs });
  const sm = await KvStateMachine.open(stateDir, treeOptions(fs));
  await sm.apply([registerEntry(1, { term: 2 })]);
  let index = 1;
  for (let b = 0; b < n / 20; b++) {
    const batch: Entry[] = [];
    for (let i = 0; i < 20; i++) {
      index++;
      batch.push(putEntry(index, `key-${String(rng.int(n * 2)).padStart(6, '0')}`, rng.bytes(1000)));
    }
    await sm.apply(batch);
  }
  const meta: SnapshotMeta = { index: sm.appliedIndex, term: 2, conf: { voters: [1, 2], learners: [3] } };
  const snap = await createSnapshot(sm, '/leader/snapshots', meta, { fs });
  return { sm, meta, snap };
}

async function receiveAll(receiver: SnapshotReceiver, sender: ChunkCursor, wire: (c: SnapshotChunk) => SnapshotChunk | undefined): Promise<ReceivedSnapshot> {
  const limit = sender.totalChunks * 4 + 10;
  // Bounded: each pass sends one chunk; drops and duplicates cost at most a few resends each.
  for (let pass = 0; pass < limit; pass++) {
    const chunk = sender.next();
    if (chunk === undefined) {
      // The sender ran out but the receiver still waits: resume from where it stands.
      sender.seek(receiver.expected()!);
      continue;
    }
    const delivered = wire(chunk);
    if (delivered === undefined) continue;
    const r = await receiver.receive(decodeSnapshotChunk(encodeSnapshotChunk(delivered)));
    if (r.status === 'complete') return r.snapshot;
    if (r.status === 'ignored') sender.seek(r.next);
  }
  throw new Error('transfer did not complete');
}

describe('snapshots', () => {
  it('build, stream with a dropped and a duplicated chunk, install, and open the same data', async () => {
    const fs = new CrashableMemFileSystem();
    const { sm, meta, snap } = await leaderWith(fs, 300, 1);
    const want = dump(sm);
    expect(want.size).toBeGreaterThan(100);
    expect(snap.files.filter((f) => f.name.endsWith('.sst')).length).toBeGreaterThan(1);
    expect(snap.files.map((f) => f.name)).toContain('CURRENT');

    // The follower: a fresh node with its own (empty) state tree.
    const { stateDir: oldDir } = await openStateDir('/follower', { fs });
    const followerSm = await KvStateMachine.open(oldDir, treeOptions(fs));
    const receiver = new SnapshotReceiver('/follower', { fs });
    const sender = new ChunkCursor(snap, { fs, chunkBytes: 16 * 1024 });
    expect(sender.totalChunks).toBeGreaterThan(10);
    let n = 0;
    const dupes: SnapshotChunk[] = [];
    const received = await receiveAll(receiver, sender, (c) => {
      n++;
      if (n === 3) return undefined; // dropped
      if (n === 6) dupes.push(c);
      if (n === 8) return dupes[0]; // a stale duplicate instead of chunk 8 (which is lost too)
      return c;
    });
    // Two chunks were lost and one duplicated: the transfer took more sends than chunks.
    expect(n).toBeGreaterThan(sender.totalChunks + 1);
    expect(received.meta).toEqual(meta);
    expect(received.files).toEqual(snap.files);

    await followerSm.close();
    const { stateDir } = await installSnapshot('/follower', received, { fs });
    expect(stateDir).not.toBe(oldDir);
    expect(fs.exists(oldDir)).toBe(false);
    expect(fs.exists(received.dir)).toBe(false);
    const installed = await KvStateMachine.open(stateDir, treeOptions(fs));
    expect(installed.appliedIndex).toBe(meta.index);
    expect(dump(installed)).toEqual(want);
    await installed.close();

    // After a crash the installed state is what startup finds, and it names the snapshot meta.
    fs.crash();
    const after = await openStateDir('/follower', { fs });
    expect(after.stateDir).toBe(stateDir);
    expect(after.installed).toEqual(meta);
    const reopened = await KvStateMachine.open(after.stateDir, treeOptions(fs));
    expect(dump(reopened)).toEqual(want);
    await reopened.close();
  });

  it('ignores out-of-order chunks, restarts cleanly on a newer snapshot, and refuses a stale one', async () => {
    const fs = new CrashableMemFileSystem();
    const { sm, snap: first } = await leaderWith(fs, 100, 2);
    await sm.apply([putEntry(sm.appliedIndex + 1, 'late', utf8('x'))]);
    const second = await createSnapshot(sm, '/leader/snapshots', { index: sm.appliedIndex, term: 3, conf: { voters: [1, 2], learners: [] } }, { fs });
    const want = dump(sm);
    await sm.close();

    const { stateDir } = await openStateDir('/f', { fs });
    const receiver = new SnapshotReceiver('/f', { fs });
    const s1 = new ChunkCursor(first, { fs, chunkBytes: 8 * 1024 });
    const c0 = s1.next()!;
    const c1 = s1.next()!;
    const c2 = s1.next()!;
    expect((await receiver.receive(c0)).status).toBe('accepted');
    const gap = await receiver.receive(c2);
    expect(gap).toEqual({ status: 'ignored', reason: 'gap', next: { snapshotId: first.id, fileIndex: c1.fileIndex, offset: c1.offset } });
    expect((await receiver.receive(c1)).status).toBe('accepted');
    const dup = await receiver.receive(c0);
    expect(dup.status === 'ignored' && dup.reason).toBe('duplicate');
    const incomingFirst = `/f/snapshot-incoming-${first.id}`;
    expect(fs.list(incomingFirst).length).toBeGreaterThan(0);

    // A newer snapshot starts: the partial first transfer is discarded.
    const s2 = new ChunkCursor(second, { fs, chunkBytes: 8 * 1024 });
    const firstOfSecond = await receiver.receive(s2.next()!);
    expect(firstOfSecond.status).toBe('accepted');
    expect(fs.exists(incomingFirst)).toBe(false);
    // A late chunk of the older snapshot does not disturb it.
    const stale = await receiver.receive(s1.next()!);
    expect(stale.status === 'ignored' && stale.reason).toBe('stale');
    const received = await receiveAll(receiver, s2, (c) => c);
    expect(received.snapshotId).toBe(second.id);
    // A resend of the finished transfer (its acknowledgement was lost) does not wipe what awaits install.
    const resend = await receiver.receive(new ChunkCursor(second, { fs, chunkBytes: 8 * 1024 }).next()!);
    expect(resend.status === 'ignored' && resend.reason).toBe('finished');
    expect(fs.list(received.dir).length).toBe(second.files.length);
    const resumed = new ChunkCursor(second, { fs });
    if (resend.status === 'ignored') resumed.seek(resend.next);
    expect(resumed.finished).toBe(true);
    resumed.seek({ snapshotId: 'other', fileIndex: 0, offset: 5 });
    expect(resumed.next()!.offset).toBe(0);

    const { stateDir: newDir } = await installSnapshot('/f', received, { fs });
    expect(newDir).not.toBe(stateDir);
    const installed = await KvStateMachine.open(newDir, treeOptions(fs));
    expect(dump(installed)).toEqual(want);
    expect(fromUtf8(installed.get(utf8('late'))!)).toBe('x');
    await installed.close();
  });

  it('rejects a corrupted chunk by its checksums, and a file whose whole checksum fails', async () => {
    const fs = new CrashableMemFileSystem();
    const { sm, snap } = await leaderWith(fs, 60, 3);
    await sm.close();
    const sender = new ChunkCursor(snap, { fs, chunkBytes: 4096 });
    const chunk = sender.next()!;
    const bytes = encodeSnapshotChunk(chunk);
    const back = decodeSnapshotChunk(bytes);
    expect({ ...back, data: [...back.data] }).toEqual({ ...chunk, data: [...chunk.data] });
    // Any single flipped byte is caught (frame checksum), and so is truncation.
    const rng = new Rng(3);
    for (let trial = 0; trial < 50; trial++) {
      const bad = bytes.slice();
      const at = rng.int(bad.length);
      bad[at] = bad[at]! ^ (1 + rng.int(255));
      expect(() => decodeSnapshotChunk(bad), `flip at ${at}`).toThrow(expect.objectContaining({ code: 'KV_ERR_BAD_FRAME' }));
    }
    expect(() => decodeSnapshotChunk(bytes.subarray(0, bytes.length - 1))).toThrow(expect.objectContaining({ code: 'KV_ERR_BAD_FRAME' }));
    expect(() => decodeSnapshotChunk(Uint8Array.of(1, 2, 3))).toThrow(expect.objectContaining({ code: 'KV_ERR_BAD_FRAME' }));

    // In memory, a chunk whose data does not match its crc is refused and the transfer goes on.
    const receiver = new SnapshotReceiver('/r', { fs });
    const tampered = { ...chunk, data: chunk.data.slice() };
    tampered.data[0] = tampered.data[0]! ^ 1;
    await expect(receiver.receive(tampered)).rejects.toMatchObject({ code: 'KV_ERR_BAD_FRAME' });
    expect(receiver.expected()).toBeUndefined();
    // A file name that would escape the incoming directory is refused.
    await expect(receiver.receive({ ...chunk, fileName: '../x' })).rejects.toMatchObject({ code: 'KV_ERR_BAD_FRAME' });

    // A sender whose file list claims the wrong whole-file checksum: every chunk passes, the file fails.
    const lying: LocalSnapshot = { ...snap, files: snap.files.map((f, i) => (i === 0 ? { ...f, crc32c: (f.crc32c ^ 1) >>> 0 } : f)) };
    const s2 = new ChunkCursor(lying, { fs, chunkBytes: 1 << 20 });
    await expect(receiveAll(receiver, s2, (c) => c)).rejects.toMatchObject({ code: 'LSM_ERR_CORRUPTION' });
    expect(receiver.expected()).toBeUndefined();
    expect(fs.exists(`/r/snapshot-incoming-${snap.id}`)).toBe(false);
  });

  it('an install interrupted before its commit point leaves the old state; startup cleans up', async () => {
    const fs = new CrashableMemFileSystem();
    const { sm, snap } = await leaderWith(fs, 60, 4);
    await sm.close();
    const { stateDir: oldDir } = await openStateDir('/n', { fs });
    const old = await KvStateMachine.open(oldDir, treeOptions(fs));
    await old.apply([registerEntry(1), putEntry(2, 'mine', utf8('old'))]);
    await old.close();
    const received = await receiveAll(new SnapshotReceiver('/n', { fs }), new ChunkCursor(snap, { fs }), (c) => c);

    fs.injectError('rename'); // STATE.tmp -> STATE fails: the crash point just before the commit
    await expect(installSnapshot('/n', received, { fs })).rejects.toMatchObject({ code: 'LSM_ERR_IO' });
    fs.crash();
    const after = await openStateDir('/n', { fs });
    expect(after.stateDir).toBe(oldDir);
    expect(after.installed).toBeUndefined();
    expect(fs.list('/n').filter((n) => n.startsWith('state-') || n.startsWith('snapshot-incoming-')).map((n) => `/n/${n}`)).toEqual([oldDir]);
    expect(fs.exists('/n/STATE.tmp')).toBe(false);
    const reopened = await KvStateMachine.open(after.stateDir, treeOptions(fs));
    expect(fromUtf8(reopened.get(utf8('mine'))!)).toBe('old');
    await reopened.close();
  });

  it('a crash after install but before the log learns of it is repaired at startup', async () => {
    const fs = new CrashableMemFileSystem();
    const { sm, meta, snap } = await leaderWith(fs, 40, 5);
    await sm.close();
    const log = await RaftLogStore.open('/m/log', treeOptions(fs));
    await log.bootstrap(2);
    await log.append([{ index: 2, term: 2, type: 'normal', data: new Uint8Array(0) }], { term: 2, vote: 2, commit: 2 });
    await openStateDir('/m', { fs });
    const received = await receiveAll(new SnapshotReceiver('/m', { fs }), new ChunkCursor(snap, { fs }), (c) => c);
    await installSnapshot('/m', received, { fs });
    fs.crash(); // before logStore.applySnapshot
    const { installed } = await openStateDir('/m', { fs });
    const log2 = await RaftLogStore.open('/m/log', treeOptions(fs));
    expect(log2.lastIndex()).toBe(2);
    expect(await reconcileLogWithState(log2, installed)).toBe(true);
    expect(log2.firstIndex()).toBe(meta.index + 1);
    expect(log2.term(meta.index)).toBe(meta.term);
    expect(log2.initialState().confState).toEqual(meta.conf);
    expect(await reconcileLogWithState(log2, installed)).toBe(false);
    await log2.close();
  });

  it('works on the real file system: checkpoint links, transfer, install, reopen', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lsmraft-snapshot-'));
    try {
      const opts = { engine: 'js' as const, workerPool: false as const };
      const leader = await openStateDir(join(root, 'leader'), { fs: nodeFileSystem });
      const sm = await KvStateMachine.open(leader.stateDir, opts);
      await sm.apply([registerEntry(1), putEntry(2, 'a', utf8('1')), putEntry(3, 'b', utf8('2'))]);
      const meta: SnapshotMeta = { index: 3, term: 2, conf: { voters: [1], learners: [] } };
      const snap = await createSnapshot(sm, join(root, 'leader', 'snapshots'), meta, { fs: nodeFileSystem });
      await sm.apply([putEntry(4, 'c', utf8('after the snapshot'))]);
      await sm.close();
      const followerDir = join(root, 'follower');
      await openStateDir(followerDir, { fs: nodeFileSystem });
      const received = await receiveAll(new SnapshotReceiver(followerDir, { fs: nodeFileSystem }), new ChunkCursor(snap, { fs: nodeFileSystem, chunkBytes: 100 }), (c) => c);
      const { stateDir } = await installSnapshot(followerDir, received, { fs: nodeFileSystem });
      const installed = await KvStateMachine.open(stateDir, opts);
      expect(installed.appliedIndex).toBe(3);
      expect([...dump(installed).keys()]).toEqual(['a', 'b']);
      await installed.close();
      expect((await openStateDir(followerDir, { fs: nodeFileSystem })).installed).toEqual(meta);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('STATE round-trips and a damaged one is corruption', () => {
    const p = { generation: 7, installed: { index: 100, term: 4, conf: { voters: [1, 2, 3], learners: [9] } } };
    expect(decodeStatePointer(encodeStatePointer(p))).toEqual(p);
    expect(decodeStatePointer(encodeStatePointer({ generation: 1, installed: undefined }))).toEqual({ generation: 1, installed: undefined });
    const b = encodeStatePointer(p);
    for (let i = 0; i < b.length; i++) {
      const bad = b.slice();
      bad[i] = bad[i]! ^ 0x40;
      expect(() => decodeStatePointer(bad)).toThrow(expect.objectContaining({ code: 'LSM_ERR_CORRUPTION' }));
    }
  });
});
