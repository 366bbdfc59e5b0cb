#!/usr/bin/env node
/**
 * lsmraft: offline tools over an LSM tree's directory (after RocksDB's `ldb` and leveldb's RepairDB):
 *
 *   lsmraft check <dir> [--json] [--engine js|wasm]     verifyTree (src/lsm/verify.ts)
 *   lsmraft repair <dir> [--json] [--engine js|wasm]    repairTree (src/lsm/repair.ts)
 *
 * Exit codes: 0 clean (check) or nothing lost (repair); 1 damage found (check) or something lost
 * (repair); 2 bad command line (usage on stderr); 3 the tool itself failed (`error <CODE>: ...`).
 * docs/tools.md shows the output.
 */
import { parseArgs } from 'node:util';
import { LsmraftError } from '../errors.js';
import { repairTree, type RepairReport } from '../lsm/repair.js';
import { verifyTree, type VerifyReport } from '../lsm/verify.js';

const LSMRAFT_USAGE = `usage: lsmraft check <dir> [--json] [--engine js|wasm]
       lsmraft repair <dir> [--json] [--engine js|wasm]

  check   read every table, WAL, manifest, CURRENT and LOCK of the tree in <dir>; report damage
          (exit 0 when clean, 1 when damage is found); changes nothing
  repair  rebuild the manifest from the readable tables and WAL records; every file taken out of
          the live set is moved to <dir>/lost/ (exit 0 when nothing was lost, 1 otherwise)

  --json          print the report as JSON
  --engine NAME   hot-path twin that decodes blocks: js (default) or wasm
  --help          this text`;

class UsageError extends Error {}

interface CliArgs {
  command: 'check' | 'repair';
  dir: string;
  json: boolean;
  engine: 'js' | 'wasm';
}

function parse(argv: string[]): CliArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { json: { type: 'boolean' }, engine: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    // parseArgs throws TypeError with an ERR_PARSE_ARGS_* code for a bad command line.
    if (err instanceof TypeError && String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw new UsageError(err.message);
    throw err;
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  const [command, dir, ...rest] = positionals;
  if (command !== 'check' && command !== 'repair') throw new UsageError(command === undefined ? 'missing command' : `unknown command ${command}`);
  if (dir === undefined) throw new UsageError(`${command} needs a directory`);
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  const engine = values.engine ?? 'js';
  if (engine !== 'js' && engine !== 'wasm') throw new UsageError(`--engine must be js or wasm, got ${engine}`);
  return { command, dir, json: values.json === true, engine };
}

function at(offset: number | undefined): string {
  return offset === undefined ? '' : ` at offset ${offset}`;
}

function formatVerify(r: VerifyReport): string {
  const c = r.counts;
  const lines = [
    `${r.dir}: ${r.clean ? 'clean' : `${r.damaged.length} damaged`} (manifest ${r.manifest ?? 'none'})`,
    `  tables ${c.tables} (${c.tableBlocks} blocks, ${c.tableEntries} entries), wals ${c.wals} (${c.walRecords} records, ${c.walEntries} entries), manifests ${c.manifests} (${c.manifestRecords} records), ${c.bytes} bytes read`,
  ];
  for (const d of r.damaged) lines.push(`  damaged ${d.kind} ${d.file}${at(d.offset)}${d.live ? '' : ' (not live)'}: ${d.reason}`);
  for (const t of r.tornTails) lines.push(`  torn tail ${t.file} at offset ${t.offset} (a crash mid-append; dropped on open)`);
  for (const t of r.unreferencedTables) lines.push(`  unreferenced table ${t}`);
  for (const u of r.unknownFiles) lines.push(`  unknown file ${u}`);
  return lines.join('\n');
}

function formatRepair(r: RepairReport): string {
  const lines = [
    `${r.dir}: repaired (${r.complete ? 'nothing lost' : `${r.lost.files} files lost, ${r.lost.bytes} bytes`}); new manifest ${r.manifest}, last sequence ${r.lastSequence}`,
    `  salvaged ${r.salvaged.entries} entries (${r.salvaged.bytes} bytes) from ${r.salvaged.tables} tables and ${r.salvaged.wals} wals`,
  ];
  for (const t of r.tables) lines.push(`  wrote ${t.file} at L${t.level}: ${t.entries} entries, ${t.bytes} bytes`);
  for (const m of r.moved) lines.push(`  moved ${m.file} -> ${m.movedTo}${at(m.offset)}: ${m.reason}`);
  for (const f of r.lost.missing) lines.push(`  missing ${f} (named by the manifest)`);
  if (r.lostRanges.length > 0) lines.push('  older versions of keys in these ranges may be visible:');
  for (const l of r.lostRanges) {
    lines.push(l.smallest === 'unknown' || l.largest === 'unknown'
      ? `    ${l.file}: keys unknown (any key)`
      : `    ${l.file}: ${showKey(l.smallest)} .. ${showKey(l.largest)}`);
  }
  return lines.join('\n');
}

/** A key as text when it is printable ASCII, else as 0x and hex digits. */
function showKey(key: Uint8Array): string {
  if (key.every((b) => b >= 0x20 && b < 0x7f)) return JSON.stringify(String.fromCharCode(...key));
  return `0x${Buffer.from(key).toString('hex')}`;
}

/** For --json: keys (Uint8Array) as showKey prints them, not as objects of byte values. */
function jsonKeys(_name: string, value: unknown): unknown {
  return value instanceof Uint8Array ? showKey(value) : value;
}

async function main(argv: string[]): Promise<number> {
  let args: CliArgs | 'help';
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`lsmraft: ${err.message}\n${LSMRAFT_USAGE}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${LSMRAFT_USAGE}\n`);
    return 0;
  }
  try {
    if (args.command === 'check') {
      const report = await verifyTree(args.dir, { engine: args.engine });
      process.stdout.write(`${args.json ? JSON.stringify(report, null, 2) : formatVerify(report)}\n`);
      return report.clean ? 0 : 1;
    }
    const report = await repairTree(args.dir, { engine: args.engine });
    process.stdout.write(`${args.json ? JSON.stringify(report, jsonKeys, 2) : formatRepair(report)}\n`);
    return report.complete ? 0 : 1;
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
    process.stderr.write(`lsmraft: error ${err.code}: ${err.message}\n`);
    return 3;
  }
}

process.exitCode = await main(process.argv.slice(2));
