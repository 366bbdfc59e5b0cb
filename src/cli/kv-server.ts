#!/usr/bin/env node
/**
 * kv-server: runs one lsmraft node and reads commands from stdin, after the seed's
 * `./kv_server <id> <host:port>` (see docs/cli.md).
 *
 *   kv-server <id> <host:port> [--data-dir DIR] [--engine wasm|js] [...]   (kv-server --help)
 *
 * Logs: pino records on stderr at --log-level (default info; --verbose: debug): JSON lines when
 * stderr is not a terminal, pretty lines when it is; on a terminal shared with the prompt they never
 * overwrite it (prompt-log.ts). With --metrics-address, the next stdout line is
 * `metrics on <host:port>`; with --etcd-address (etcd's v3 gRPC API, src/etcd/server.ts), the next
 * is `etcd api on <host:port>`.
 *
 * On a TTY: a prompt with help, persisted history and tab completion (node:readline); Ctrl-C asks
 * to type `exit` (a second Ctrl-C within CTRL_C_AGAIN_MS stops), so a stray key does not take a
 * member away. Piped: one command per line, answers printed as lines and no prompt, so scripts can
 * drive it. At the end of piped input the node keeps serving until SIGTERM or SIGINT (a script
 * pipes its commands, the node stays a member); `exit` stops it. On a TTY, Ctrl-D stops it too.
 * `exit`, Ctrl-D and the second Ctrl-C hand leadership over first when this node leads.
 *
 * Exit codes: 0 after exit, a signal or this node's removal from the cluster; 1 if the node fails
 * to start or stops on an error; 2 for a bad command line (the wrong argument is named).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as readline from 'node:readline';
import { LsmraftError } from '../errors.js';
import '../etcd/server.js';
import { KvNode } from '../node/kv-node.js';
import { restoreBackup } from '../node/restore.js';
import { createLogger, streamDestination } from '../node/node-logger.js';
import { kvServerHelp, packageVersion, parseKvServerArgs, UsageError, type KvServerArgs } from './args.js';
import { PromptSafeLog } from './prompt-log.js';
import { answerLine, complete, handOverLeadership } from './repl.js';

/** Lines read ahead of the command being run, at most (then stdin is paused). */
const QUEUED_LINES_MAX = 256;
/** Lines of prompt history kept in the history file. */
const HISTORY_LINES_MAX = 1000;
/** A second Ctrl-C within this window stops the node. */
const CTRL_C_AGAIN_MS = 2000;

function parseOrExit(): KvServerArgs {
  try {
    const parsed = parseKvServerArgs(process.argv.slice(2), process.env);
    if (parsed.kind === 'help') {
      process.stdout.write(`${kvServerHelp()}\n`);
      process.exit(0);
    }
    if (parsed.kind === 'version') {
      process.stdout.write(`kv-server ${packageVersion()}\n`);
      process.exit(0);
    }
    return parsed.args;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`kv-server: ${err.message}\nTry 'kv-server --help'.\n`);
    process.exit(2);
  }
}

/** The history file's lines, newest first (as readline wants them); none if it does not exist. */
function loadHistory(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text.split('\n').filter((l) => l.length > 0).slice(-HISTORY_LINES_MAX).reverse();
}

