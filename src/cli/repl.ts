/**
 * The kv-server command language (after the seed kv_server's prompt: add, ls, put, lsm s/g/r) as
 * data: tokenizing a line (POSIX shell quoting, by the shell-quote package), parsing it into a
 * command, running it against a node, formatting the one-line (or, for listings, few-line) answer,
 * the help text, and tab completion. kv-server.ts does the IO.
 *
 * What must hold: a line that does not parse prints `error KV_ERR_INVALID_ARGUMENT: ...` naming the
 * wrong argument and changes nothing; every error a user can meet prints `error <CODE>: <message>`;
 * every answer ends with a newline, so a script piping commands can read answers line by line.
 * Command names are case-insensitive; keys and values are not.
 */
import { parse as shellParse } from 'shell-quote';
import { LsmraftError } from '../errors.js';
import type { KvNode } from '../node/kv-node.js';
import { utf8 } from '../util/bytes.js';
import { checkAddress, parsePositiveInt, UsageError } from './args.js';
import { memberLine, statusLine } from './describe.js';
import { showBytes } from './output.js';

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
  | { kind: 'help'; topic: string | undefined }
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
  { name: 'ls', usage: 'ls', help: 'list the members: id, address, role, match index, last contact' },
  { name: 'put', usage: 'put <key> <value>', help: 'replicate key = value' },
  { name: 'get', usage: 'get <key>', help: 'linearizable read (ReadIndex)' },
  { name: 'del', usage: 'del <key>', help: 'replicate the deletion of key' },
  { name: 'lsm', usage: 'lsm s | lsm g <key> | lsm r <from> <to>', help: "this node's state tree: structure, local get, local range (inclusive)" },
  { name: 'status', usage: 'status', help: 'one line: role, term, leader, commit/applied index, log range, snapshot, members (voters)' },
  { name: 'transfer', usage: 'transfer <id>', help: 'hand leadership to member id' },
  { name: 'help', usage: 'help [<command>]', help: 'this list, or one command' },
  { name: 'exit', usage: 'exit', help: 'stop this node and quit (a leader hands leadership over first)' },
];

/** Longer help of `help <command>`: the usage line, the summary, and what is worth knowing. */
const DETAILS: Readonly<Record<string, string>> = {
  add: 'The target must be a fresh, empty node started with that id. It joins as a learner, catches up, then becomes a voter.',
  remove: 'To remove the leader, it first hands leadership to the most caught-up other voter. A removed node stops serving and its kv-server exits.',
  put: 'Quote keys and values with spaces: put "a b" "c d". Answers ok once the write is committed and applied here.',
  get: 'Prints the value, or (not found). Values that are not plain text are printed double-quoted with escapes.',
  lsm: 'No consensus: a follower may lag the leader by a heartbeat. lsm r prints at most 1000 pairs, then (<n> keys).',
  exit: 'On a leader, leadership is handed to the most caught-up voter first (bounded wait), so the cluster does not wait an election timeout.',
};

function specOf(name: string): CommandSpec {
  return COMMANDS.find((c) => c.name === name)!;
}

export function helpText(topic?: string): string {
  if (topic !== undefined) {
    const c = specOf(topic);
    return `usage: ${c.usage}\n${c.help}${DETAILS[topic] === undefined ? '' : `\n${DETAILS[topic]}`}`;
  }
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return COMMANDS.map((c) => `${c.usage.padEnd(width)}  ${c.help}`).join('\n');
}

