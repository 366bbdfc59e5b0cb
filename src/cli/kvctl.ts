#!/usr/bin/env node
/**
 * kvctl: one request to an lsmraft cluster from a script (after etcdctl): connects to any of the
 * given servers, follows leader redirects, prints the answer on stdout.
 *
 *   kvctl --servers host:port[,...] [--timeout MS] <command> [args]     (docs/cli.md)
 *
 * Exit codes: 0 success; 1 `get` found no such key; 2 bad command line (usage printed);
 * 3 the request failed (`error <CODE>: <message>` on stderr).
 */
import { LsmraftError } from '../errors.js';
import { KvClient } from '../node/kv-client.js';
import { fromUtf8 } from '../util/bytes.js';
import { KVCTL_USAGE, parseKvctlArgs, UsageError, type KvctlArgs } from './args.js';

async function run(client: KvClient, a: KvctlArgs): Promise<number> {
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  switch (a.command) {
    case 'put':
      await client.put(a.args[0]!, a.args[1]!);
      out('ok');
      return 0;
    case 'get': {
      const v = await client.get(a.args[0]!);
      if (v === undefined) {
        out('(not found)');
        return 1;
      }
      out(fromUtf8(v));
      return 0;
    }
    case 'del':
      await client.delete(a.args[0]!);
      out('ok');
      return 0;
    case 'scan': {
      const pairs = await client.scan(a.args[0], a.args[1], a.limit);
      for (const [k, v] of pairs) out(`${fromUtf8(k)} = ${fromUtf8(v)}`);
      return 0;
    }
    case 'status':
      out(JSON.stringify(await client.status()));
      return 0;
    case 'members':
      out(JSON.stringify(await client.members()));
      return 0;
    case 'add':
      await client.addMember(Number(a.args[0]), a.args[1]!);
      out('ok');
      return 0;
    case 'remove':
      await client.removeMember(Number(a.args[0]));
      out('ok');
      return 0;
    case 'transfer':
      await client.transferLeadership(Number(a.args[0]));
      out('ok');
      return 0;
    default:
      throw new UsageError(`unknown command "${a.command}"`);
  }
}

async function main(): Promise<number> {
  let a: KvctlArgs;
  try {
    a = parseKvctlArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`kvctl: ${err.message}\n${KVCTL_USAGE}\n`);
    return 2;
  }
  const client = new KvClient(a.servers, { requestTimeoutMs: a.timeoutMs });
  try {
    return await run(client, a);
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    return 3;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
