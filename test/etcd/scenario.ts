/**
 * The etcdctl conformance scenario (test/etcd/testdata/etcdctl.txt): etcdctl 3.4 commands with the
 * output etcd 3.4 gives, in the scenario format of test/helpers/scenario.ts. Run against a fresh
 * 3-member cluster of either kind; outputs are normalized (test/etcd/normalize.ts) so that a
 * conforming server prints exactly the expected lines.
 *
 * Commands (the first word):
 *   etcdctl ARGS...        one etcdctl command to completion (shell-quoted words; the lines
 *                          between the command and ---- go to stdin, `<<bytes N>>` alone stands
 *                          for N bytes of 'x'); prints stdout, stderr as '! ' lines, `exit N`
 *                          when not 0
 *   bg NAME ARGS...        starts etcdctl in the background (watch), then waits bgSettleMs so it
 *                          has reached the server before the next command
 *   bg-wait NAME lines=N   waits (bounded) for N stdout lines of NAME, stops it, prints them
 *   sleep MS               (lease expiry)
 *   file-size PATH         `non-empty`, `empty` or `missing` (a snapshot written by `snapshot save`)
 * In arguments, ${R+n} is the scenario's start revision plus n, $LEASEn the n-th lease granted,
 * $TMP the run's temporary directory and $EP1 the first member's endpoint.
 *
 * A block preceded by the comment `# differs: <why>` is a difference between lsmraft and etcd
 * that docs/etcd-api.md documents: the conformance runner reports it as expected, the test does
 * not compare it.
 */
import { existsSync, statSync } from 'node:fs';
import { parse } from 'shell-quote';
import { removeDir, tempDir } from '../helpers/cluster.js';
import { formatScenario, parseScenario, type ScenarioBlock } from '../helpers/scenario.js';
import { BackgroundEtcdctl, EtcdctlTimeoutError, runEtcdctl } from './etcdctl.js';
import { normalizeStderr, normalizeStdout, type NormalizeContext } from './normalize.js';
import type { EtcdCluster } from './target.js';

/** How long a background watch gets to reach the server before the scenario goes on. */
const bgSettleMs = 2_500;
/** Bound on a bg-wait. */
const bgWaitMs = 10_000;
/** Bound on one sleep command. */
const sleepMsMax = 20_000;

/** A command that cannot run: it names a lease an earlier command failed to grant. */
class NotRunnableError extends Error {}

export interface BlockResult {
  block: ScenarioBlock;
  /** The `# differs:` reason before the block, if any. */
  differs: string | undefined;
  actual: string[];
}

/** The scenario's blocks with the `# differs:` note each carries. */
export function scenarioBlocks(text: string): Array<{ block: ScenarioBlock; differs: string | undefined }> {
  const out: Array<{ block: ScenarioBlock; differs: string | undefined }> = [];
  let differs: string | undefined;
  for (const c of parseScenario(text)) {
    if (c.kind === 'text') {
      const m = /^# differs: (.*)$/.exec(c.line);
      if (m !== null) differs = m[1];
      else if (c.line.trim() !== '') differs = undefined;
      continue;
    }
    out.push({ block: c.block, differs });
    differs = undefined;
  }
  return out;
}

export class ScenarioRun {
  private readonly background = new Map<string, BackgroundEtcdctl>();
  private readonly ctx: NormalizeContext;

  private constructor(private readonly cluster: EtcdCluster, baseRevision: number) {
    this.ctx = { baseRevision, leases: [], tmpDir: tempDir('etcdctl-scenario') };
  }

  /** Reads the cluster's current revision as the scenario's base. */
  static async start(cluster: EtcdCluster): Promise<ScenarioRun> {
    const r = await runEtcdctl(cluster.endpoints(), ['get', 'no-such-key', '-w', 'json']);
    if (r.code !== 0) throw new Error(`etcdctl get: exit ${r.code}\n${r.stderr}`);
    const revision = Number(/"revision":(\d+)/.exec(r.stdout)?.[1]);
    if (!Number.isInteger(revision)) throw new Error(`no revision in ${r.stdout}`);
    return new ScenarioRun(cluster, revision);
  }

  /** Stops what is still in the background and removes the temporary directory. */
  async close(): Promise<void> {
    await Promise.all([...this.background.values()].map((b) => b.stop()));
    this.background.clear();
    removeDir(this.ctx.tmpDir);
  }

  /** `text` with ${R+n}, $LEASEn, $TMP and $EP1 replaced. */
  private substitute(text: string): string {
    return text
      .replace(/\$\{R\+(\d+)\}/g, (_, n: string) => String(this.ctx.baseRevision + Number(n)))
      .replace(/\$LEASE(\d+)/g, (_, n: string) => {
        const id = this.ctx.leases[Number(n) - 1];
        if (id === undefined) throw new NotRunnableError(`no lease ${n} granted`);
        return id;
      })
      .replace(/\$TMP/g, this.ctx.tmpDir)
      .replace(/\$EP1/g, this.cluster.members[0]!.clientAddress);
  }

