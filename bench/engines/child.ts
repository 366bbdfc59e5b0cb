/**
 * One engine, one repeat of the side-by-side benchmark, in its own process so that its peak RSS
 * (process.resourceUsage().maxRSS) and its bytes written (/proc/self/io) are its own. Started by
 * ../engines.bench.ts with `<engine id> <data dir>`; reports each phase as it starts and then the
 * measurements over the IPC channel, and removes its data directories.
 *
 * Each workload times a fixed count of operations with process.hrtime.bigint() (a throughput run,
 * not tinybench's repeated samples of a short task).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomValues, shuffledIndexes, writeDigitKey, xorshift32 } from '../common.js';
import { BATCH_OPS, GETS_IN_FLIGHT, KEY_BYTES, KEYS_COUNT, SYNC_KEYS_COUNT, TIMED_OPS_COUNT, VALUE_BYTES, VALUE_POOL_COUNT } from './config.js';
import { ENGINE_IDS } from './engine.js';
import type { StoreAdapter, StoreFactory, StorePurpose } from './engine.js';
import { measureLoopDelay } from './loop-delay.js';
import { loadFactory } from './registry.js';
import type { ChildMessage, ChildReport, ChildResult } from './workloads.js';

/** Seeds of the key orders and value offsets: fixed, so every engine gets the same work. */
const SEED = { put: 11, fill: 22, overwrite: 33, get: 44, getSync: 55, putSynced: 66, values: 77 } as const;

/**
 * This process's write counters so far (Linux /proc/self/io, all threads): `writeBytes`, bytes it
 * caused to be sent to storage (a page counts when it turns dirty, so a page rewritten before
 * writeback counts once); `writeCallBytes`, bytes passed to write system calls. Undefined elsewhere.
 */
function processIo(): { writeBytes: number; writeCallBytes: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/io', 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s*(\\d+)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const writeBytes = field('write_bytes');
  const writeCallBytes = field('wchar');
  return writeBytes === undefined || writeCallBytes === undefined ? undefined : { writeBytes, writeCallBytes };
}

/** Total size of the files under `dir`: what is left on disk, a lower bound of what was written. */
function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function send(msg: ChildMessage): void {
  process.send!(msg);
}

const values = randomValues(SEED.values, VALUE_POOL_COUNT, VALUE_BYTES);
const valueAt = (i: number): Uint8Array => values[i % VALUE_POOL_COUNT]!;

