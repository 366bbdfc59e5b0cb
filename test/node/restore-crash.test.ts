/**
 * A restore cut short by a crash (the crashable in-memory file system, after every failing call
 * from the nth on, as a process that died there): the data directory is then absent or empty, or
 * KvNode.start refuses it with LSM_ERR_CORRUPTION (the RESTORING marker, restore.ts), or it is
 * complete and serves every key. Never a node that starts on half the layout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { KvClient } from '../../src/node/kv-client.js';
import { KvNode } from '../../src/node/kv-node.js';
import { restoreBackup } from '../../src/node/restore.js';
import { removeDir, tempDir } from '../helpers/cluster.js';
import { FaultFileSystem } from '../helpers/fault-fs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

const KEYS = 40;

async function makeBackup(): Promise<Uint8Array> {
  const dir = tempDir('restore-crash');
  dirs.push(dir);
  const n = await KvNode.start({ id: 1, address: '127.0.0.1:0', dataDir: join(dir, 'node-1'), engine: 'js', workerPool: false, log: () => undefined });
  const c = new KvClient([n.address]);
  try {
    for (let i = 0; i < KEYS; i++) await c.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
    await c.snapshotSave(join(dir, 'b.bak'), { chunkBytes: 512 });
  } finally {
    c.close();
    await n.stop();
  }
  return readFileSync(join(dir, 'b.bak'));
}

function memWith(backup: Uint8Array): CrashableMemFileSystem {
  const fs = new CrashableMemFileSystem();
  fs.mkdirp('/b');
  const f = fs.create('/b/b.bak');
  f.append(backup);
  f.syncSync();
  f.close();
  fs.syncDirSync('/b');
  fs.syncDirSync('/');
  return fs;
}

describe('restore cut short by a crash', () => {
  it('leaves no directory, an empty one, one KvNode.start refuses, or a complete one', async () => {
    const backup = await makeBackup();
    const outcomes = new Map<string, number>();
    let finished = false;
    // Bounded: a restore makes a few hundred file system calls; the stride keeps the run short.
    for (let nth = 1; nth < 2_000 && !finished; nth += 3) {
      const mem = memWith(backup);
      const faulty = new FaultFileSystem(mem, { rules: [{ nth, times: Number.POSITIVE_INFINITY }] });
      const restored = await restoreBackup('/b/b.bak', { dataDir: '/data/n1', id: 1, address: '127.0.0.1:0', fs: faulty }).then(
        () => true,
        (err: unknown) => {
          if (!(err instanceof LsmraftError)) throw err;
          return false;
        },
      );
      finished = restored;
      mem.crash();
      let outcome: string;
      if (!mem.exists('/data/n1') || mem.list('/data/n1').length === 0) {
        outcome = 'nothing';
      } else {
        const started = await KvNode.start({ id: 1, address: '127.0.0.1:0', dataDir: '/data/n1', fs: mem, engine: 'js', workerPool: false, log: () => undefined })
          .then((n) => n, (err: unknown) => err);
        if (started instanceof KvNode) {
          try {
            expect(started.localScan(undefined, undefined, 1000).length, `call ${nth}`).toBe(KEYS);
          } finally {
            await started.stop();
          }
          outcome = 'complete';
        } else {
          expect(started, `call ${nth}`).toBeInstanceOf(LsmraftError);
          expect((started as LsmraftError).code, `call ${nth}: ${String(started)}`).toBe('LSM_ERR_CORRUPTION');
          outcome = 'refused';
        }
      }
      if (restored) expect(outcome).toBe('complete');
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(finished).toBe(true);
    expect(outcomes.get('refused') ?? 0).toBeGreaterThan(0);
    expect(outcomes.get('nothing') ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
