/**
 * Test helpers for real kv-server processes: spawn one (from src/ through tsx, or the compiled
 * dist/), read its stdout line by line, send it commands on stdin, wait for an answer with a
 * deadline, stop it by PID. Every wait is bounded; every process a test starts is tracked so
 * `stopAll()` (in afterEach) can kill what a failing test left behind.
 */
import { createServer, type AddressInfo } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** The test process's environment minus LSMRAFT_* options (LSMRAFT_INVARIANTS stays on). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LSMRAFT_') || k === 'LSMRAFT_INVARIANTS') env[k] = v;
  return { ...env, ...extra };
}

export interface ServerOptions {
  id: number;
  /** Default 127.0.0.1:0 (a free port; read `address` once started). */
  address?: string;
  dataDir: string;
  engine?: 'wasm' | 'js';
  extraArgs?: string[];
  /** Run dist/cli/kv-server.js instead of src/ through tsx. */
  compiled?: boolean;
  /** Bound on the wait for the "listening on" line. Default 20 s. */
  startTimeoutMs?: number;
  /** The whole command line instead of `<id> <address> --data-dir ... --engine ... --verbose`. */
  args?: string[];
  /** Added to the environment (which loses any LSMRAFT_* option variable of the test's shell). */
  env?: Record<string, string>;
}

export class ServerProcess {
  readonly lines: string[] = [];
  stderr = '';
  address = '';
  private partial = '';
  private listeners: Array<() => void> = [];
  exitCode: number | null | undefined = undefined;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(readonly id: number, readonly dataDir: string, readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.notify();
    });
    child.stderr!.on('data', (chunk: string) => {
      // Keep the tail only: a verbose server may log a lot.
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
    this.exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.notify();
        resolveExit();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  private notify(): void {
    for (const l of this.listeners.splice(0)) l();
  }

  /** Waits for a stdout line at index >= from matching `re`; returns it and its index. */
  async waitForLine(re: RegExp, timeoutMs = 10_000, from = 0): Promise<{ line: string; index: number }> {
    const deadline = Date.now() + timeoutMs;
    // Each pass waits for new output or the deadline.
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i]!)) return { line: this.lines[i]!, index: i };
      const leftMs = deadline - Date.now();
      if (leftMs <= 0 || !this.running) {
        throw new Error(`node ${this.id}: no line matching ${re} within ${timeoutMs} ms (running: ${this.running})\nstdout:\n${this.lines.slice(-30).join('\n')}\nstderr:\n${this.stderr.slice(-3000)}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(leftMs, 200));
        this.listeners.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends one command line. */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The last lines of stderr (diagnostics), for assertion messages. */
  diagnostics(): string {
    return `node ${this.id} stderr:\n${this.stderr.slice(-4000)}`;
  }

  /** Sends a command and waits for an answer line matching `re` printed after it. */
  async ask(line: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
    const from = this.lines.length;
    this.send(line);
    return (await this.waitForLine(re, timeoutMs, from)).line;
  }

  /** Sends a command and returns the lines printed after it up to one matching `last`. */
  async askLines(line: string, last: RegExp, timeoutMs = 10_000): Promise<string[]> {
    const from = this.lines.length;
    this.send(line);
    const { index } = await this.waitForLine(last, timeoutMs, from);
    return this.lines.slice(from, index + 1);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) process.kill(this.pid, signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

const started = new Set<ServerProcess>();

/** Spawns a kv-server and waits until it prints its listening address. */
export async function startServer(o: ServerOptions): Promise<ServerProcess> {
  // --verbose: the node's diagnostics go to stderr, whose tail a failing wait prints.
  const args = o.args ?? [String(o.id), o.address ?? '127.0.0.1:0', '--data-dir', o.dataDir, '--engine', o.engine ?? 'js', '--verbose', ...(o.extraArgs ?? [])];
  const nodeArgs = o.compiled === true ? [join(REPO_ROOT, 'dist', 'cli', 'kv-server.js'), ...args] : ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'kv-server.ts'), ...args];
  const child = spawn(process.execPath, nodeArgs, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv({ LSMRAFT_INVARIANTS: '1', ...o.env }) });
  const p = new ServerProcess(o.id, o.dataDir, child);
  started.add(p);
  void p.exited.then(() => started.delete(p));
  const { line } = await p.waitForLine(/^node \d+ listening on /, o.startTimeoutMs ?? 20_000);
  p.address = /listening on (\S+)/.exec(line)![1]!;
  return p;
}

/** Kills every server still running (afterEach). */
export async function stopAll(): Promise<void> {
  const all = [...started];
  for (const p of all) p.kill('SIGKILL');
  await Promise.all(all.map((p) => p.exited));
}

/** A fresh temporary directory; remove it with removeDir. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `lsmraft-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Polls `check` every intervalMs until it returns true or timeoutMs passes (then throws `what`). */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Each pass sleeps intervalMs; bounded by the deadline.
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Starts kv-servers 1..count in `dir` (node-<id> each) and adds 2..count from node 1's prompt, the
 * `add <id> <host:port>` flow. Returns them in id order; node 1 leads when it returns.
 */
export async function startCluster(dir: string, count = 3, extraArgs: string[] = []): Promise<ServerProcess[]> {
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  const servers = await Promise.all(ids.map((id) => startServer({ id, dataDir: join(dir, `node-${id}`), extraArgs })));
  for (const s of servers.slice(1)) {
    const answer = await servers[0]!.ask(`add ${s.id} ${s.address}`, /^(added|error)/, 15_000);
    if (!answer.startsWith('added')) throw new Error(`add ${s.id}: ${answer}\n${servers[0]!.diagnostics()}`);
  }
  return servers;
}

/**
 * What a process-level test holds, released by its afterEach: `release()` closes the clients,
 * kills every server (SIGKILL ends a SIGSTOPped one too) and removes the directories.
 */
export class TestResources {
  private readonly dirs: string[] = [];
  private readonly closables: Array<{ close(): void }> = [];

  dir(prefix: string): string {
    const d = tempDir(prefix);
    this.dirs.push(d);
    return d;
  }

  track<T extends { close(): void }>(c: T): T {
    this.closables.push(c);
    return c;
  }

  async release(): Promise<void> {
    for (const c of this.closables.splice(0)) c.close();
    await stopAll();
    for (const d of this.dirs.splice(0)) removeDir(d);
  }
}

/** A port free now on 127.0.0.1 (another process may take it before it is used: callers retry). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
