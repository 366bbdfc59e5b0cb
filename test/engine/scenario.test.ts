/**
 * Scripted scenarios for the hot paths (after etcd's interaction tests and Pebble's datadriven
 * testdata): each file in test/engine/testdata/ is a list of cases
 *
 *   command arg=value ...
 *   input lines
 *   ----
 *   expected output lines
 *   (blank line)
 *
 * Commands: `encode-block restart=N` (entries in, block hex out), `decode-block` (block hex in,
 * entries or the error out), `bloom bits=N probe=k1,k2` (user keys in, filter hex and probe answers
 * out), `merge snapshots=a,b bottom=true|false` (runs separated by `run` lines in, merged entries
 * out). An entry line reads `userkey@seq put value` or `userkey@seq del`. Files are read by
 * test/helpers/scenario.ts; LSMRAFT_REWRITE=1 rewrites the expected parts from what the code does
 * now (review the diff).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { CorruptionError } from '../../src/errors.js';
import {
  KIND_DELETE, KIND_PUT, makeInternalKey, trailerKind, trailerSequence } from '../../src/format/internal-key.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { sortedRun } from '../helpers/runs.js';
import { keyValues, runScenarioFile } from '../helpers/scenario.js';

const DIR = fileURLToPath(new URL('./testdata/', import.meta.url));

interface Case {
  command: string;
  args: Map<string, string>;
  input: string[];
}

function parseEntry(line: string): [Uint8Array, Uint8Array] {
  const m = /^(\S*)@(\d+) (put|del)(?: (.*))?$/.exec(line);
  if (m === null) throw new Error(`bad entry line: ${line}`);
  const kind = m[3] === 'put' ? KIND_PUT : KIND_DELETE;
  return [makeInternalKey(utf8(m[1]!), Number(m[2]), kind), utf8(m[4] ?? '')];
}

function runOf(lines: string[]): EntryRun {
  return sortedRun(lines.map(parseEntry));
}

function formatRun(run: EntryRun): string[] {
  const out: string[] = [];
  for (let i = 0; i < run.count; i++) {
    const ks = run.offsets[2 * i]!;
    const ke = run.offsets[2 * i + 1]!;
    const value = fromUtf8(run.data.subarray(ke, run.offsets[2 * i + 2]!));
    const kind = trailerKind(run.data, ke) === KIND_DELETE ? 'del' : value === '' ? 'put' : `put ${value}`;
    out.push(`${fromUtf8(run.data.subarray(ks, ke - 8))}@${trailerSequence(run.data, ke)} ${kind}`);
  }
  return out;
}

function hexLines(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    out.push([...bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return out;
}

function run(c: Case): string[] {
  switch (c.command) {
    case 'encode-block': {
      const entries = runOf(c.input);
      return hexLines(jsHotPaths.encodeBlock(entries, 0, entries.count, Number(c.args.get('restart') ?? 16)));
    }
    case 'decode-block': {
      const bytes = Uint8Array.from(c.input.join(' ').split(/\s+/).filter((h) => h !== '').map((h) => parseInt(h, 16)));
      try {
        return formatRun(jsHotPaths.decodeBlock(bytes, 'block', 0));
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        return [`error ${err.code} at offset ${err.offset}: ${err.message.replace(/ \(file .*\)$/, '')}`];
      }
    }
    case 'bloom': {
      const filter = jsHotPaths.bloomBuild(runOf(c.input.map((k) => `${k}@1 put`)), Number(c.args.get('bits') ?? 10));
      const probes = (c.args.get('probe') ?? '').split(',').filter((p) => p !== '');
      return [...hexLines(filter), ...probes.map((p) => `${p}: ${jsHotPaths.bloomMayContain(filter, utf8(p)) ? 'maybe' : 'absent'}`)];
    }
    case 'merge': {
      const runs: string[][] = [];
      for (const line of c.input) {
        if (line === 'run') runs.push([]);
        else runs[runs.length - 1]!.push(line);
      }
      const snapshots = (c.args.get('snapshots') ?? '').split(',').filter((s) => s !== '').map(Number);
      const merged = jsHotPaths.mergeRuns(runs.map(runOf), { snapshots, dropTombstones: c.args.get('bottom') === 'true' });
      return formatRun(merged);
    }
    default:
      throw new Error(`unknown scenario command ${c.command}`);
  }
}

describe('hot-path scenarios', () => {
  for (const name of readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort()) {
    it(name, () => {
      const blocks = runScenarioFile(DIR + name, (b) => run({ command: b.name, args: keyValues(b.args), input: b.input.map((l) => l.trim()) }));
      expect(blocks).toBeGreaterThan(0);
    });
  }
});
