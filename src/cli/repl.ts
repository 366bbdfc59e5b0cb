/**
 * The kv-server command language (after the seed kv_server's prompt: add, ls, put, lsm s/g/r) as
 * data: parsing a line into a command, running it against a node, formatting the one-line (or, for
 * listings, few-line) answer, the help text, and tab completion. kv-server.ts does the IO.
 *
 * What must hold: a line that does not parse prints a usage line and changes nothing; an error a
 * user can meet prints `error <CODE>: <message>`; every answer ends with a newline, so a script
 * piping commands can read answers line by line.
 */
import { LsmraftError } from '../errors.js';
import type { KvNode } from '../node/kv-node.js';
import { fromUtf8 } from '../util/bytes.js';
import { checkAddress, parsePositiveInt, UsageError } from './args.js';

export type ReplCommand =
  | { kind: 'add'; id: number; address: string }
  | { kind: 'remove'; id: number }
  | { kind: 'ls' }
  | { kind: 'put'; key: string; value: string }
  | { kind: 'get'; key: string }
  | { kind: 'del'; key: string }
  | { kind: 'lsm-s' }
  | { kind: 'lsm-g'; key: string }
  | { kind: 'lsm-r'; from: string; to: string }
  | { kind: 'status' }
  | { kind: 'transfer'; id: number }
  | { kind: 'help' }
  | { kind: 'exit' }
  | { kind: 'empty' };

interface CommandSpec {
  name: string;
  usage: string;
  help: string;
}

/** The commands, in help order. `lsm` has three forms. */
export const COMMANDS: readonly CommandSpec[] = [
  { name: 'add', usage: 'add <id> <host:port>', help: 'add an empty node to the cluster (runs on the leader)' },
  { name: 'remove', usage: 'remove <id>', help: 'remove a member from the cluster' },
  { name: 'ls', usage: 'ls', help: 'list the members: id, address, role, match index' },
  { name: 'put', usage: 'put <key> <value>', help: 'replicate key = value' },
  { name: 'get', usage: 'get <key>', help: 'linearizable read (ReadIndex)' },
  { name: 'del', usage: 'del <key>', help: 'replicate the deletion of key' },
  { name: 'lsm', usage: 'lsm s | lsm g <key> | lsm r <from> <to>', help: "this node's state tree: structure, local get, local range (inclusive)" },
  { name: 'status', usage: 'status', help: 'term, role, leader, commit/applied index, log range, last snapshot' },
  { name: 'transfer', usage: 'transfer <id>', help: 'hand leadership to member id' },
  { name: 'help', usage: 'help', help: 'this list' },
  { name: 'exit', usage: 'exit', help: 'stop this node and quit' },
];

function usageOf(name: string): string {
  return `usage: ${COMMANDS.find((c) => c.name === name)!.usage}`;
}

export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return COMMANDS.map((c) => `${c.usage.padEnd(width)}  ${c.help}`).join('\n');
}

/** Parses one line. Throws UsageError (with the usage line as message) for anything malformed. */
export function parseCommand(line: string): ReplCommand {
  const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
  if (words.length === 0) return { kind: 'empty' };
  const [name, ...args] = words as [string, ...string[]];
  const arity = (n: number): void => {
    if (args.length !== n) throw new UsageError(usageOf(name));
  };
  const id = (s: string): number => {
    try {
      return parsePositiveInt(s, 'id');
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      throw new UsageError(usageOf(name));
    }
  };
  switch (name) {
    case 'add':
      arity(2);
      try {
        checkAddress(args[1]!);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        throw new UsageError(usageOf('add'));
      }
      return { kind: 'add', id: id(args[0]!), address: args[1]! };
    case 'remove':
      arity(1);
      return { kind: 'remove', id: id(args[0]!) };
    case 'transfer':
      arity(1);
      return { kind: 'transfer', id: id(args[0]!) };
    case 'ls':
    case 'status':
    case 'help':
    case 'exit':
      arity(0);
      return { kind: name };
    case 'put':
      arity(2);
      return { kind: 'put', key: args[0]!, value: args[1]! };
    case 'get':
    case 'del':
      arity(1);
      return { kind: name, key: args[0]! };
    case 'lsm': {
      const sub = args[0];
      if (sub === 's' && args.length === 1) return { kind: 'lsm-s' };
      if (sub === 'g' && args.length === 2) return { kind: 'lsm-g', key: args[1]! };
      if (sub === 'r' && args.length === 3) return { kind: 'lsm-r', from: args[1]!, to: args[2]! };
      throw new UsageError(usageOf('lsm'));
    }
    default:
      throw new UsageError(`unknown command "${name}"; type help. ${COMMANDS.map((c) => c.name).join(', ')}`);
  }
}

