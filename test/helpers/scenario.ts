/**
 * The one runner of scripted scenario files (after etcd-io/raft's interaction_test.go with
 * cockroachdb/datadriven, and Pebble's testdata/ files). A file is a list of blocks
 *
 *     command arg key=value
 *     input lines (optional)
 *     ----
 *     expected output lines
 *
 * each ending at a blank line. Lines outside blocks (blank, or starting with '#') are comments and
 * are kept as they are. The expected output cannot hold a blank line.
 *
 * LSMRAFT_REWRITE=1 rewrites each file's expected parts from what the code does now (review the
 * diff before committing it); everything else in the file is written back unchanged.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expect } from 'vitest';

export interface ScenarioBlock {
  /** 1-based line number of the command in its file. */
  line: number;
  /** The command line as written. */
  command: string;
  /** The command's first word. */
  name: string;
  /** The words after the name. */
  args: string[];
  /** The lines between the command and '----'. */
  input: string[];
  expected: string[];
}

export type Chunk = { kind: 'text'; line: string } | { kind: 'block'; block: ScenarioBlock };

export function parseScenario(text: string): Chunk[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const chunks: Chunk[] = [];
  let i = 0;
  while (i < lines.length) {
    const command = lines[i]!;
    if (command.trim() === '' || command.startsWith('#')) {
      chunks.push({ kind: 'text', line: command });
      i++;
      continue;
    }
    const line = i + 1;
    i++;
    const input: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '----') input.push(lines[i++]!);
    if (i >= lines.length) throw new Error(`line ${line}: block "${command}" has no ---- line`);
    i++;
    const expected: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') expected.push(lines[i++]!);
    const [name, ...args] = command.trim().split(/\s+/);
    chunks.push({ kind: 'block', block: { line, command, name: name!, args, input, expected } });
  }
  return chunks;
}

export function formatScenario(chunks: readonly Chunk[]): string {
  const out: string[] = [];
  for (const c of chunks) {
    if (c.kind === 'text') out.push(c.line);
    else out.push(c.block.command, ...c.block.input, '----', ...c.block.expected);
  }
  return `${out.join('\n')}\n`;
}

/** `key=value` words as a map (a word without '=' maps to ''). */
export function keyValues(words: readonly string[]): Map<string, string> {
  return new Map(words.map((w) => {
    const eq = w.indexOf('=');
    return (eq < 0 ? [w, ''] : [w.slice(0, eq), w.slice(eq + 1)]) as [string, string];
  }));
}

/**
 * Runs every block of the file at `path` in order through `run` (which returns the output lines)
 * and expects each output to equal the block's expected part; with LSMRAFT_REWRITE=1 writes the
 * outputs into the file instead. Returns the number of blocks run.
 */
export function runScenarioFile(path: string, run: (block: ScenarioBlock) => string[]): number {
  const chunks = parseScenario(readFileSync(path, 'utf8'));
  const rewrite = process.env.LSMRAFT_REWRITE === '1';
  let blocks = 0;
  for (const c of chunks) {
    if (c.kind !== 'block') continue;
    blocks++;
    const actual = run(c.block);
    if (rewrite) c.block.expected = actual;
    else expect(actual.join('\n'), `${basename(path)}:${c.block.line}: ${c.block.command}`).toBe(c.block.expected.join('\n'));
  }
  if (rewrite) writeFileSync(path, formatScenario(chunks));
  return blocks;
}
