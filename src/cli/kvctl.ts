#!/usr/bin/env node
/**
 * kvctl: one request to an lsmraft cluster from a script (after etcdctl): connects to any of the
 * given servers, follows leader redirects, prints the answer on stdout in the chosen format
 * (simple, table, json; see output.ts), keys and values binary-safe.
 *
 *   kvctl [--servers host:port[,...]] [--timeout 5s] [-o json] <command> [args]     (docs/cli.md)
 *
 * Exit codes: 0 success; 1 `get` found no such key (nothing printed); 2 bad arguments (the wrong
 * argument named on stderr); 3 the request failed (`error <CODE>: <message>` on stderr, followed,
 * when no server could serve it, by one line per address saying why).
 */
import { readFileSync } from 'node:fs';
import { LsmraftError } from '../errors.js';
import { KvClient } from '../node/kv-client.js';
import { utf8 } from '../util/bytes.js';
import { kvctlHelp, packageVersion, parseKvctlArgs, UsageError, type KvctlArgs } from './args.js';
import { MEMBER_HEADER, memberCells, memberLine, statusLine } from './describe.js';
import { scanRange } from './kvctl-scan.js';
import { formatPairs, jsonPair, showBytes, table } from './output.js';
import { probeAll } from './probe.js';

/** Codes meaning no server could serve the request: then each address is probed and named. */
const UNREACHABLE_CODES = new Set(['KV_ERR_CONNECTION_CLOSED', 'KV_ERR_TIMEOUT', 'KV_ERR_NOT_LEADER', 'KV_ERR_STOPPED', 'KV_ERR_REMOVED']);

/** Share of --timeout kept for probing the addresses after a failure, at most PROBE_MS_MAX. */
const PROBE_SHARE = 0.25;
const PROBE_MS_MAX = 1000;

function out(s: string): void {
  if (s.length > 0) process.stdout.write(`${s}\n`);
}

function ok(a: KvctlArgs): void {
  out(a.output === 'json' ? JSON.stringify({ ok: true }) : 'ok');
}

/** The value of `put`: the argument, stdin (`-`) or --value-file. */
function readValue(a: KvctlArgs): Uint8Array {
  if (a.valueFile !== undefined) {
    try {
      return readFileSync(a.valueFile);
    } catch (err) {
      throw new UsageError(`--value-file: cannot read ${a.valueFile}: ${(err as Error).message}`);
    }
  }
  if (a.args[1] === '-') return readFileSync(0);
  return utf8(a.args[1]!);
}

async function run(client: KvClient, a: KvctlArgs): Promise<number> {
  switch (a.command) {
    case 'put':
      await client.put(a.args[0]!, readValue(a));
      ok(a);
      return 0;
    case 'get': {
      const v = await client.get(a.args[0]!);
      if (v === undefined) return 1;
      const key = utf8(a.args[0]!);
      if (a.output === 'json') out(JSON.stringify(jsonPair(key, v, a.encoding)));
      else if (a.output === 'table') out(table(['KEY', 'VALUE'], [[showBytes(key, a.encoding), showBytes(v, a.encoding)]]));
      else out(showBytes(v, a.encoding));
      return 0;
    }
    case 'del':
      await client.delete(a.args[0]!);
      ok(a);
      return 0;
    case 'scan': {
      const { pairs, more } = await scanRange(client, {
        from: a.args[0] === undefined ? undefined : utf8(a.args[0]),
        to: a.args[1] === undefined ? undefined : utf8(a.args[1]),
        prefix: a.prefix === undefined ? undefined : utf8(a.prefix),
        limit: a.limit,
        reverse: a.reverse,
      });
      if (a.output === 'json') {
        out(JSON.stringify({ pairs: JSON.parse(formatPairs(pairs, 'json', a.encoding, a.keysOnly)) as unknown, more, limit: a.limit }));
      } else {
        out(formatPairs(pairs, a.output, a.encoding, a.keysOnly));
        if (more) process.stderr.write(`(more: stopped at limit ${a.limit})\n`);
      }
      return 0;
    }
    case 'status': {
      const s = await client.status();
      if (a.output === 'json') out(JSON.stringify(s));
      else if (a.output === 'table') out(table(['FIELD', 'VALUE'], Object.entries(s).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '-')])));
      else out(statusLine(s));
      return 0;
    }
    case 'members': {
      const ms = await client.members();
      if (a.output === 'json') out(JSON.stringify(ms));
      else if (a.output === 'table') out(table(MEMBER_HEADER, ms.map(memberCells)));
      else out(ms.map(memberLine).join('\n'));
      return 0;
    }
    case 'add':
      await client.addMember(Number(a.args[0]), a.args[1]!);
      ok(a);
      return 0;
    case 'remove':
      await client.removeMember(Number(a.args[0]));
      ok(a);
      return 0;
    case 'transfer':
      await client.transferLeadership(Number(a.args[0]));
      ok(a);
      return 0;
    case 'snapshot': {
      const saved = await client.snapshotSave(a.args[1]!);
      if (a.output === 'json') out(JSON.stringify({ file: a.args[1], ...saved }));
      else out(`saved ${a.args[1]}: ${saved.bytes} bytes, index ${saved.index}, term ${saved.term}, from ${saved.address}, sha256 ${saved.sha256}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${a.command}"`);
  }
}

function usageExit(err: UsageError): number {
  process.stderr.write(`kvctl: ${err.message}\nTry 'kvctl --help'.\n`);
  return 2;
}

async function main(): Promise<number> {
  let a: KvctlArgs;
  try {
    const parsed = parseKvctlArgs(process.argv.slice(2), process.env);
    if (parsed.kind === 'help') {
      process.stdout.write(`${kvctlHelp()}\n`);
      return 0;
    }
    if (parsed.kind === 'version') {
      process.stdout.write(`kvctl ${packageVersion()}\n`);
      return 0;
    }
    a = parsed.args;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usageExit(err);
  }
  // The request gets most of --timeout; the rest is kept to name why each server failed.
  const probeMs = Math.min(PROBE_MS_MAX, Math.max(1, Math.floor(a.timeoutMs * PROBE_SHARE)));
  const requestMs = Math.max(1, a.timeoutMs - probeMs);
  const client = new KvClient(a.servers, {
    requestTimeoutMs: requestMs,
    attemptTimeoutMs: Math.min(6_000, requestMs),
    connectTimeoutMs: Math.min(1_000, requestMs),
    ...(a.tls === undefined ? {} : { tls: a.tls }),
  });
  try {
    return await run(client, a);
  } catch (err) {
    if (err instanceof UsageError) return usageExit(err);
    if (!(err instanceof LsmraftError)) throw err;
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    if (UNREACHABLE_CODES.has(err.code)) {
      process.stderr.write(`servers tried (within ${a.timeoutMs} ms):\n${(await probeAll(a.servers, probeMs)).join('\n')}\n`);
    }
    return 3;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
