// kv-server's prompt and lifecycle as a user meets them: on a terminal (a tmux pseudo-terminal),
// quoting, case-insensitive commands, persisted history and Ctrl-C that asks for `exit` instead of
// stopping a member; piped, SIGINT stops gracefully; `exit` on a leader hands leadership over
// first; a node removed from the cluster says so and exits 0.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-script.js';
import { eventually, REPO_ROOT, startCluster, startServer, TestResources } from '../helpers/cluster.js';

const res = new TestResources();
afterEach(() => res.release());

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** A tmux server of this test only (its own socket), running one kv-server in a pane. */
class TmuxSession {
  private readonly socket = `lsmraft-test-${process.pid}-${Date.now()}`;
  pid = 0;

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }

  start(command: string): void {
    this.tmux('new-session', '-d', '-s', 't', '-x', '160', '-y', '50', '-c', REPO_ROOT, `exec ${command}`);
    this.pid = Number(this.tmux('list-panes', '-t', 't', '-F', '#{pane_pid}').trim());
  }

  /** The visible screen; empty once the pane's process (and with it the tmux server) is gone. */
  screen(): string {
    try {
      return this.tmux('capture-pane', '-p', '-t', 't');
    } catch (err) {
      if (this.running()) throw err;
      return '';
    }
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 't', ...keys);
  }

  running(): boolean {
    try {
      process.kill(this.pid, 0);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  }

  async waitFor(text: string, timeoutMs = 15_000): Promise<void> {
    await eventually(`"${text}" on the terminal`, () => this.screen().includes(text), timeoutMs, 100);
  }

  kill(): void {
    if (this.running()) process.kill(this.pid, 'SIGKILL');
    try {
      this.tmux('kill-server');
    } catch (err) {
      // The server ended with its last pane: nothing to kill.
      if ((err as { status?: number }).status === undefined) throw err;
    }
  }
}

describe('kv-server session', () => {
  it.skipIf(!hasTmux())('on a terminal: quoting, any-case commands, history, and Ctrl-C asking for exit', async () => {
    const dir = res.dir('repl-tty');
    const history = join(dir, 'history');
    const t = new TmuxSession();
    res.track({ close: () => t.kill() });
    t.start(`${process.execPath} --import tsx src/cli/kv-server.ts 1 127.0.0.1:0 --data-dir ${join(dir, 'node-1')} --engine js --history-file ${history}`);
    await t.waitFor('; type help');
    t.keys('put "a b" "c d"', 'Enter');
    await t.waitFor('ok');
    t.keys('GET "a b"', 'Enter');
    await t.waitFor('\nc d\n');

    t.keys('C-c');
    await t.waitFor('(to stop node 1, type exit, or press Ctrl-C again within 2 s)');
    await new Promise((r) => setTimeout(r, 2300));
    expect(t.running()).toBe(true);
    // Two within 2 s: the node stops (a lone leader has no one to hand over to).
    t.keys('C-c');
    t.keys('C-c');
    await eventually('kv-server exits', () => !t.running(), 10_000);
    expect(existsSync(history)).toBe(true);
    expect(readFileSync(history, 'utf8')).toBe('put "a b" "c d"\nGET "a b"\n');
  });

  it('piped: SIGINT stops the node gracefully with exit code 0', async () => {
    const dir = res.dir('repl-pipe');
    const s = await startServer({ id: 1, dataDir: join(dir, 'node-1') });
    expect(await s.ask('put k v', /^(ok|error)/)).toBe('ok');
    s.kill('SIGINT');
    await s.exited;
    expect([s.exitCode, s.exitSignal]).toEqual([0, null]);
    expect(s.stderr).toContain('node 1 stopped');
  });

  it('exit on a leader hands leadership to a caught-up voter before stopping', async () => {
    const dir = res.dir('repl-exit');
    const servers = await startCluster(dir, 3);
    const n1 = servers[0]!;
    const lines = await n1.askLines('exit', /^bye$/, 15_000);
    expect(lines).toHaveLength(2);
    const successor = Number(/^handed leadership to node ([23])$/.exec(lines[0]!)?.[1]);
    expect(lines[1]).toBe('bye');
    await n1.exited;
    expect(n1.exitCode).toBe(0);
    // The successor leads at once: no election timeout was needed.
    expect(await servers[successor - 1]!.ask('status', /^node /)).toMatch(new RegExp(`^node ${successor} leader `));
  });

  it('SIGTERM on a leader hands leadership over before stopping, as etcd does', async () => {
    const dir = res.dir('sigterm-leader');
    const servers = await startCluster(dir, 3);
    const n1 = servers[0]!;
    const handed = n1.waitForLine(/^handed leadership to node [23]$/, 15_000);
    n1.kill('SIGTERM');
    const { line } = await handed;
    const successor = Number(/node ([23])$/.exec(line)![1]);
    await n1.exited;
    expect(n1.exitCode).toBe(0);
    expect(await servers[successor - 1]!.ask('status', /^node /)).toMatch(new RegExp(`^node ${successor} leader `));
  });

  it('a removed node says so and exits 0; a client moves on to the members', async () => {
    const dir = res.dir('repl-removed');
    const [n1, , n3] = await startCluster(dir, 3);
    expect(await n1!.ask('remove 3', /^(removed|error)/, 15_000)).toBe('removed node 3');
    await n3!.waitForLine(/^node 3 was removed from the cluster; stopping$/, 10_000);
    await n3!.exited;
    expect(n3!.exitCode).toBe(0);
    // A script that still lists the removed node's address reaches the cluster through the others.
    const r = await runCli('kvctl.ts', ['--servers', `${n3!.address},${n1!.address}`, 'members']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split(' ')[0])).toEqual(['1', '2']);
  });
});
