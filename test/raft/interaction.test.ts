/**
 * Scripted scenario tests for the Raft core, in the manner of etcd-io/raft's interaction_test.go and
 * its datadriven testdata/*.txt: each file is a list of
 *
 *     command arg key=value key=(a,b)
 *     ----
 *     expected output
 *
 * blocks separated by blank lines ('#' lines are comments), read by test/helpers/scenario.ts. The
 * commands drive RawNodes over an in-memory network exactly as a real driver would (persist, send,
 * apply, advance) and print what happens. LSMRAFT_REWRITE=1 rewrites the expected output from the
 * actual one.
 *
 * Commands:
 *   add-nodes N voters=(..) learners=(..) index=I prevote=B checkquorum=B read-only=safe|lease
 *             max-inflight=N max-inflight-bytes=N max-size=N election=N heartbeat=N random=SEED
 *             (index=0: an empty node that waits for a snapshot)
 *   campaign ID | tick-election ID | tick-heartbeat ID | tick ID N
 *   process-ready ID.. | deliver-msgs ID.. [drop=true] [from=ID] | stabilize [ID..]
 *   propose ID DATA | propose-conf-change ID v4|l4|r4 | read-index ID CTX
 *   transfer-leadership from=A to=B | report-unreachable ID PEER | report-snapshot ID PEER ok|fail
 *   cut A B | isolate ID | heal | compact ID INDEX | raft-log ID | raft-state | status ID
 *   log-level none|info
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RaftConfig } from '../../src/raft/config.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import {
  decodeConfChange,
  type ConfChange,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
} from '../../src/raft/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';
import { runScenarioFile } from '../helpers/scenario.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

// ---------------------------------------------------------------------------------------------
// Formatting

function fmtData(e: Entry): string {
  if (e.type === 'confChange') return fmtConfChange(decodeConfChange(e.data));
  return JSON.stringify(fromUtf8(e.data));
}

function fmtConfChange(cc: ConfChange): string {
  const letter = cc.type === 'addVoter' ? 'v' : cc.type === 'addLearner' ? 'l' : 'r';
  return `${letter}${cc.nodeId}`;
}

function fmtEntry(e: Entry): string {
  return `${e.term}/${e.index} ${e.type === 'confChange' ? 'EntryConfChange' : 'EntryNormal'} ${fmtData(e)}`;
}

function fmtMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(fmtEntry).join(', ')}]`;
  if (m.snapshot !== undefined) {
    const meta = m.snapshot.meta;
    s += ` Snapshot: Index:${meta.index} Term:${meta.term} Voters:(${meta.conf.voters.join(',')}) Learners:(${meta.conf.learners.join(',')})`;
  }
  if (m.context !== undefined && m.context.length > 0) s += ` Context:${JSON.stringify(fromUtf8(m.context))}`;
  return s;
}

function fmtReady(rd: Ready): string[] {
  const out: string[] = [`Ready MustSync=${rd.mustSync}:`];
  if (rd.softState !== undefined) out.push(`Lead:${rd.softState.leader} Role:${rd.softState.role}`);
  if (rd.hardState !== undefined) out.push(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}`);
  if (rd.snapshot !== undefined) {
    const meta = rd.snapshot.meta;
    out.push(`Snapshot Index:${meta.index} Term:${meta.term} Voters:(${meta.conf.voters.join(',')}) Learners:(${meta.conf.learners.join(',')})`);
  }
  if (rd.entries.length > 0) out.push('Entries:', ...rd.entries.map(fmtEntry));
  if (rd.committedEntries.length > 0) out.push('CommittedEntries:', ...rd.committedEntries.map(fmtEntry));
  if (rd.messages.length > 0) out.push('Messages:', ...rd.messages.map(fmtMessage));
  if (rd.readStates.length > 0) {
    out.push('ReadStates:', ...rd.readStates.map((rs) => `index=${rs.index} ctx=${JSON.stringify(fromUtf8(rs.context))}`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The environment: nodes, their storages, and a network

interface TestNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  config: RaftConfig;
  /** Data of applied normal entries, in order (the "state machine"). */
  applied: string[];
}

class Env {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  msgs: Message[] = [];
  private readonly cuts = new Set<string>();
  out: string[] = [];
  logLevel: 'info' | 'none' = 'info';

  private say(line: string): void {
    this.out.push(line);
  }

  private indent(lines: string[]): void {
    for (const l of lines) this.out.push(`  ${l}`);
  }

