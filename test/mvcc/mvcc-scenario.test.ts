/**
 * The MVCC rules as scenario files (test/mvcc/testdata/*.txt, run by test/helpers/scenario.ts's
 * format; LSMRAFT_REWRITE=1 rewrites the expected parts). Commands:
 *
 *   put k [v] [lease=N] [prev] [ignore-value] [ignore-lease]
 *   del k [end=E] [prev]                  (end=\0 for "every key from k")
 *   range k [end=E] [rev=N] [limit=N] [sort=ORDER:TARGET] [keys-only] [count-only]
 *         [min-mod=N] [max-mod=N] [min-create=N] [max-create=N]
 *   txn                                    input lines: `cmp TARGET key OP operand [end=E]`,
 *                                          then `then|else put k v`, `then|else del k [end=E]`,
 *                                          `then|else range k [end=E]`
 *   compact N
 *   grant ID TTL / revoke ID / checkpoint ID REMAINING
 *   events FROM TO k [end=E]              what readEvents returns (a watch's catch-up)
 *   leases
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MvccError } from '../../src/mvcc/errors.js';
import type { Compare, CompareResult, CompareTarget, MvccWrite, RangeRequest, RequestOp, SortOrder, SortTarget } from '../../src/mvcc/requests.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { formatScenario, keyValues, parseScenario, type ScenarioBlock } from '../helpers/scenario.js';
import { openMvcc, showKv, showRange, showResponseOp, type MvccHarness } from './mvcc-harness.js';

const DIR = join(import.meta.dirname, 'testdata');

function bytesArg(s: string): Uint8Array {
  return s === '\\0' ? Uint8Array.of(0) : utf8(s);
}

function num(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

function rangeRequest(args: string[]): RangeRequest {
  const kv = keyValues(args.slice(1));
  const req: RangeRequest = { key: bytesArg(args[0]!) };
  if (kv.has('end')) req.rangeEnd = bytesArg(kv.get('end')!);
  if (kv.has('rev')) req.revision = num(kv.get('rev'))!;
  if (kv.has('limit')) req.limit = num(kv.get('limit'))!;
  if (kv.has('sort')) {
    const [order, target] = kv.get('sort')!.split(':');
    req.sortOrder = order as SortOrder;
    req.sortTarget = (target ?? 'KEY') as SortTarget;
  }
  if (kv.has('keys-only')) req.keysOnly = true;
  if (kv.has('count-only')) req.countOnly = true;
  if (kv.has('min-mod')) req.minModRevision = num(kv.get('min-mod'))!;
  if (kv.has('max-mod')) req.maxModRevision = num(kv.get('max-mod'))!;
  if (kv.has('min-create')) req.minCreateRevision = num(kv.get('min-create'))!;
  if (kv.has('max-create')) req.maxCreateRevision = num(kv.get('max-create'))!;
  return req;
}

function op(words: string[]): RequestOp {
  const [kind, ...rest] = words;
  const kv = keyValues(rest.slice(1));
  if (kind === 'put') return { put: { key: utf8(rest[0]!), value: utf8(rest[1]!) } };
  if (kind === 'del') return { deleteRange: { key: utf8(rest[0]!), ...(kv.has('end') ? { rangeEnd: bytesArg(kv.get('end')!) } : {}) } };
  if (kind === 'range') return { range: rangeRequest(rest) };
  throw new Error(`unknown txn op ${kind}`);
}

const FLAGS = new Set(['prev', 'ignore-value', 'ignore-lease']);

const OPS: Record<string, CompareResult> = { '=': 'EQUAL', '!=': 'NOT_EQUAL', '>': 'GREATER', '<': 'LESS' };

function compare(words: string[]): Compare {
  const [target, key, opWord, operand, ...rest] = words;
  const c: Compare = { target: target as CompareTarget, key: utf8(key!), result: OPS[opWord!]! };
  const end = keyValues(rest).get('end');
  if (end !== undefined) c.rangeEnd = bytesArg(end);
  if (target === 'VALUE') c.value = utf8(operand!);
  else if (target === 'LEASE') c.lease = BigInt(operand!);
  else if (target === 'VERSION') c.version = Number(operand);
  else if (target === 'CREATE') c.createRevision = Number(operand);
  else c.modRevision = Number(operand);
  return c;
}

function writeOf(b: ScenarioBlock): MvccWrite | undefined {
  const a = b.args;
  const kv = keyValues(a);
  switch (b.name) {
    case 'put':
      return {
        type: 'put',
        put: {
          key: utf8(a[0]!),
          value: utf8(a[1] === undefined || a[1].includes('=') || FLAGS.has(a[1]) ? '' : a[1]),
          ...(kv.has('lease') ? { lease: BigInt(kv.get('lease')!) } : {}),
          prevKv: kv.has('prev'),
          ignoreValue: kv.has('ignore-value'),
          ignoreLease: kv.has('ignore-lease'),
        },
      };
    case 'del':
      return { type: 'deleteRange', deleteRange: { key: utf8(a[0]!), prevKv: kv.has('prev'), ...(kv.has('end') ? { rangeEnd: bytesArg(kv.get('end')!) } : {}) } };
    case 'txn': {
      const txn = { compare: [] as Compare[], success: [] as RequestOp[], failure: [] as RequestOp[] };
      for (const line of b.input) {
        const [head, ...words] = line.trim().split(/\s+/);
        if (head === 'cmp') txn.compare.push(compare(words));
        else if (head === 'then') txn.success.push(op(words));
        else if (head === 'else') txn.failure.push(op(words));
        else throw new Error(`line ${b.line}: unknown txn line ${line}`);
      }
      return { type: 'txn', txn };
    }
    case 'compact':
      return { type: 'compact', revision: Number(a[0]) };
    case 'grant':
      return { type: 'leaseGrant', id: BigInt(a[0]!), ttlSeconds: Number(a[1]) };
    case 'revoke':
      return { type: 'leaseRevoke', id: BigInt(a[0]!) };
    case 'checkpoint':
      return { type: 'leaseCheckpoint', id: BigInt(a[0]!), remainingTtlSeconds: Number(a[1]) };
    default:
      return undefined;
  }
}

async function run(h: MvccHarness, b: ScenarioBlock): Promise<string[]> {
  const w = writeOf(b);
  if (w !== undefined) {
    const r = await h.write(w);
    if (r instanceof MvccError) return [`error ${r.code}`];
    const out = [`rev=${r.revision}`];
    const res = r.response;
    if (res.type === 'put' && res.put.prevKv !== undefined) out.push(`prev: ${showKv(res.put.prevKv)}`);
    if (res.type === 'deleteRange') out.push(...showResponseOp({ deleteRange: res.deleteRange }, ''));
    if (res.type === 'txn') out.push(...showResponseOp({ txn: res.txn }, ''));
    return out;
  }
  try {
    switch (b.name) {
      case 'range': {
        const r = h.store.range(rangeRequest(b.args));
        return [`rev=${r.revision}`, ...showRange(r.response)];
      }
      case 'events': {
        const kv = keyValues(b.args.slice(3));
        const end = kv.get('end');
        const batches = h.store.readEvents(Number(b.args[0]), Number(b.args[1]), bytesArg(b.args[2]!), end === undefined ? undefined : bytesArg(end), 1000);
        return batches.flatMap((re) => [
          `rev ${re.revision}`,
          ...re.events.map((e) => `  ${e.type} ${showKv(e.kv)}${e.prevKv !== undefined ? ` prev: ${fromUtf8(e.prevKv.value)}` : ''}`),
        ]);
      }
      case 'leases':
        return h.store.leases().map((l) => {
          const full = h.store.lease(l.id)!;
          return `lease ${l.id} ttl=${l.ttlSeconds} remaining=${l.remainingTtlSeconds} keys=[${full.keys.map(fromUtf8).join(' ')}]`;
        });
      default:
        throw new Error(`line ${b.line}: unknown command ${b.name}`);
    }
  } catch (err) {
    if (err instanceof MvccError) return [`error ${err.code}`];
    throw err;
  }
}

describe('mvcc scenarios', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.txt'));
  it.each(files)('%s', async (file) => {
    const path = join(DIR, file);
    const chunks = parseScenario(readFileSync(path, 'utf8'));
    const h = await openMvcc();
    const rewrite = process.env.LSMRAFT_REWRITE === '1';
    try {
      for (const c of chunks) {
        if (c.kind !== 'block') continue;
        const actual = await run(h, c.block);
        if (rewrite) c.block.expected = actual;
        else expect(actual.join('\n'), `${file}:${c.block.line}: ${c.block.command}`).toBe(c.block.expected.join('\n'));
      }
    } finally {
      await h.tree.close();
    }
    if (rewrite) writeFileSync(path, formatScenario(chunks));
  });
});