/** Opens a store in a fresh directory, runs `body`, closes it and removes the directory. */
async function withStore<T>(factory: StoreFactory, dir: string, purpose: StorePurpose, body: (s: StoreAdapter) => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const store = await factory.open(dir, purpose);
  try {
    return await body(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `order.length` awaited single puts, key order[i] with value valueOffset + i; returns ops/s. */
async function timedPuts(put: (k: Uint8Array, v: Uint8Array) => Promise<void>, alloc: (n: number) => Uint8Array, order: Uint32Array, valueOffset: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < order.length; i++) await put(writeDigitKey(order[i]!, alloc(KEY_BYTES)), valueAt(valueOffset + i));
  return order.length / seconds(t0);
}

/** Batches of BATCH_OPS puts over `order`; returns ops/s. */
async function timedBatches(store: StoreAdapter, order: Uint32Array, valueOffset: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < order.length; start += BATCH_OPS) {
    const end = Math.min(order.length, start + BATCH_OPS);
    const keys = new Array<Uint8Array>(end - start);
    const vals = new Array<Uint8Array>(end - start);
    for (let i = start; i < end; i++) {
      keys[i - start] = writeDigitKey(order[i]!, store.alloc(KEY_BYTES));
      vals[i - start] = valueAt(valueOffset + i);
    }
    await store.writeBatch(keys, vals);
    // Let the event loop turn between batches, as a server taking one request per I/O callback
    // would: a store whose write resolves without a macrotask would otherwise hold the loop for
    // the whole workload, and the loop-delay histogram would see one turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return order.length / seconds(t0);
}

async function run(factory: StoreFactory, dataDir: string): Promise<ChildReport> {
  const na = (op: 'putSynced' | 'getSync' | 'compact'): { na: string } => ({ na: factory.missing[op] ?? 'not supported' });
  const r: Partial<ChildResult> = {};

  send({ kind: 'phase', phase: 'put' });
  r.put = await withStore(factory, join(dataDir, 'put'), 'unsynced', (s) => timedPuts(s.put, s.alloc, shuffledIndexes(SEED.put, KEYS_COUNT).subarray(0, TIMED_OPS_COUNT), 0));

  const mainDir = join(dataDir, 'main');
  let writeAmpSource = '';
  let writeCallAmp: number | undefined;
  await withStore(factory, mainDir, 'unsynced', async (s) => {
    const userBytes = 2 * KEYS_COUNT * (KEY_BYTES + VALUE_BYTES);
    const io0 = processIo();
    const fillOrder = shuffledIndexes(SEED.fill, KEYS_COUNT);
    const overwriteOrder = shuffledIndexes(SEED.overwrite, KEYS_COUNT);
    // One stretch of loop-delay measurement over both phases: the background flushes and
    // compactions they start run across the boundary.
    const writes = await measureLoopDelay(async () => {
      send({ kind: 'phase', phase: 'fill' });
      r.fill = await timedBatches(s, fillOrder, 0);
      send({ kind: 'phase', phase: 'overwrite' });
      r.overwrite = await timedBatches(s, overwriteOrder, KEYS_COUNT);
    });
    r.loopWriteP99 = writes.delay.p99Ms;
    r.loopWriteMax = writes.delay.maxMs;

    send({ kind: 'phase', phase: 'compact' });
    const compact = s.compact;
    if (compact === undefined) r.compact = r.loopCompactP99 = r.loopCompactMax = na('compact');
    else {
      const timed = await measureLoopDelay(async () => {
        const t0 = process.hrtime.bigint();
        await compact();
        return seconds(t0);
      });
      r.compact = timed.value;
      r.loopCompactP99 = timed.delay.p99Ms;
      r.loopCompactMax = timed.delay.maxMs;
    }
    await s.settle();
    const io1 = processIo();
    if (io0 !== undefined && io1 !== undefined && io1.writeBytes > io0.writeBytes) {
      r.writeAmp = (io1.writeBytes - io0.writeBytes) / userBytes;
      writeCallAmp = (io1.writeCallBytes - io0.writeCallBytes) / userBytes;
      writeAmpSource = '/proc/self/io write_bytes of the child over fill + overwrite + compact, / user bytes (2 x keys x 116 B)';
    } else {
      r.writeAmp = dirBytes(mainDir) / userBytes;
      writeAmpSource = 'size of the files left after fill + overwrite + compact / user bytes (a lower bound: /proc/self/io unavailable)';
    }

    send({ kind: 'phase', phase: 'get' });
    const nextGet = xorshift32(SEED.get);
    let t0 = process.hrtime.bigint();
    for (let done = 0; done < TIMED_OPS_COUNT; done += GETS_IN_FLIGHT) {
      const keys = new Array<Uint8Array>(GETS_IN_FLIGHT);
      for (let i = 0; i < GETS_IN_FLIGHT; i++) keys[i] = writeDigitKey(nextGet() % KEYS_COUNT, s.alloc(KEY_BYTES));
      if ((await s.getInFlight(keys)) !== GETS_IN_FLIGHT) throw new Error(`${factory.title}: a get missed a loaded key`);
    }
    r.get = (Math.ceil(TIMED_OPS_COUNT / GETS_IN_FLIGHT) * GETS_IN_FLIGHT) / seconds(t0);

    send({ kind: 'phase', phase: 'getSync' });
    const getSync = s.getSync;
    if (getSync === undefined) r.getSync = na('getSync');
    else {
      const nextSync = xorshift32(SEED.getSync);
      t0 = process.hrtime.bigint();
      for (let i = 0; i < TIMED_OPS_COUNT; i++) {
        if (getSync(writeDigitKey(nextSync() % KEYS_COUNT, s.alloc(KEY_BYTES))) === undefined) throw new Error(`${factory.title}: getSync missed a loaded key`);
      }
      r.getSync = TIMED_OPS_COUNT / seconds(t0);
    }

    send({ kind: 'phase', phase: 'scan' });
    t0 = process.hrtime.bigint();
    const seen = await s.scan();
    r.scan = seen / seconds(t0);
    if (seen !== KEYS_COUNT) throw new Error(`${factory.title}: scan saw ${seen} entries, expected ${KEYS_COUNT}`);
  });

  send({ kind: 'phase', phase: 'putSynced' });
  r.putSynced = await withStore<number | { na: string }>(factory, join(dataDir, 'synced'), 'synced', (s) =>
    s.putSynced === undefined ? Promise.resolve(na('putSynced')) : timedPuts(s.putSynced, s.alloc, shuffledIndexes(SEED.putSynced, SYNC_KEYS_COUNT), 0),
  );

  r.rss = (process.resourceUsage().maxRSS * 1024) / (1024 * 1024);
  return { result: r as ChildResult, writeAmpSource, writeCallAmp };
}

const [engineId, dataDir] = process.argv.slice(2);
const factory = engineId === undefined ? undefined : await loadFactory(engineId);
if (factory === undefined || dataDir === undefined || process.send === undefined) {
  throw new Error(`usage: forked by bench/engines.bench.ts with <${ENGINE_IDS.join('|')}> <data dir>`);
}
const report = await run(factory, dataDir);
rmSync(dataDir, { recursive: true, force: true });
// Exit explicitly: worker pools and native thread pools may keep the event loop alive.
process.send({ kind: 'result', ...report } satisfies ChildMessage, () => process.exit(0));
