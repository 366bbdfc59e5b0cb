/**
 * The long run of the file fuzzer (test/lsm/file-fuzz.ts): `npm run fuzz:files`, or
 *
 *   node --import tsx test/lsm/file-fuzz-run.ts [--copies N] [--seed S] [--verbose]
 *
 * prints the tally by file kind and damage, then each failing case; exits 1 if any case failed.
 */
import { parseArgs } from 'node:util';
import { FAILURES, formatTally, runFileFuzz } from './file-fuzz.js';

const { values } = parseArgs({
  options: { copies: { type: 'string', default: '1000' }, seed: { type: 'string' }, verbose: { type: 'boolean', default: false } },
});
const copies = Number(values.copies);
const seed = values.seed === undefined ? (Date.now() % 0x7fffffff) + 1 : Number(values.seed);
if (!Number.isInteger(copies) || copies < 1 || !Number.isInteger(seed)) {
  process.stderr.write('usage: file-fuzz-run.ts [--copies N] [--seed S] [--verbose]\n');
  process.exit(2);
}
const result = await runFileFuzz({
  seed,
  copies,
  onCase: values.verbose ? (c) => process.stdout.write(`${c.copy} ${c.kind} ${c.file} ${c.damage}@${c.offset}: ${c.outcome} ${c.detail}\n`) : undefined,
});
process.stdout.write(`${formatTally(result)}\n`);
const failed = result.cases.filter((c) => FAILURES.has(c.outcome));
for (const c of failed) process.stdout.write(`FAIL copy ${c.copy}: ${c.damage} ${c.file} at ${c.offset}: ${c.outcome} ${c.detail}\n`);
if (failed.length > 0) process.stdout.write(`${failed.length} failing cases; replay with --seed ${seed} --copies ${copies}\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