  get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  addNodes(count: number, kv: Map<string, string>): void {
    const voters = parseIdList(kv.get('voters') ?? '');
    const learners = parseIdList(kv.get('learners') ?? '');
    const index = Number(kv.get('index') ?? '0');
    let nextId = 1;
    for (const id of this.nodes.keys()) nextId = Math.max(nextId, id + 1);
    for (let i = 0; i < count; i++) {
      const id = nextId + i;
      const storage = new MemoryStorage();
      if (index > 0) {
        // Bootstrap as etcd does: a snapshot at term 1 holding the initial configuration, and a hard
        // state at term 1, so the first election is for term 2 (no leader shares the bootstrap term).
        storage.applySnapshot({ meta: { index, term: 1, conf: { voters, learners } }, data: utf8('bootstrap') });
        storage.setHardState({ term: 1, vote: 0, commit: index });
      }
      const seed = kv.get('random');
      const config: RaftConfig = {
        id,
        electionTicks: Number(kv.get('election') ?? '10'),
        heartbeatTicks: Number(kv.get('heartbeat') ?? '1'),
        // Without a seed every node uses the shortest timeout (electionTicks), as etcd's tests do.
        random: seed === undefined ? () => 0 : mulberry32(Number(seed) * 1000 + id),
        preVote: (kv.get('prevote') ?? 'false') === 'true',
        checkQuorum: (kv.get('checkquorum') ?? 'false') === 'true',
        maxSizePerMsgBytes: Number(kv.get('max-size') ?? String(Number.MAX_SAFE_INTEGER)),
        maxInflightMsgs: Number(kv.get('max-inflight') ?? '256'),
        maxInflightBytes: Number(kv.get('max-inflight-bytes') ?? '0'),
        readOnlyOption: (kv.get('read-only') ?? 'safe') as 'safe' | 'lease',
        logger: (line) => {
          if (this.logLevel === 'info') this.say(`INFO ${line}`);
        },
      };
      const node = new RawNode(config, storage);
      this.nodes.set(id, { id, node, storage, config, applied: [] });
    }
  }

  processReady(id: NodeId): void {
    const n = this.get(id);
    if (!n.node.hasReady()) return;
    const rd = n.node.ready();
    this.say(`> ${id} handling Ready`);
    this.indent(fmtReady(rd));
    // Persist, then send, then apply, then advance: the driver contract.
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      // The state machine is replaced by the snapshot's.
      n.applied = [`<${fromUtf8(rd.snapshot.data)}>`];
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    // A cut link loses the message at once (it is shown in the Ready above, then never delivered).
    this.msgs.push(...rd.messages.filter((m) => !this.cuts.has(`${m.from}-${m.to}`)));
    for (const e of rd.committedEntries) {
      if (e.type === 'confChange') {
        const before = this.out.length;
        const cs = n.node.applyConfChange(decodeConfChange(e.data));
        for (let i = before; i < this.out.length; i++) this.out[i] = `  ${this.out[i]}`;
        n.storage.setConfState(cs);
        this.say(`  INFO ${id} applied conf change ${fmtData(e)}: voters=(${cs.voters.join(',')}) learners=(${cs.learners.join(',')})`);
      } else if (e.data.length > 0) {
        n.applied.push(fromUtf8(e.data));
      }
    }
    n.node.advance(rd);
  }

  /** Delivers the queued messages to `id` (only those from `from`, if given). */
  deliverMsgs(id: NodeId, drop: boolean, from?: NodeId): boolean {
    const pick = (m: Message): boolean => m.to === id && (from === undefined || m.from === from);
    const mine = this.msgs.filter(pick);
    if (mine.length === 0) return false;
    this.msgs = this.msgs.filter((m) => !pick(m));
    this.say(`> ${id} receiving messages`);
    for (const m of mine) {
      if (drop || this.cuts.has(`${m.from}-${m.to}`)) {
        this.say(`  ${fmtMessage(m)} DROPPED`);
        continue;
      }
      this.say(`  ${fmtMessage(m)}`);
      const before = this.out.length;
      this.get(id).node.step(m);
      // Indent log lines produced while stepping under the message.
      for (let i = before; i < this.out.length; i++) this.out[i] = `  ${this.out[i]}`;
    }
    return true;
  }

