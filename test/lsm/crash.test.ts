/**
 * Crash recovery under a real kill -9: a child process writes synced batches while flushes and
 * compactions run; the test SIGKILLs it at a random moment, reopens the tree, and checks that every
 * acknowledged batch is present whole, that a batch in flight is all there or not at all, and that
 * nothing never written appears. Several rounds on the same directory, so recovery also recovers
 * from what an earlier recovery left. Seeded: the seed picks the kill moments.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { batchKeys } from './crash-batches.js';
import { Rng, testSeeds } from '../helpers/rng.js';

const CHILD = join(import.meta.dirname, 'crash-child.ts');

interface RoundLog {
  started: Set<number>;
  acked: Set<number>;
}

/** Runs the child until `killAfterMs` after its first acknowledged batch, then SIGKILLs it by PID. */
function runChild(dir: string, engine: string, first: number, killAfterMs: number): Promise<RoundLog> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, engine, String(first), '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log: RoundLog = { started: new Set(), acked: new Set() };
    let buffered = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crash child acknowledged nothing in time; stderr: ${stderr}`));
    }, 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'open') {
          // Opened; the guard keeps running until the first acknowledgement.
        } else if (line.startsWith('start ')) log.started.add(Number(line.slice(6)));
        else if (line.startsWith('ack ')) {
          log.acked.add(Number(line.slice(4)));
          clearTimeout(guard);
          // The kill moment counts from the first acknowledgement, so a slow start (a loaded
          // machine) still leaves the round something to check.
          killTimer ??= setTimeout(() => process.kill(child.pid!, 'SIGKILL'), killAfterMs);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (killTimer !== undefined) clearTimeout(killTimer);
      if (signal !== 'SIGKILL') reject(new Error(`crash child exited by itself (code ${code}): ${stderr}`));
      else resolve(log);
    });
  });
}

async function verify(dir: string, everStarted: Set<number>, everAcked: Set<number>, maxId: number): Promise<number> {
  const tree = await LsmTree.open(dir, { engine: 'js', workerPool: false });
  try {
    let present = 0;
    for (let id = 0; id <= maxId; id++) {
      const keys = batchKeys(id);
      const found = keys.map(([k]) => tree.getSync(k));
      const count = found.filter((v) => v !== undefined).length;
      if (everAcked.has(id)) expect(count, `acknowledged batch ${id}`).toBe(keys.length);
      else if (!everStarted.has(id)) expect(count, `never-started batch ${id}`).toBe(0);
      else expect([0, keys.length], `in-flight batch ${id} must be all or nothing`).toContain(count);
      for (let j = 0; j < keys.length; j++) {
        if (found[j] !== undefined) expect(fromUtf8(found[j]!)).toBe(keys[j]![1]);
      }
      if (count > 0) present++;
    }
    // Every key in the tree belongs to a batch that was started.
    let entries = 0;
    for await (const [k] of tree.scan()) {
      entries++;
      const id = Number(fromUtf8(k).split('-')[2]);
      expect(everStarted.has(id), `key ${fromUtf8(k)} of a batch never started`).toBe(true);
    }
    expect(entries).toBeGreaterThanOrEqual(present);
    return present;
  } finally {
    await tree.close();
  }
}

describe('kill -9 crash recovery', () => {
  for (const seed of testSeeds(77, 1)) {
    it(`keeps every acknowledged synced batch across SIGKILLs (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const dir = mkdtempSync(join(tmpdir(), 'lsmraft-crash-'));
      const everStarted = new Set<number>();
      const everAcked = new Set<number>();
      let next = 0;
      try {
        for (let round = 0; round < 4; round++) {
          const log = await runChild(dir, 'js', next, 200 + rng.int(1200));
          for (const id of log.started) everStarted.add(id);
          for (const id of log.acked) everAcked.add(id);
          const maxId = Math.max(next, ...log.started);
          expect(log.acked.size).toBeGreaterThan(0);
          await verify(dir, everStarted, everAcked, maxId);
          next = maxId + 1;
        }
      } catch (err) {
        console.error(`crash test failed: seed ${seed}, dir ${dir}; replay with LSMRAFT_SEED=${seed}`);
        throw err;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
