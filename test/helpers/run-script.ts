/**
 * Runs a TypeScript entry point of the repository to completion as a child process, through tsx:
 * its exit code, stdout and stderr, with a bounded wait (the child is killed with SIGKILL after
 * `timeoutMs`). The child's environment is the test's without LSMRAFT_* option variables (a
 * developer's shell must not change a test), plus `env`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, REPO_ROOT } from './cluster.js';

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Written to stdin, which is then closed. */
  input?: string | Uint8Array;
  timeoutMs?: number;
  cwd?: string;
  /**
   * Its own process group, killed whole on the timeout: for a script that starts servers of its
   * own (a benchmark), so a timeout leaves none behind.
   */
  processGroup?: boolean;
}

/** `script` is relative to the repository root. */
export function runScript(script: string, args: readonly string[], o: RunOptions = {}): Promise<ScriptResult> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], { cwd: o.cwd ?? REPO_ROOT, env: cleanEnv(o.env), detached: o.processGroup === true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(o.input ?? '');
    const timer = setTimeout(() => {
      if (o.processGroup === true) process.kill(-child.pid!, 'SIGKILL');
      else child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    // After 'exit' the last of stdout/stderr may still be unread (seen under load): wait for both
    // streams to end, at most STREAMS_END_WAIT_MS (a grandchild may hold them open).
    const ended = Promise.all([child.stdout, child.stderr].map((s) => new Promise<void>((r) => {
      if (s.readableEnded) r();
      else s.once('close', () => r());
    })));
    child.on('exit', (code) => {
      clearTimeout(timer);
      const elapsedMs = Date.now() - t0;
      void Promise.race([ended, new Promise((r) => setTimeout(r, STREAMS_END_WAIT_MS))]).then(() => resolve({ code, stdout, stderr, elapsedMs }));
    });
  });
}

/** How long a finished script's output streams get to deliver their last bytes. */
const STREAMS_END_WAIT_MS = 2000;

/** A program of src/cli (kv-server.ts, kvctl.ts, lsmraft.ts). */
export function runCli(program: string, args: readonly string[], o: RunOptions = {}): Promise<ScriptResult> {
  return runScript(join('src', 'cli', program), args, o);
}
