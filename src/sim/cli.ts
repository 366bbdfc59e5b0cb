/**
 * Command line of the Raft simulator (src/sim/cluster.ts):
 *
 *   npm run sim -- --seeds N --nodes 5          run seeds 1..N (or --from S .. S+N-1)
 *   npm run sim -- --seed S --nodes 3 --verbose replay one seed with a trace of events
 *   --steps N           run length (default 300)
 *   --properties-only   check only the five Raft safety properties, not the two protocol rules
 *
 * Exits 1 on the first failing seed, printing what failed and the command that replays it.
 */

import { parseArgs } from 'node:util';
import { MemoryStorage } from '../raft/storage.js';
import { RaftDriver } from '../node/driver.js';
import { RawNode } from '../raft/raw-node.js';
import { describeFailure, runSimulation, type SimResult } from './cluster.js';
import type { RaftCore } from './node.js';

const USAGE = 'usage: npm run sim -- [--seeds N [--from S] | --seed S] [--nodes 3|5] [--steps N] [--properties-only] [--verbose]';

function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative integer, got ${value}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      steps: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'properties-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const nodes = intOption(values.nodes, 'nodes', 3);
  if (nodes < 1 || nodes > 9) {
    process.stderr.write(`--nodes must be between 1 and 9\n${USAGE}\n`);
    process.exit(2);
  }
  const steps = intOption(values.steps, 'steps', 300);
  const core: RaftCore = { RawNode, MemoryStorage, RaftDriver };
  const single = values.seed !== undefined;
  const first = single ? intOption(values.seed, 'seed', 1) : intOption(values.from, 'from', 1);
  const count = single ? 1 : intOption(values.seeds, 'seeds', 100);
  const log = values.verbose ? (line: string) => process.stdout.write(`${line}\n`) : undefined;

  const t0 = performance.now();
  let last: SimResult | undefined;
  let unknown = 0;
  let opsCompleted = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = await runSimulation({ seed, nodes, core, steps, log, ruleChecks: !values['properties-only'] });
    last = r;
    opsCompleted += r.stats.opsCompleted;
    if (r.stats.linearizability === 'unknown') unknown++;
    if (!r.ok) {
      process.stderr.write(`FAIL ${describeFailure(r)}\n`);
      process.exit(1);
    }
    if (single) process.stdout.write(`${JSON.stringify(r.stats)}\n`);
  }
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(`ok: ${count} seeds from ${first}, ${nodes} nodes, ${steps} steps each, ${opsCompleted} client ops completed, ` +
    `${unknown} histories too large to check, ${secs.toFixed(1)} s (${(count / secs).toFixed(0)} seeds/s)\n`);
  if (last !== undefined && single) process.stdout.write(`replay: ${last.replay}\n`);
}

void main();