  private words(command: string): string[] {
    return parse(this.substitute(command)).map((w) => {
      if (typeof w !== 'string') throw new Error(`${command}: only plain words are allowed, not ${JSON.stringify(w)}`);
      return w;
    });
  }

  private stdin(input: readonly string[]): string {
    const lines = input.filter((l, i) => l !== '' || i < input.length - 1);
    const big = lines.length === 1 ? /^<<bytes (\d+)>>$/.exec(lines[0]!) : null;
    if (big !== null) return 'x'.repeat(Number(big[1]));
    return input.length === 0 ? '' : `${input.map((l) => this.substitute(l)).join('\n')}\n`;
  }

  /**
   * The block's output lines. A command that cannot run, or an etcdctl that hangs, is an output
   * line too: the run goes on, and a comparison shows the difference where it arose.
   */
  async run(block: ScenarioBlock): Promise<string[]> {
    try {
      return await this.runBlock(block);
    } catch (e) {
      if (e instanceof NotRunnableError) return [`not run: ${e.message}`];
      if (e instanceof EtcdctlTimeoutError) return ['timed out'];
      throw e;
    }
  }

  private async runBlock(block: ScenarioBlock): Promise<string[]> {
    const [, ...rest] = this.words(block.command);
    switch (block.name) {
      case 'etcdctl': {
        const r = await runEtcdctl(this.cluster.endpoints(), rest, this.stdin(block.input));
        for (const m of r.stdout.matchAll(/^lease ([0-9a-f]{16}) granted with TTL\(\d+s\)$/gm)) this.ctx.leases.push(m[1]!);
        const out = [...normalizeStdout(r.stdout, this.ctx), ...normalizeStderr(r.stderr, this.ctx)];
        if (r.code !== 0) out.push(`exit ${r.code}`);
        return out;
      }
      case 'bg': {
        const [name, ...args] = rest;
        if (name === undefined || this.background.has(name)) throw new Error(`line ${block.line}: bg needs a new name`);
        this.background.set(name, new BackgroundEtcdctl(this.cluster.endpoints(), args));
        await new Promise((r) => setTimeout(r, bgSettleMs));
        return [];
      }
      case 'bg-wait': {
        const [name, linesArg] = rest;
        const bg = this.background.get(name ?? '');
        const count = Number(/^lines=(\d+)$/.exec(linesArg ?? '')?.[1]);
        if (bg === undefined || !Number.isInteger(count)) throw new Error(`line ${block.line}: bg-wait <started name> lines=N`);
        const lines = await bg.waitForLines(count, bgWaitMs);
        const endedAlone = bg.exitCode !== undefined;
        await bg.stop();
        this.background.delete(name!);
        const out = normalizeStdout(lines.join('\n'), this.ctx);
        // A watch the server cancelled ends by itself: its message and exit code are the output.
        if (endedAlone) out.push(...normalizeStderr(bg.stderr, this.ctx), `exit ${bg.exitCode}`);
        else if (lines.length < count) out.push(`timed out with ${lines.length} of ${count} lines`, ...normalizeStderr(bg.stderr, this.ctx));
        return out;
      }
      case 'sleep': {
        const ms = Number(rest[0]);
        if (!(ms >= 0 && ms <= sleepMsMax)) throw new Error(`line ${block.line}: sleep 0..${sleepMsMax}`);
        await new Promise((r) => setTimeout(r, ms));
        return [];
      }
      case 'file-size': {
        if (!existsSync(rest[0]!)) return ['missing'];
        return [statSync(rest[0]!).size > 0 ? 'non-empty' : 'empty'];
      }
      default:
        throw new Error(`line ${block.line}: unknown command ${block.name}`);
    }
  }
}

/** Runs every block of `text` in order against `cluster`; the outputs, block by block. */
export async function runScenario(text: string, cluster: EtcdCluster): Promise<BlockResult[]> {
  const run = await ScenarioRun.start(cluster);
  try {
    const results: BlockResult[] = [];
    for (const { block, differs } of scenarioBlocks(text)) results.push({ block, differs, actual: await run.run(block) });
    return results;
  } finally {
    await run.close();
  }
}

/** `text` with each block's expected part replaced by the output `results` hold for it. */
export function rewriteScenario(text: string, results: readonly BlockResult[]): string {
  const chunks = parseScenario(text);
  let i = 0;
  for (const c of chunks) if (c.kind === 'block') c.block.expected = results[i++]!.actual;
  if (i !== results.length) throw new Error(`${results.length} results for ${i} blocks`);
  return formatScenario(chunks);
}
