#!/usr/bin/env node
/**
 * kv-server: runs one lsmraft node and reads commands from stdin, after the seed's
 * `./kv_server <id> <host:port>` (see DESIGN.md, "Where it comes from").
 *
 *   kv-server <id> <host:port> [--data-dir DIR] [--engine wasm|js] [...]   (docs/cli.md)
 *
 * Logs: pino records on stderr at --log-level (default info): JSON lines when stderr is not a
 * terminal, pretty lines when it is; on a terminal shared with the prompt they never overwrite it
 * (prompt-log.ts). With --metrics-address, the second stdout line is `metrics on <host:port>`.
 *
 * On a TTY: a prompt with help, history and tab completion (node:readline). Piped: one command per
 * line, answers printed as lines and no prompt, so scripts can drive it. At the end of piped input
 * the node keeps serving until SIGTERM or SIGINT (a script pipes its commands, the node stays a
 * member); `exit` stops it. On a TTY, end of input (Ctrl-D) stops it too.
 *
 * Exit codes: 0 after exit or a signal; 1 if the node fails to start or stops on an error;
 * 2 for a bad command line (the usage line is printed).
 */
import * as readline from 'node:readline';
import { LsmraftError } from '../errors.js';
import { KvNode } from '../node/kv-node.js';
import { createLogger, streamDestination } from '../node/node-logger.js';
import { KV_SERVER_USAGE, parseKvServerArgs, UsageError, type KvServerArgs } from './args.js';
import { PromptSafeLog } from './prompt-log.js';
import { answerLine, complete } from './repl.js';

/** Lines read ahead of the command being run, at most (then stdin is paused). */
const QUEUED_LINES_MAX = 256;

function parseOrExit(): KvServerArgs {
  try {
    return parseKvServerArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`kv-server: ${err.message}\n${KV_SERVER_USAGE}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const args = parseOrExit();
  const interactive = process.stdin.isTTY === true;
  // The prompt and the log share a screen when both streams are the terminal.
  const promptLog = interactive && process.stdout.isTTY === true && process.stderr.isTTY === true ? new PromptSafeLog(process.stderr, process.stdout) : undefined;
  const logger = createLogger(args.logLevel, promptLog ?? streamDestination(process.stderr));
  let node: KvNode;
  try {
    node = await KvNode.start({
      id: args.id,
      address: args.address,
      ...(args.listenAddress === undefined ? {} : { listenAddress: args.listenAddress }),
      dataDir: args.dataDir,
      engine: args.engine,
      ...(args.snapshotEntries === undefined ? {} : { snapshotEntries: args.snapshotEntries }),
      ...(args.compactKeepEntries === undefined ? {} : { compactKeepEntries: args.compactKeepEntries }),
      ...(args.metricsAddress === undefined ? {} : { metricsAddress: args.metricsAddress }),
      logger,
      onFatal: (err) => {
        process.stderr.write(`kv-server: node stopped on an error: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    });
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    process.stderr.write(`kv-server: cannot start node ${args.id}: error ${err.code}: ${err.message}\n`);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (code: number): void => {
    if (stopping) return;
    stopping = true;
    void node.stop().finally(() => process.exit(code));
  };
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));

  process.stdout.write(`node ${node.id} listening on ${node.address} (cluster ${node.status().clusterId})${interactive ? '; type help' : ''}\n`);
  if (node.metricsAddress !== undefined) process.stdout.write(`metrics on ${node.metricsAddress}\n`);
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    ...(interactive ? { completer: complete, historySize: 1000, prompt: 'kv> ' } : {}),
  });
  promptLog?.attach(rl);
  const prompt = (): void => {
    if (promptLog === undefined) rl.prompt();
    else promptLog.showPrompt();
  };
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
      if (interactive) prompt();
    });
  });
  rl.on('close', () => {
    // Piped input ended: keep serving (see the header). A closed terminal stops the node.
    if (interactive) void queue.then(() => shutdown(0));
  });
  if (interactive) prompt();
}

await main();
