/**
 * Runs etcdctl 3.4 (ETCDCTL_API=3) against a cluster's endpoints: one command to completion with a
 * bounded wait, or a long-running one (watch, lease keep-alive) in the background whose stdout
 * lines are collected until it is stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cleanEnv } from '../helpers/cluster.js';
import { findEtcdctl, toolPath } from './tools.js';

export interface EtcdctlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** etcdctl's own bounds, so a dead endpoint costs seconds, not its 2-minute defaults. */
const timeoutArgs = ['--dial-timeout=3s', '--command-timeout=10s'];

/** `args` are etcdctl's; --endpoints is added unless `args` already name endpoints. */
function fullArgs(endpoints: readonly string[], args: readonly string[]): string[] {
  const named = args.some((a) => a.startsWith('--endpoints'));
  return [...(named ? [] : [`--endpoints=${endpoints.join(',')}`]), ...timeoutArgs, ...args];
}

function spawnEtcdctl(endpoints: readonly string[], args: readonly string[]): ChildProcess {
  return spawn(toolPath(findEtcdctl()), fullArgs(endpoints, args), { stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv({ ETCDCTL_API: '3' }) });
}

/** An etcdctl command that did not exit in time (a server that never answers). */
export class EtcdctlTimeoutError extends Error {}

/** One etcdctl command; `input` goes to stdin, which is then closed. Killed after timeoutMs. */
export function runEtcdctl(endpoints: readonly string[], args: readonly string[], input = '', timeoutMs = 20_000): Promise<EtcdctlResult> {
  return new Promise((resolve, reject) => {
    const child = spawnEtcdctl(endpoints, args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // etcdctl may exit before it has read all of stdin (a put it refuses): the pipe then breaks,
    // which only ends the input. Any other error of the pipe is the test's to see.
    child.stdin!.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    child.stdin!.end(input);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new EtcdctlTimeoutError(`etcdctl ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': after 'exit' the last of stdout may still be unread (seen under load).
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A background etcdctl (watch, lease keep-alive): its output so far, stopped by PID. */
export class BackgroundEtcdctl {
  stdout = '';
  stderr = '';
  exitCode: number | null | undefined = undefined;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(endpoints: readonly string[], readonly args: readonly string[]) {
    this.child = spawnEtcdctl(endpoints, args);
    this.child.stdin!.end();
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    // Keep the tail only: a long keep-alive logs a line per renewal on failure.
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => {
      this.exitCode = code;
      resolve();
    }));
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    const all = this.stdout.split('\n');
    all.pop();
    return all;
  }

  /** Waits until at least `count` stdout lines arrived, the process exited, or timeoutMs passed. */
  async waitForLines(count: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    // Each pass sleeps 20 ms; bounded by the deadline.
    while (this.lines().length < count && this.exitCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.lines();
  }

  /** SIGTERM (etcdctl exits at once on it), then waits for the exit. */
  async stop(): Promise<void> {
    if (this.exitCode === undefined) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await this.exited;
    clearTimeout(t);
  }
}
