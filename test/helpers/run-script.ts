/** Runs a TypeScript entry point of the repository as a child process (through tsx), bounded in time. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cluster.js';

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `script` is relative to the repository root; the child is killed (SIGKILL) after `timeoutMs`. */
export function runScript(script: string, args: readonly string[], timeoutMs = 20_000): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
