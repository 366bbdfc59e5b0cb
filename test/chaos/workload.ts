/**
 * Concurrent clients for a chaos run and the history they leave: each worker has its own KvClient
 * (or a new one per operation, see ClientProfile) and loops over put (a value no other put
 * writes), get and delete on a small key set. Every operation is recorded with its invoke and
 * complete times and its outcome:
 *
 * - ok: the cluster acknowledged it (a get's value is recorded);
 * - fail: certainly not applied. KvClient retries behind one call, and any attempt but the last
 *   may have reached a leader, so only errors raised before anything was sent count (an invalid
 *   argument, a closed client);
 * - unknown: anything else (timeouts, lost connections, no leader in time): it may or may not
 *   have taken effect, now or later.
 *
 * The linearizability checker gets a logical clock (a counter over invoke and complete events of
 * this single-threaded process), so real-time order is exact; wall times are kept for the report.
 */
import { LsmraftError } from '../../src/errors.js';
import { KvClient, type KvClientOptions } from '../../src/node/kv-client.js';
import type { KvInput, KvOperation } from '../../src/sim/kv-model.js';
import { Random } from '../../src/sim/random.js';
import { fromUtf8 } from '../../src/util/bytes.js';

export type Outcome = 'ok' | 'fail' | 'unknown';

export interface OpRecord {
  worker: number;
  kind: 'put' | 'get' | 'delete';
  key: string;
  value?: string;
  /** A completed get's answer (null: absent). */
  read?: string | null;
  outcome: Outcome | 'open';
  error?: string;
  callSeq: number;
  returnSeq?: number;
  /** Milliseconds since the run started. */
  startMs: number;
  endMs?: number;
}

/** Codes raised before a request leaves the client: the operation certainly did not happen. */
const CERTAIN_FAILURE_CODES = new Set(['KV_ERR_INVALID_ARGUMENT']);

export class OpLog {
  readonly records: OpRecord[] = [];
  private seq = 0;
  private readonly t0 = Date.now();

  begin(worker: number, kind: OpRecord['kind'], key: string, value?: string): OpRecord {
    const r: OpRecord = { worker, kind, key, outcome: 'open', callSeq: ++this.seq, startMs: Date.now() - this.t0 };
    if (value !== undefined) r.value = value;
    this.records.push(r);
    return r;
  }

  end(r: OpRecord, outcome: Outcome, read?: string | null, error?: string): void {
    r.outcome = outcome;
    r.returnSeq = ++this.seq;
    r.endMs = Date.now() - this.t0;
    if (read !== undefined) r.read = read;
    if (error !== undefined) r.error = error;
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const r of this.records) {
      const k = `${r.kind} ${r.outcome}`;
      c[k] = (c[k] ?? 0) + 1;
    }
    return c;
  }
}

/**
 * The checker's view: ok operations with their times; puts and deletes of unknown (or still
 * open) outcome with returnTime Infinity; gets of unknown outcome and certain failures left out
 * (they constrain nothing).
 */
export function toOperations(records: readonly OpRecord[]): KvOperation[] {
  const ops: KvOperation[] = [];
  for (const r of records) {
    const input: KvInput = r.kind === 'put' ? { kind: 'put', key: r.key, value: r.value! } : { kind: r.kind, key: r.key };
    if (r.outcome === 'ok') {
      ops.push({ clientId: r.worker, input, callTime: r.callSeq, returnTime: r.returnSeq!, output: r.kind === 'get' ? { value: r.read ?? null } : {} });
    } else if ((r.outcome === 'unknown' || r.outcome === 'open') && r.kind !== 'get') {
      ops.push({ clientId: r.worker, input, callTime: r.callSeq, returnTime: Infinity, output: undefined });
    }
  }
  return ops;
}

export interface ClientProfile extends KvClientOptions {
  /**
   * A new KvClient for every operation, its address list rotated by one each time: the first
   * attempt goes to each node in turn (followers included, which forward through Raft) instead of
   * the leader a long-lived client learned.
   */
  freshPerOp?: boolean;
}

export interface WorkloadOptions {
  /** The nodes clients may reach now (read again by every client made). */
  addresses: () => string[];
  workers: number;
  keys: number;
  /** Operations over all workers, at most. */
  opsMax: number;
  seed: number;
  /** Client profiles, worker w using clients[(w - 1) % length]: short deadlines give unknown outcomes. */
  clients?: ClientProfile[];
  /** Pause between one worker's operations. */
  thinkMs?: number;
}

export function keyName(i: number): string {
  return `k${i}`;
}

/** Runs one operation through `client` and records it. */
export async function runOp(log: OpLog, client: KvClient, worker: number, kind: OpRecord['kind'], key: string, value?: string): Promise<OpRecord> {
  const r = log.begin(worker, kind, key, value);
  try {
    if (kind === 'put') await client.put(key, value!);
    else if (kind === 'delete') await client.delete(key);
    else {
      const v = await client.get(key);
      log.end(r, 'ok', v === undefined ? null : fromUtf8(v));
      return r;
    }
    log.end(r, 'ok');
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    log.end(r, CERTAIN_FAILURE_CODES.has(err.code) ? 'fail' : 'unknown', undefined, `${err.code}: ${err.message}`);
  }
  return r;
}

export class Workload {
  readonly log = new OpLog();
  private stopped = false;
  private started = 0;
  private runs: Promise<void>[] = [];
  private readonly clients: KvClient[] = [];

  constructor(private readonly o: WorkloadOptions) {}

  start(): void {
    for (let w = 1; w <= this.o.workers; w++) {
      const profile = this.o.clients === undefined || this.o.clients.length === 0 ? {} : this.o.clients[(w - 1) % this.o.clients.length]!;
      const client = new KvClient(this.o.addresses(), profile);
      this.clients.push(client);
      this.runs.push(this.worker(w, client, profile, new Random(this.o.seed * 1000 + w)));
    }
  }

  /** Stops issuing operations and waits for those in flight (each is bounded by its client's deadline). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.runs);
    for (const c of this.clients) c.close();
  }

  private async worker(w: number, longLived: KvClient, profile: ClientProfile, rnd: Random): Promise<void> {
    let n = 0;
    let ops = 0;
    // Bounded by opsMax over all workers and by stop().
    while (!this.stopped && this.started < this.o.opsMax) {
      this.started++;
      const key = keyName(rnd.int(this.o.keys));
      const p = rnd.next();
      const a = this.o.addresses();
      const shift = ops++ % a.length;
      const client = profile.freshPerOp === true ? new KvClient([...a.slice(shift), ...a.slice(0, shift)], profile) : longLived;
      if (p < 0.45) await runOp(this.log, client, w, 'get', key);
      else if (p < 0.9) await runOp(this.log, client, w, 'put', key, `w${w}.${++n}`);
      else await runOp(this.log, client, w, 'delete', key);
      if (client !== longLived) client.close();
      await new Promise((r) => setTimeout(r, this.o.thinkMs ?? 5));
    }
  }
}
