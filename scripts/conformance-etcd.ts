/**
 * The etcd API conformance run: the etcdctl scenario (test/etcd/testdata/etcdctl.txt) against a
 * fresh 3-member etcd 3.4 and a fresh 3-node lsmraft cluster in one run, then every block whose
 * normalized outputs differ, as a line diff (`-` etcd only, `+` lsmraft only). A block marked
 * `# differs: <why>` in the scenario is a difference docs/etcd-api.md documents: reported, not
 * counted. Exits 1 when an undocumented difference remains (or etcd itself no longer prints what
 * the scenario expects: the reference drifted).
 *
 *   npm run conformance:etcd
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll } from '../test/helpers/cluster.js';
import { runScenario, type BlockResult } from '../test/etcd/scenario.js';
import { skipReason, startTarget, type TargetKind } from '../test/etcd/target.js';

const SCENARIO = join(import.meta.dirname, '..', 'test', 'etcd', 'testdata', 'etcdctl.txt');

/** A line diff of a against b by longest common subsequence (outputs are tens of lines). */
function lineDiff(a: readonly string[], b: readonly string[]): string[] {
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`    ${a[i++]}`);
      j++;
    } else if (j >= b.length || (i < a.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`  - ${a[i++]}`);
    else out.push(`  + ${b[j++]}`);
  }
  return out;
}

async function runOn(kind: TargetKind, text: string): Promise<BlockResult[] | Error> {
  const t0 = Date.now();
  process.stdout.write(`${kind}: starting 3 members... `);
  try {
    const cluster = await startTarget(kind, 3);
    try {
      process.stdout.write('running the scenario... ');
      const results = await runScenario(text, cluster);
      console.log(`${results.length} commands in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return results;
    } finally {
      await cluster.stop();
    }
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    console.log('failed');
    return e;
  } finally {
    await stopAll();
  }
}

async function main(): Promise<number> {
  const reason = skipReason('etcd', true);
  if (reason !== undefined) {
    console.log(`conformance:etcd needs etcd 3.4 and etcdctl 3.4: ${reason}`);
    return 1;
  }
  const text = readFileSync(SCENARIO, 'utf8');
  const etcd = await runOn('etcd', text);
  const lsmraft = await runOn('lsmraft', text);
  if (etcd instanceof Error) {
    console.log(`etcd 3.4 could not run the scenario: ${etcd.message}`);
    return 1;
  }
  const drift = etcd.filter((r) => r.actual.join('\n') !== r.block.expected.join('\n'));
  for (const r of drift) console.log(`reference drift: etcd no longer prints the expected output at etcdctl.txt:${r.block.line}: ${r.block.command}\n${lineDiff(r.block.expected, r.actual).join('\n')}`);
  if (lsmraft instanceof Error) {
    console.log(`lsmraft could not run the scenario: ${lsmraft.message}`);
    return 1;
  }
  let documented = 0;
  let undocumented = 0;
  for (let i = 0; i < etcd.length; i++) {
    const e = etcd[i]!;
    const l = lsmraft[i]!;
    if (e.actual.join('\n') === l.actual.join('\n')) continue;
    if (e.differs !== undefined) documented++;
    else undocumented++;
    console.log(`\netcdctl.txt:${e.block.line}: ${e.block.command}${e.differs !== undefined ? `   [documented: ${e.differs}]` : ''}`);
    console.log(lineDiff(e.actual, l.actual).join('\n'));
  }
  const same = etcd.length - documented - undocumented;
  console.log(`\n${etcd.length} commands: ${same} alike, ${documented} documented differences (docs/etcd-api.md), ${undocumented} undocumented differences; ${drift.length} reference drifts`);
  return undocumented > 0 || drift.length > 0 ? 1 : 0;
}

process.exitCode = await main();
