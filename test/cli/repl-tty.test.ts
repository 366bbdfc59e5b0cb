// The interactive prompt on a real terminal (a tmux pane): a log line that arrives while a command
// is half typed is printed above the prompt, and the prompt comes back with what was typed.
// Skipped where tmux is not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, REPO_ROOT, removeDir, tempDir } from '../helpers/cluster.js';

const HAVE_TMUX = spawnSync('tmux', ['-V']).status === 0;
/** Our own tmux server (its socket name), so nothing else's sessions are touched. */
const SOCKET = `lsmraft-test-${process.pid}`;
const dirs: string[] = [];

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', timeout: 5_000 });
}

function screen(): string[] {
  return tmux('capture-pane', '-p', '-t', 'repl').split('\n').filter((l) => l.trim().length > 0);
}

afterEach(() => {
  if (HAVE_TMUX) spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
  for (const d of dirs.splice(0)) removeDir(d);
});

describe.skipIf(!HAVE_TMUX)('kv-server on a terminal', () => {
  it('log lines never overwrite the prompt or the half-typed command', async () => {
    const dir = tempDir('repl-tty');
    dirs.push(dir);
    const cmd = `${process.execPath} --import tsx ${join(REPO_ROOT, 'src', 'cli', 'kv-server.ts')} 1 127.0.0.1:0 --data-dir ${join(dir, 'n1')} --engine js`;
    tmux('new-session', '-d', '-s', 'repl', '-x', '200', '-y', '40', '-c', REPO_ROOT, cmd);
    let address = '';
    await eventually('the prompt', () => {
      const lines = screen();
      const m = lines.map((l) => /listening on (\S+)/.exec(l)).find((x) => x !== null);
      if (m) address = m[1]!;
      return address !== '' && lines.at(-1)!.startsWith('kv>');
    }, 20_000);
    tmux('send-keys', '-t', 'repl', 'put half');
    await eventually('the typed text', () => screen().at(-1) === 'kv> put half');
    // Garbage on the peer port: the transport logs a warning while the prompt is on screen.
    const [host, port] = address.split(':') as [string, string];
    await new Promise<void>((resolve) => {
      const s = net.connect({ host, port: Number(port) }, () => s.write('GARBAGE GARBAGE GARBAGE GARBAGE'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await eventually('the warning', () => screen().some((l) => l.includes('closed on a bad frame')));
    const lines = screen();
    const warning = lines.findIndex((l) => l.includes('closed on a bad frame'));
    expect(lines[warning]).not.toContain('kv>');
    expect(lines.at(-1)).toBe('kv> put half');
    tmux('send-keys', '-t', 'repl', ' 1', 'Enter');
    await eventually('the answer', () => screen().includes('ok'));
  });
});