function text(b: Uint8Array | undefined): string {
  return b === undefined ? '(not found)' : fromUtf8(b);
}

/** Runs a parsed command; returns the answer's text (without the final newline). `exit` is the caller's. */
export async function runCommand(node: KvNode, cmd: ReplCommand): Promise<string> {
  switch (cmd.kind) {
    case 'empty':
      return '';
    case 'help':
      return helpText();
    case 'exit':
      return 'bye';
    case 'add':
      await node.addMember(cmd.id, cmd.address);
      return `added node ${cmd.id} at ${cmd.address}`;
    case 'remove':
      await node.removeMember(cmd.id);
      return `removed node ${cmd.id}`;
    case 'transfer':
      await node.transferLeadership(cmd.id);
      return `leader is now node ${cmd.id}`;
    case 'ls':
      return node
        .members()
        .map((m) => `${m.id} ${m.address ?? '?'} ${m.role} match ${m.match ?? '-'}${m.isSelf ? ' (this node)' : ''}`)
        .join('\n');
    case 'put':
      await node.put(cmd.key, cmd.value);
      return 'ok';
    case 'get':
      return text(await node.get(cmd.key));
    case 'del':
      await node.delete(cmd.key);
      return 'ok';
    case 'lsm-s':
      return node.lsmDescribe();
    case 'lsm-g':
      return text(node.localGet(cmd.key));
    case 'lsm-r': {
      const pairs = node.localScan(cmd.from, cmd.to);
      const lines = pairs.map(([k, v]) => `${fromUtf8(k)} = ${fromUtf8(v)}`);
      lines.push(`(${pairs.length} key${pairs.length === 1 ? '' : 's'})`);
      return lines.join('\n');
    }
    case 'status': {
      const s = node.status();
      return (
        `node ${s.id} ${s.role} term ${s.term} leader ${s.leader === 0 ? 'none' : `${s.leader}${s.leaderAddress ? ` (${s.leaderAddress})` : ''}`}` +
        ` commit ${s.commit} applied ${s.applied} log ${s.logFirstIndex}..${s.logLastIndex}` +
        ` snapshot ${s.snapshotIndex}/${s.snapshotTerm} voters [${s.voters.join(',')}] cluster ${s.clusterId}`
      );
    }
  }
}

/** Parses and runs one line; returns the answer (errors included) ending with a newline. */
export async function answerLine(node: KvNode, line: string): Promise<{ output: string; exit: boolean }> {
  let cmd: ReplCommand;
  try {
    cmd = parseCommand(line);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { output: `${err.message}\n`, exit: false };
  }
  if (cmd.kind === 'empty') return { output: '', exit: false };
  try {
    const out = await runCommand(node, cmd);
    return { output: `${out}\n`, exit: cmd.kind === 'exit' };
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return { output: `error ${err.code}: ${err.message}\n`, exit: false };
  }
}

/** readline completer: command names, then `lsm` sub-commands. */
export function complete(line: string): [string[], string] {
  const words = line.trimStart().split(/\s+/);
  if (words.length <= 1) {
    const prefix = words[0] ?? '';
    const hits = COMMANDS.map((c) => c.name).filter((n) => n.startsWith(prefix));
    return [hits.length > 0 ? hits : COMMANDS.map((c) => c.name), prefix];
  }
  if (words[0] === 'lsm' && words.length === 2) {
    const prefix = words[1]!;
    const subs = ['s', 'g', 'r'].filter((s) => s.startsWith(prefix));
    return [subs, prefix];
  }
  return [[], line];
}