/** Splits a line as a POSIX shell would (quotes, backslashes), without expansions or operators. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  // `$name` stays literal: the env callback hands each variable back as written.
  for (const t of shellParse(line, (name) => `$${name}`)) {
    if (typeof t === 'string') words.push(t);
    else if ('op' in t && t.op === 'glob') words.push(t.pattern);
    else if ('comment' in t) throw new UsageError(`unquoted "#" starts a comment; quote the argument that contains it`);
    else throw new UsageError(`unquoted "${t.op}" is not supported; quote the argument that contains it`);
  }
  return words;
}

const COMMAND_NAMES: ReadonlySet<string> = new Set(COMMANDS.map((c) => c.name));

/** Parses one line. Throws UsageError naming the wrong argument, with the command's usage line. */
export function parseCommand(line: string): ReplCommand {
  const words = tokenize(line);
  if (words.length === 0) return { kind: 'empty' };
  const [typed, ...args] = words as [string, ...string[]];
  const name = typed.toLowerCase();
  if (!COMMAND_NAMES.has(name)) throw new UsageError(`unknown command "${typed}"; type help (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  const fail = (what: string): never => {
    throw new UsageError(`${name}: ${what} (usage: ${specOf(name).usage})`);
  };
  /** Checks the count against the named arguments: names the first missing or unexpected one. */
  const arity = (...names: string[]): void => {
    if (args.length < names.length) fail(`missing ${names[args.length]}`);
    if (args.length > names.length) fail(`unexpected argument "${args[names.length]}"`);
  };
  const id = (s: string): number => {
    try {
      return parsePositiveInt(s, '<id>');
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      return fail(err.message);
    }
  };
  switch (name) {
    case 'add':
      arity('<id>', '<host:port>');
      try {
        checkAddress(args[1]!, '<host:port>');
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        fail(err.message);
      }
      return { kind: 'add', id: id(args[0]!), address: args[1]! };
    case 'remove':
      arity('<id>');
      return { kind: 'remove', id: id(args[0]!) };
    case 'transfer':
      arity('<id>');
      return { kind: 'transfer', id: id(args[0]!) };
    case 'ls':
    case 'status':
    case 'exit':
      arity();
      return { kind: name };
    case 'help': {
      if (args.length > 1) fail(`unexpected argument "${args[1]}"`);
      const topic = args[0]?.toLowerCase();
      if (topic !== undefined && !COMMAND_NAMES.has(topic)) fail(`no command "${args[0]}"`);
      return { kind: 'help', topic };
    }
    case 'put':
      arity('<key>', '<value>');
      return { kind: 'put', key: args[0]!, value: args[1]! };
    case 'get':
    case 'del':
      arity('<key>');
      return { kind: name, key: args[0]! };
    default: {
      // lsm: three forms, chosen by the sub-command.
      const sub = args[0]?.toLowerCase();
      if (sub === undefined) fail('missing s, g or r');
      const rest = args.slice(1);
      const forms: Record<string, string[]> = { s: [], g: ['<key>'], r: ['<from>', '<to>'] };
      const names = forms[sub!];
      if (names === undefined) fail(`unknown form "${args[0]}", expected s, g or r`);
      if (rest.length < names!.length) fail(`lsm ${sub} needs ${names![rest.length]}`);
      if (rest.length > names!.length) fail(`unexpected argument "${rest[names!.length]}"`);
      if (sub === 's') return { kind: 'lsm-s' };
      if (sub === 'g') return { kind: 'lsm-g', key: rest[0]! };
      return { kind: 'lsm-r', from: rest[0]!, to: rest[1]! };
    }
  }
}

function text(b: Uint8Array | undefined): string {
  return b === undefined ? '(not found)' : showBytes(b, undefined);
}

/**
 * Before a leader stops: hands leadership to the most caught-up voter (KvNode.transferLeadership,
 * bounded by the node's request timeout), so the cluster need not wait an election timeout. Returns
 * what happened, in one line, or undefined when this node does not lead or leads alone.
 */
export async function handOverLeadership(node: KvNode): Promise<string | undefined> {
  if (!node.isLeader) return undefined;
  const candidates = node.members().filter((m) => !m.isSelf && m.role !== 'learner');
  candidates.sort((a, b) => (b.match ?? -1) - (a.match ?? -1) || (a.lastContactMs ?? Infinity) - (b.lastContactMs ?? Infinity));
  const best = candidates[0];
  if (best === undefined) return undefined;
  try {
    await node.transferLeadership(best.id);
    return `handed leadership to node ${best.id}`;
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return `could not hand leadership to node ${best.id} (${errorLine(err)}); stopping anyway`;
  }
}

/** Runs a parsed command; returns the answer's text (without the final newline). Stopping is the caller's. */
export async function runCommand(node: KvNode, cmd: ReplCommand): Promise<string> {
  switch (cmd.kind) {
    case 'empty':
      return '';
    case 'help':
      return helpText(cmd.topic);
    case 'exit': {
      const handed = await handOverLeadership(node);
      return handed === undefined ? 'bye' : `${handed}\nbye`;
    }
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
      return node.members().map(memberLine).join('\n');
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
      const pairs = node.localScan(utf8(cmd.from), utf8(cmd.to));
      const lines = pairs.map(([k, v]) => `${showBytes(k, undefined)} = ${showBytes(v, undefined)}`);
      lines.push(`(${pairs.length} key${pairs.length === 1 ? '' : 's'})`);
      return lines.join('\n');
    }
    case 'status':
      return statusLine(node.status());
  }
}

/**
 * `error <CODE>: <message>`, the message without the request and write numbers that the node's
 * messages carry for its logs (request-path.ts, client-connection.ts): they mean nothing at the prompt.
 */
export function errorLine(err: LsmraftError): string {
  return `error ${err.code}: ${err.message.replace(/\b(request|write|read) \d+\b/g, '$1')}`;
}

/** Parses and runs one line; returns the answer (errors included) ending with a newline. */
export async function answerLine(node: KvNode, line: string): Promise<{ output: string; exit: boolean }> {
  let cmd: ReplCommand;
  try {
    cmd = parseCommand(line);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { output: `error KV_ERR_INVALID_ARGUMENT: ${err.message}\n`, exit: false };
  }
  if (cmd.kind === 'empty') return { output: '', exit: false };
  try {
    const out = await runCommand(node, cmd);
    return { output: `${out}\n`, exit: cmd.kind === 'exit' };
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    return { output: `${errorLine(err)}\n`, exit: false };
  }
}

/** readline completer: command names (any case typed), then `lsm` sub-commands and help topics. */
export function complete(line: string): [string[], string] {
  const words = line.trimStart().split(/\s+/);
  const names = COMMANDS.map((c) => c.name);
  if (words.length <= 1) {
    const prefix = words[0] ?? '';
    const hits = names.filter((n) => n.startsWith(prefix.toLowerCase()));
    return [hits.length > 0 ? hits : names, prefix];
  }
  if (words.length === 2) {
    const prefix = words[1]!;
    const first = words[0]!.toLowerCase();
    if (first === 'lsm') return [['s', 'g', 'r'].filter((s) => s.startsWith(prefix)), prefix];
    if (first === 'help') return [names.filter((n) => n.startsWith(prefix.toLowerCase())), prefix];
  }
  return [[], line];
}
