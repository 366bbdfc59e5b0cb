/**
 * KvClient: talks to an lsmraft cluster from any process, after etcd's clientv3 (a list of
 * endpoints, requests retried on another endpoint when one fails or is not the leader, every retry
 * bounded by the request's deadline).
 *
 * Routing: requests go to the leader when it is known (from any member's leader hint, on an error
 * or a forwarded answer, or from status), else to the next address in the list. Any member can
 * serve any request (a follower forwards writes and reads through Raft), so the leader is only a
 * shortcut. A request is retried, at most attemptsMax times and within requestTimeoutMs, when the
 * node it reached has no leader, is unreachable or stopped, or did not answer in time.
 *
 * What must hold: a member that failed an attempt is not asked again next (the next attempt goes
 * to the member after it in the list), and within one call a hint naming a member that failed is
 * not followed: a hung leader (paused, partitioned) costs a call at most one attempt timeout, while
 * the other members elect a new one. Retries are spaced by a jittered, bounded backoff so that
 * many clients failing over at once do not retry in lockstep. The retry policy adds no attempts a
 * timeout did not already cause.
 *
 * Writes are exactly-once (docs/client-guarantees.md): the client registers a session through Raft
 * and tags each put and delete with (session, seq) (client-session.ts); every attempt of one write
 * carries the same tag, so a first attempt that is applied late (from a paused node's socket, or a
 * proposal already forwarded) and its retry are applied once: the state machine answers the second
 * from its session table (session-table.ts). A write's error says truthfully whether it may have
 * been applied: a code that means "not applied" (NOT_LEADER, STOPPED, SESSION_EXPIRED...) after an
 * earlier attempt of unknown outcome is reported as KV_ERR_TIMEOUT (outcome unknown).
 */
import { InvalidArgumentError, LsmraftError } from '../errors.js';
import { utf8 } from '../util/bytes.js';
import type { ClientResponse } from './codec.js';
import { RequestTimeoutError } from './errors.js';
import type { KeyInput, MemberInfo, NodeStatus } from './kv-node.js';
import { addMemberBudgetMs } from './membership.js';
import { errorFromWire } from './errors.js';
import { parseAddress } from './address.js';
import { ClientConnection, type ClientConnectionOptions, type ClientRequestInput } from './client-connection.js';
import { resolveClientTls, type ClientTlsOptions } from './tls-options.js';
import { ClientSession } from './client-session.js';
import type { SessionTag } from './kv-command.js';
import { USER_KEY_BYTES_MAX } from './state-keys.js';
import { saveBackup, type BackupSaveOptions, type BackupSaveResult } from './backup-save.js';

export interface KvClientOptions {
  /** Deadline of one call, retries included. Default 15_000 ms. */
  requestTimeoutMs?: number;
  /** Bound on one attempt (one node). Default 6_000 ms. */
  attemptTimeoutMs?: number;
  /** Bound on attempts of one call. Default 32. */
  attemptsMax?: number;
  /** Default 1_000 ms. */
  connectTimeoutMs?: number;
  /** Requests in flight per connection. Default 1024. */
  inFlightMax?: number;
  /**
   * Speak TLS to the nodes (tls-options.ts): check their certificates against caFile (and the host
   * dialed, or servername); present certFile/keyFile to nodes that run with clientCertAuth. The
   * files are read here, once. Default: plain text.
   */
  tls?: ClientTlsOptions;
}

/** Attempt bound of remove and transfer: longer than a node's own deadlines (5 s each) plus forwarding. */
const ADMIN_ATTEMPT_MS = 25_000;

const RETRIABLE = new Set(['KV_ERR_NOT_LEADER', 'KV_ERR_STOPPED', 'KV_ERR_REMOVED', 'KV_ERR_CONNECTION_CLOSED', 'KV_ERR_TIMEOUT', 'RAFT_ERR_PROPOSAL_DROPPED']);

/** Pause before the first retry of a call; doubled per retry up to RETRY_PAUSE_MS_MAX. */
const RETRY_PAUSE_MS_MIN = 10;
const RETRY_PAUSE_MS_MAX = 200;
/**
 * Codes that say the request was certainly not applied by the attempt that got them; every other
 * code (KV_ERR_TIMEOUT, KV_ERR_CONNECTION_CLOSED, KV_ERR_BAD_FRAME...) leaves its outcome unknown.
 */
