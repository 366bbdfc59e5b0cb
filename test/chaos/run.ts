/**
 * Command-line runner of a chaos run (test/chaos/chaos-run.ts):
 *
 *   node --import tsx test/chaos/run.ts [--duration SECONDS] [--nodes 3|5] [--seed S] [--runs N]
 *
 * `npm run chaos -- --duration 600 --nodes 5 --seed 7`. Without --seed a random one is drawn and
 * printed; --runs N runs seeds S, S+1, ... Exit code 0 if every run passed, 1 otherwise.
 */
import { FAULT_KINDS, type FaultKind } from './nemesis.js';
import { runChaos } from './chaos-run.js';

const USAGE = 'usage: run.ts [--duration SECONDS] [--nodes N] [--seed S] [--runs N] [--faults kill,pause,...]';

function parse(argv: readonly string[]): { duration: number; nodes: number; seed: number; runs: number; kinds: FaultKind[] } {
  const o = { duration: 60, nodes: 3, seed: Math.floor(Math.random() * 2 ** 31), runs: 1, kinds: [...FAULT_KINDS] };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value\n${USAGE}`);
    if (name === '--faults') {
      const kinds = value.split(',') as FaultKind[];
      for (const k of kinds) if (!FAULT_KINDS.includes(k)) throw new Error(`unknown fault ${k}; one of ${FAULT_KINDS.join(',')}`);
      o.kinds = kinds;
      continue;
    }
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} needs a non-negative integer\n${USAGE}`);
    if (name === '--duration') o.duration = n;
    else if (name === '--nodes') o.nodes = n;
    else if (name === '--seed') o.seed = n;
    else if (name === '--runs') o.runs = n;
    else throw new Error(`unknown option ${name}\n${USAGE}`);
  }
  if (o.nodes < 3) throw new Error('--nodes must be at least 3');
  return o;
}

const args = parse(process.argv.slice(2));
let failed = 0;
for (let r = 0; r < args.runs; r++) {
  const report = await runChaos({ seed: args.seed + r, durationMs: args.duration * 1000, nodes: args.nodes, kinds: args.kinds });
  if (!report.ok) failed++;
}
if (args.runs > 1) process.stdout.write(`${args.runs - failed} of ${args.runs} runs passed\n`);
process.exit(failed === 0 ? 0 : 1);