function saveHistory(file: string, newestFirst: readonly string[]): void {
  try {
    writeFileSync(file, `${newestFirst.slice(0, HISTORY_LINES_MAX).reverse().join('\n')}\n`, { mode: 0o600 });
  } catch (err) {
    // History is a convenience: a read-only home must not stop the node (a system error only).
    if (typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
    process.stderr.write(`kv-server: cannot write history ${file}: ${(err as Error).message}\n`);
  }
}

async function main(): Promise<void> {
  const args = parseOrExit();
  const interactive = process.stdin.isTTY === true;
  // The prompt and the log share a screen when both streams are the terminal.
  const promptLog = interactive && process.stdout.isTTY === true && process.stderr.isTTY === true ? new PromptSafeLog(process.stderr, process.stdout) : undefined;
  const logger = createLogger(args.logLevel ?? (args.verbose ? 'debug' : 'info'), promptLog ?? streamDestination(process.stderr));
  let removed = false;
  let shutdown: (code: number) => void = () => {};
  let node: KvNode;
  try {
    if (args.restore !== undefined) {
      const r = await restoreBackup(args.restore, { dataDir: args.dataDir, id: args.id, address: args.address });
      process.stderr.write(`kv-server: restored ${args.restore} into ${args.dataDir}: index ${r.index}, ${r.bytes} bytes, new cluster ${r.clusterId}\n`);
    }
    node = await KvNode.start({
      id: args.id,
      address: args.address,
      ...(args.listenAddress === undefined ? {} : { listenAddress: args.listenAddress }),
      dataDir: args.dataDir,
      engine: args.engine,
      ...(args.snapshotEntries === undefined ? {} : { snapshotEntries: args.snapshotEntries }),
      ...(args.compactKeepEntries === undefined ? {} : { compactKeepEntries: args.compactKeepEntries }),
      ...(args.metricsAddress === undefined ? {} : { metricsAddress: args.metricsAddress }),
      ...(args.etcdAddress === undefined ? {} : { etcdAddress: args.etcdAddress }),
      ...(args.initialClusterState === undefined ? {} : { initialClusterState: args.initialClusterState }),
      ...(args.autoCompactionMode === undefined ? {} : { autoCompactionMode: args.autoCompactionMode }),
      ...(args.autoCompactionRetention === undefined ? {} : { autoCompactionRetention: args.autoCompactionRetention }),
      ...(args.quotaBackendBytes === undefined ? {} : { quotaBackendBytes: args.quotaBackendBytes }),
      ...args.tls,
      logger,
      onFatal: (err) => {
        process.stderr.write(`kv-server: node stopped on an error: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
      onRemoved: () => {
        removed = true;
        process.stdout.write(`node ${args.id} was removed from the cluster; stopping\n`);
        shutdown(0);
      },
    });
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    process.stderr.write(`kv-server: cannot start node ${args.id}: error ${err.code}: ${err.message}\n`);
    process.exit(1);
  }

  let stopping = false;
  shutdown = (code: number): void => {
    if (stopping) return;
    stopping = true;
    void node.stop().finally(() => process.exit(code));
  };
  /** A member leaving on purpose: hand leadership over first (bounded), then stop. */
  let leaving = false;
  const leave = async (): Promise<void> => {
    if (stopping) return;
    // A second request to stop while the handover runs (another signal) stops at once.
    if (leaving) return shutdown(0);
    leaving = true;
    const handed = removed ? undefined : await handOverLeadership(node);
    if (handed !== undefined) process.stdout.write(`${handed}\n`);
    shutdown(0);
  };
  // A graceful stop, as etcd's: a leader hands leadership over first (bounded), then stops.
  process.on('SIGTERM', () => void leave());
  process.on('SIGINT', () => void leave());
  if (removed) return;

  const historyFile = args.historyFile ?? join(homedir(), '.lsmraft_history');
  process.stdout.write(`node ${node.id} listening on ${node.address} (cluster ${node.status().clusterId})${interactive ? '; type help' : ''}\n`);
  if (node.metricsAddress !== undefined) process.stdout.write(`metrics on ${node.metricsAddress}\n`);
  if (node.etcdAddress !== undefined) process.stdout.write(`etcd api on ${node.etcdAddress}\n`);
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    ...(interactive ? { completer: complete, historySize: HISTORY_LINES_MAX, history: loadHistory(historyFile), removeHistoryDuplicates: true, prompt: 'kv> ' } : {}),
  });
  promptLog?.attach(rl);
  const prompt = (): void => {
    if (promptLog === undefined) rl.prompt();
    else promptLog.showPrompt();
  };
  if (interactive) {
    rl.on('history', (h: string[]) => saveHistory(historyFile, h));
    // At the prompt Ctrl-C does not stop a member by accident: it asks for `exit`, or a second Ctrl-C.
    let lastCtrlC = 0;
    rl.on('SIGINT', () => {
      const now = Date.now();
      if (now - lastCtrlC <= CTRL_C_AGAIN_MS) {
        process.stdout.write('\n');
        void leave();
        return;
      }
      lastCtrlC = now;
      rl.write(null, { ctrl: true, name: 'u' });
      process.stdout.write(`\n(to stop node ${node.id}, type exit, or press Ctrl-C again within ${CTRL_C_AGAIN_MS / 1000} s)\n`);
      prompt();
    });
  }
  // Commands run one at a time, in the order typed. A script that pipes faster than commands
  // complete is held back: input pauses while QUEUED_LINES_MAX lines wait.
  let queue: Promise<void> = Promise.resolve();
  let queued = 0;
  rl.on('line', (line) => {
    promptLog?.promptTaken();
    queued++;
    if (queued >= QUEUED_LINES_MAX) rl.pause();
    queue = queue.then(async () => {
      queued--;
      if (queued < QUEUED_LINES_MAX / 2) rl.resume();
      if (stopping) return;
      const { output, exit } = await answerLine(node, line);
      process.stdout.write(output);
      if (exit) {
        rl.close();
        shutdown(0);
        return;
      }
      if (interactive && !stopping) prompt();
    });
  });
  rl.on('close', () => {
    // Piped input ended: keep serving (see the header). A closed terminal stops the node.
    if (interactive) void queue.then(leave);
  });
  if (interactive) prompt();
}

await main();