const CERTAINLY_NOT_APPLIED = new Set([
  'KV_ERR_NOT_LEADER', 'KV_ERR_STOPPED', 'KV_ERR_MEMBERSHIP', 'KV_ERR_INVALID_ARGUMENT', 'KV_ERR_SESSION_EXPIRED',
  'KV_ERR_SESSION_SEQ_DISCARDED', 'RAFT_ERR_PROPOSAL_DROPPED',
]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The pause before retry number `retry` (0-based): exponential, capped, with "equal jitter" (half
 * fixed, half random: AWS Architecture Blog, "Exponential Backoff and Jitter").
 */
export function retryPauseMs(retry: number, random: () => number = Math.random): number {
  const capMs = Math.min(RETRY_PAUSE_MS_MAX, RETRY_PAUSE_MS_MIN * 2 ** Math.min(retry, 16));
  return capMs / 2 + random() * (capMs / 2);
}

function bytes(k: KeyInput, what: string): Uint8Array {
  const b = typeof k === 'string' ? utf8(k) : k;
  if (!(b instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a string or Uint8Array`, 'KV_ERR_INVALID_ARGUMENT');
  return b;
}

export class KvClient {
  private readonly addresses: string[];
  private readonly opts: Required<Omit<KvClientOptions, 'tls'>>;
  /** Options of every connection: its TLS, if any. */
  private readonly dial: ClientConnectionOptions;
  private readonly conns = new Map<string, Promise<ClientConnection>>();
  private next = 0;
  private leaderAddress: string | undefined;
  private closed = false;
  private readonly session: ClientSession;

  constructor(addresses: readonly string[], options: KvClientOptions = {}) {
    if (!Array.isArray(addresses) || addresses.length === 0) throw new InvalidArgumentError('KvClient needs at least one address', 'KV_ERR_INVALID_ARGUMENT');
    for (const a of addresses) parseAddress(a);
    this.addresses = [...addresses];
    this.opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      attemptTimeoutMs: options.attemptTimeoutMs ?? 6_000,
      attemptsMax: options.attemptsMax ?? 32,
      connectTimeoutMs: options.connectTimeoutMs ?? 1_000,
      inFlightMax: options.inFlightMax ?? 1024,
    };
    this.dial = options.tls === undefined ? {} : { tls: resolveClientTls(options.tls) };
    this.session = new ClientSession({
      register: async () => {
        const id = (await this.call({ op: 'registerSession' })).sessionId;
        if (id === undefined) throw new LsmraftError('KV_ERR_BAD_FRAME', 'registerSession answered without a session id');
        return id;
      },
      // Whether an earlier attempt of a keep-alive was applied does not matter: expired is expired.
      keepAlive: async (sessionId) => {
        await this.call({ op: 'keepAlive', sessionId });
      },
    });
  }

  /** A client whose first call already succeeded: it learned the leader from a status request. */
  static async connect(addresses: readonly string[], options: KvClientOptions = {}): Promise<KvClient> {
    const c = new KvClient(addresses, options);
    try {
      await c.status();
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  /** Writes key = value, exactly once (retries included). */
  async put(key: KeyInput, value: KeyInput): Promise<void> {
    const req = { op: 'put' as const, key: bytes(key, 'key'), value: bytes(value, 'value') };
    await this.session.run((tag) => this.write({ ...req, ...tag }));
  }

  /** Deletes key, exactly once (retries included). */
  async delete(key: KeyInput): Promise<void> {
    const req = { op: 'del' as const, key: bytes(key, 'key') };
    await this.session.run((tag) => this.write({ ...req, ...tag }));
  }

  /** The id of this client's session, once its first write registered one. */
  get sessionId(): number | undefined {
    return this.session.sessionId;
  }

  /** One write, every attempt with the same session tag (see change). */
  private async write(req: ClientRequestInput & Partial<SessionTag>): Promise<void> {
    await this.change(req, {});
  }

  /**
   * A request that changes the cluster (a write, a membership change, a leadership transfer). A
   * final error that says "not applied" is only true of its own attempt: after an earlier attempt
   * of unknown outcome it is reported as KV_ERR_TIMEOUT (outcome unknown). A removal whose first
   * attempt was applied but not answered (the node that served it was the one removed, and
   * stopped) is retried and then told "node N is not a member": the removal did happen. The
   * session layer never retries a write of unknown outcome under a new session.
   */
  private async change(req: ClientRequestInput, how: { retryTimeouts?: boolean; attemptTimeoutMs?: number; requestTimeoutMs?: number }): Promise<ClientResponse> {
    const failed: LsmraftError[] = [];
    try {
      return await this.call(req, { ...how, failedAttempts: failed });
    } catch (err) {
      const unknown = failed.find((e) => !CERTAINLY_NOT_APPLIED.has(e.code));
      if (err instanceof LsmraftError && CERTAINLY_NOT_APPLIED.has(err.code) && unknown !== undefined) {
        throw new LsmraftError('KV_ERR_TIMEOUT', `${req.op}: ${err.message}; an earlier attempt ended with ${unknown.code}, so it may have been applied (outcome unknown)`, { cause: err });
      }
      throw err;
    }
  }

  /** Linearizable read; undefined when the key is absent. */
  async get(key: KeyInput): Promise<Uint8Array | undefined> {
    return (await this.call({ op: 'get', key: bytes(key, 'key') })).value;
  }

  /** Linearizable range read, both bounds inclusive, absent = unbounded. */
  async scan(from?: KeyInput, to?: KeyInput, limit = 1000): Promise<Array<[Uint8Array, Uint8Array]>> {
    const req: ClientRequestInput = { op: 'scan', limit };
    if (from !== undefined) req.from = bytes(from, 'from');
    if (to !== undefined) req.to = bytes(to, 'to');
    return (await this.call(req)).entries ?? [];
  }

  /** Status of the node that answers (the leader when known). */
  async status(): Promise<NodeStatus> {
    const s = JSON.parse((await this.call({ op: 'status' })).json ?? 'null') as NodeStatus;
    if (s.leaderAddress !== undefined) this.leaderAddress = s.leaderAddress;
    return s;
  }

  async members(): Promise<MemberInfo[]> {
    return JSON.parse((await this.call({ op: 'members' })).json ?? '[]') as MemberInfo[];
  }

  /** Adds an empty node (see KvNode.addMember); may take a while: the new member catches up first. */
  async addMember(id: number, address: string): Promise<void> {
    const budgetMs = addMemberBudgetMs(5_000) + 5_000;
    await this.change({ op: 'addMember', nodeId: id, address }, { retryTimeouts: false, attemptTimeoutMs: budgetMs, requestTimeoutMs: budgetMs });
  }

  async removeMember(id: number): Promise<void> {
    await this.change({ op: 'removeMember', nodeId: id }, { retryTimeouts: false, attemptTimeoutMs: ADMIN_ATTEMPT_MS });
  }

  async transferLeadership(id: number): Promise<void> {
    await this.change({ op: 'transfer', nodeId: id }, { retryTimeouts: true, attemptTimeoutMs: ADMIN_ATTEMPT_MS });
  }

  /**
   * Saves a consistent backup of the cluster's state to `file` (etcdctl snapshot save; format:
   * docs/format/backup.md). It holds every write acknowledged before the call. The known leader
   * is asked first, then each address in turn (backup-save.ts).
   */
  async snapshotSave(file: string, options: BackupSaveOptions = {}): Promise<BackupSaveResult> {
    if (this.closed) throw new LsmraftError('KV_ERR_STOPPED', 'client is closed');
    const order = this.leaderAddress === undefined ? this.addresses : [this.leaderAddress, ...this.addresses.filter((a) => a !== this.leaderAddress)];
    return saveBackup(file, order, async (address, req, timeoutMs) => {
      let conn = await this.connection(address);
      if (conn.closed) {
        this.conns.delete(address);
        conn = await this.connection(address);
      }
      return conn.request(req, timeoutMs);
    }, options);
  }

  close(): void {
    this.closed = true;
    for (const p of this.conns.values()) void p.then((c) => c.close(), () => undefined);
    this.conns.clear();
  }

  private target(): string {
    return this.leaderAddress ?? this.addresses[this.next % this.addresses.length]!;
  }

  /** `address` failed an attempt: the next one goes to the member after it in the list. */
  private moveOn(address: string): void {
    if (this.leaderAddress === address) this.leaderAddress = undefined;
    const i = this.addresses.indexOf(address);
    // A hinted leader may be spelled differently from the list's entries: then just step on.
    this.next = i >= 0 ? i + 1 : this.next + 1;
  }

  /** Follows a leader hint unless it names the member that answered or one that failed this call. */
  private learnLeader(hint: string | undefined, from: string, failed: ReadonlySet<string>): boolean {
    if (hint === undefined || hint === from || failed.has(hint)) return false;
    this.leaderAddress = hint;
    return true;
  }

  private connection(address: string): Promise<ClientConnection> {
    let p = this.conns.get(address);
    if (p === undefined) {
      p = ClientConnection.connect(address, { ...this.dial, connectTimeoutMs: this.opts.connectTimeoutMs, inFlightMax: this.opts.inFlightMax });
      this.conns.set(address, p);
      p.catch(() => this.conns.delete(address));
    }
    return p;
  }

  private async call(
    req: ClientRequestInput,
    how: { retryTimeouts?: boolean; attemptTimeoutMs?: number; requestTimeoutMs?: number; failedAttempts?: LsmraftError[] } = {},
  ): Promise<ClientResponse> {
    const retryTimeouts = how.retryTimeouts ?? true;
    const attemptTimeoutMs = how.attemptTimeoutMs ?? this.opts.attemptTimeoutMs;
    const requestTimeoutMs = Math.max(how.requestTimeoutMs ?? 0, this.opts.requestTimeoutMs);
    if (this.closed) throw new LsmraftError('KV_ERR_STOPPED', 'client is closed');
    if (req.key !== undefined && (req.key.length === 0 || req.key.length > USER_KEY_BYTES_MAX)) {
      throw new InvalidArgumentError(`key must be 1..${USER_KEY_BYTES_MAX} bytes`, 'KV_ERR_INVALID_ARGUMENT');
    }
    const deadline = Date.now() + requestTimeoutMs;
    let last: LsmraftError | undefined;
    /** Members that failed an attempt of this call (their hints are not followed back to them). */
    const failed = new Set<string>();
    const pause = (retry: number): Promise<void> => sleep(Math.min(Math.max(0, deadline - Date.now()), retryPauseMs(retry)));
    for (let attempt = 0; attempt < this.opts.attemptsMax; attempt++) {
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) break;
      const address = this.target();
      let res: ClientResponse;
      try {
        const conn = await this.connection(address);
        if (conn.closed) {
          this.conns.delete(address);
          throw new LsmraftError('KV_ERR_STOPPED', `connection to ${address} is closed`);
        }
        res = await conn.request(req, Math.min(leftMs, attemptTimeoutMs));
      } catch (err) {
        if (!(err instanceof LsmraftError) || !RETRIABLE.has(err.code)) throw err;
        if (err.code === 'KV_ERR_TIMEOUT' && !retryTimeouts) throw err;
        // Unreachable, closed or silent: drop the connection and try another member.
        const p = this.conns.get(address);
        this.conns.delete(address);
        void p?.then((c) => c.close(), () => undefined);
        failed.add(address);
        this.moveOn(address);
        last = err;
        how.failedAttempts?.push(err);
        await pause(attempt);
        continue;
      }
      if (res.ok) {
        // A follower that served (forwarded) the request names the leader: go there next time.
        this.learnLeader(res.leaderHint?.address, address, failed);
        return res;
      }
      const err = errorFromWire(res.errorCode, res.message, res.leaderHint);
      if (!RETRIABLE.has(err.code) || (err.code === 'KV_ERR_TIMEOUT' && !retryTimeouts)) throw err;
      last = err;
      how.failedAttempts?.push(err);
      if (!this.learnLeader(res.leaderHint?.address, address, failed)) {
        failed.add(address);
        this.moveOn(address);
      }
      await pause(attempt);
    }
    throw last ?? new RequestTimeoutError(`${req.op} request`, requestTimeoutMs);
  }
}