  stabilize(ids: NodeId[]): void {
    for (let round = 0; round < 1000; round++) {
      let done = true;
      for (const id of ids) {
        if (this.get(id).node.hasReady()) {
          this.processReady(id);
          done = false;
        }
      }
      for (const id of ids) {
        if (this.deliverMsgs(id, false)) done = false;
      }
      if (done) return;
    }
    throw new Error('stabilize did not converge within 1000 rounds');
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}-${b}`);
    this.cuts.add(`${b}-${a}`);
  }

  heal(): void {
    this.cuts.clear();
  }

  raftLog(id: NodeId): void {
    const s = this.get(id).storage;
    const snap = s.snapshot();
    if (snap.meta.index > 0) this.say(`snapshot Index:${snap.meta.index} Term:${snap.meta.term}`);
    const first = s.firstIndex();
    const last = s.lastIndex();
    if (last < first) {
      this.say(`log is empty: first index=${first}, last index=${last}`);
      return;
    }
    for (const e of s.entries(first, last + 1, Number.MAX_SAFE_INTEGER)) this.say(fmtEntry(e));
  }

  status(id: NodeId): void {
    const st = this.get(id).node.status();
    this.say(`${id}: term=${st.term} vote=${st.vote} commit=${st.commit} applied=${st.applied} lead=${st.lead} role=${st.role}${st.leadTransferee !== 0 ? ` transferee=${st.leadTransferee}` : ''} voters=(${st.conf.voters.join(',')}) learners=(${st.conf.learners.join(',')})`);
    if (st.progress !== undefined) {
      for (const [pid, pr] of st.progress) this.say(`  ${pid}: match=${pr.match} next=${pr.next} state=${pr.state}`);
    }
  }

  raftState(): void {
    for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) {
      const st = this.get(id).node.status();
      this.say(`${id}: ${st.role} term=${st.term} lead=${st.lead} commit=${st.commit} applied=${this.get(id).applied.join(',')}`);
    }
  }
}

function parseIdList(s: string): NodeId[] {
  const inner = s.replace(/^\(/, '').replace(/\)$/, '').trim();
  if (inner === '') return [];
  return inner.split(',').map((x) => Number(x.trim()));
}

interface Command {
  name: string;
  positional: string[];
  kv: Map<string, string>;
}

function parseCommand(line: string): Command {
  const tokens = line.trim().split(/\s+/);
  const positional: string[] = [];
  const kv = new Map<string, string>();
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1));
    else positional.push(t);
  }
  return { name: tokens[0]!, positional, kv };
}

/** Runs one command; returns its output (or 'ok'). Errors a user can cause are printed. */
function runCommand(env: Env, cmd: Command): string {
  env.out = [];
  const ids = (): NodeId[] => cmd.positional.map(Number);
  const id = (): NodeId => Number(cmd.positional[0]);
  try {
    switch (cmd.name) {
      case 'add-nodes':
        env.addNodes(Number(cmd.positional[0]), cmd.kv);
        break;
      case 'campaign':
        env.get(id()).node.campaign();
        break;
      case 'tick-election': {
        const n = env.get(id());
        for (let i = 0; i < n.config.electionTicks; i++) n.node.tick();
        break;
      }
      case 'tick-heartbeat': {
        const n = env.get(id());
        for (let i = 0; i < n.config.heartbeatTicks; i++) n.node.tick();
        break;
      }
      case 'tick': {
        const n = env.get(id());
        const count = Number(cmd.positional[1]);
        for (let i = 0; i < count; i++) n.node.tick();
        break;
      }
      case 'process-ready':
        for (const i of ids()) env.processReady(i);
        break;
      case 'deliver-msgs':
        for (const i of ids()) {
          const from = cmd.kv.get('from');
          env.deliverMsgs(i, cmd.kv.get('drop') === 'true', from === undefined ? undefined : Number(from));
        }
        break;
      case 'stabilize':
        env.stabilize(ids().length > 0 ? ids() : [...env.nodes.keys()].sort((a, b) => a - b));
        break;
      case 'propose':
        env.get(id()).node.propose(utf8(cmd.positional[1] ?? ''));
        break;
      case 'propose-conf-change': {
        const spec = cmd.positional[1]!;
        const type = spec[0] === 'v' ? 'addVoter' : spec[0] === 'l' ? 'addLearner' : 'removeVoter';
        env.get(id()).node.proposeConfChange({ type, nodeId: Number(spec.slice(1)) });
        break;
      }
      case 'read-index':
        env.get(id()).node.readIndex(utf8(cmd.positional[1] ?? ''));
        break;
      case 'transfer-leadership':
        env.get(Number(cmd.kv.get('from'))).node.transferLeadership(Number(cmd.kv.get('to')));
        break;
      case 'report-unreachable':
        env.get(id()).node.reportUnreachable(Number(cmd.positional[1]));
        break;
      case 'report-snapshot':
        env.get(id()).node.reportSnapshot(Number(cmd.positional[1]), cmd.positional[2] === 'ok');
        break;
      case 'cut':
        env.cut(Number(cmd.positional[0]), Number(cmd.positional[1]));
        break;
      case 'isolate':
        for (const other of env.nodes.keys()) if (other !== id()) env.cut(id(), other);
        break;
      case 'heal':
        env.heal();
        break;
      case 'compact': {
        const n = env.get(id());
        const index = Number(cmd.positional[1]);
        n.storage.createSnapshot(index, n.node.status().conf, utf8(`snap@${index}`));
        n.storage.compact(index);
        break;
      }
      case 'raft-log':
        env.raftLog(id());
        break;
      case 'raft-state':
        env.raftState();
        break;
      case 'status':
        env.status(id());
        break;
      case 'log-level':
        env.logLevel = cmd.positional[0] === 'none' ? 'none' : 'info';
        break;
      default:
        throw new Error(`unknown command ${cmd.name}`);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string') throw err;
    env.out.push(`error: ${code}`);
  }
  return env.out.length === 0 ? 'ok' : env.out.join('\n');
}

const files = readdirSync(TESTDATA).filter((f) => f.endsWith('.txt')).sort();

describe('raft interaction scenarios', () => {
  it('has scenario files', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });
  for (const f of files) {
    it(f, () => {
      const env = new Env();
      const blocks = runScenarioFile(join(TESTDATA, f), (b) => {
        if (b.input.length > 0) throw new Error(`${f}:${b.line}: ${b.name} takes no input lines`);
        return runCommand(env, parseCommand(b.command)).split('\n');
      });
      expect(blocks).toBeGreaterThan(0);
    });
  }
});
