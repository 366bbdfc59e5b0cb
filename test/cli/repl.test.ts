// The command language and the command lines, as data: parsing, usage errors, completion.
import { describe, expect, it } from 'vitest';
import { parseKvctlArgs, parseKvServerArgs, UsageError } from '../../src/cli/args.js';
import { COMMANDS, complete, helpText, parseCommand } from '../../src/cli/repl.js';

describe('repl commands', () => {
  it('parses every command of the seed flow and the rest', () => {
    expect(parseCommand('add 2 localhost:10002')).toEqual({ kind: 'add', id: 2, address: 'localhost:10002' });
    expect(parseCommand('  ls ')).toEqual({ kind: 'ls' });
    expect(parseCommand('put 1 1')).toEqual({ kind: 'put', key: '1', value: '1' });
    expect(parseCommand('get k')).toEqual({ kind: 'get', key: 'k' });
    expect(parseCommand('del k')).toEqual({ kind: 'del', key: 'k' });
    expect(parseCommand('lsm s')).toEqual({ kind: 'lsm-s' });
    expect(parseCommand('lsm g 1')).toEqual({ kind: 'lsm-g', key: '1' });
    expect(parseCommand('lsm r 1 3')).toEqual({ kind: 'lsm-r', from: '1', to: '3' });
    expect(parseCommand('remove 4')).toEqual({ kind: 'remove', id: 4 });
    expect(parseCommand('transfer 2')).toEqual({ kind: 'transfer', id: 2 });
    expect(parseCommand('status')).toEqual({ kind: 'status' });
    expect(parseCommand('help')).toEqual({ kind: 'help' });
    expect(parseCommand('exit')).toEqual({ kind: 'exit' });
    expect(parseCommand('   ')).toEqual({ kind: 'empty' });
  });

  it('answers malformed lines with the usage line of the command', () => {
    const cases: Array<[string, string]> = [
      ['put 1', 'usage: put <key> <value>'],
      ['put 1 2 3', 'usage: put <key> <value>'],
      ['add 0 h:1', 'usage: add <id> <host:port>'],
      ['add 2', 'usage: add <id> <host:port>'],
      ['add 2 host', 'usage: add <id> <host:port>'],
      ['remove x', 'usage: remove <id>'],
      ['lsm', 'usage: lsm s | lsm g <key> | lsm r <from> <to>'],
      ['lsm r 1', 'usage: lsm s | lsm g <key> | lsm r <from> <to>'],
      ['ls -l', 'usage: ls'],
    ];
    for (const [line, usage] of cases) {
      expect(() => parseCommand(line), line).toThrow(UsageError);
      expect(() => parseCommand(line), line).toThrow(usage);
    }
    expect(() => parseCommand('frob 1')).toThrow(/^unknown command "frob"/);
  });

  it('completes command names and lsm forms; help lists every command', () => {
    expect(complete('st')).toEqual([['status'], 'st']);
    expect(complete('t')).toEqual([['transfer'], 't']);
    expect(complete('lsm ')).toEqual([['s', 'g', 'r'], '']);
    expect(complete('lsm g')).toEqual([['g'], 'g']);
    expect(complete('')[0]).toEqual(COMMANDS.map((c) => c.name));
    expect(helpText().split('\n')).toHaveLength(COMMANDS.length);
  });
});

describe('command lines', () => {
  it('kv-server: positional id and address, defaults, options', () => {
    expect(parseKvServerArgs(['3', 'localhost:10003'])).toEqual({
      id: 3, address: 'localhost:10003', listenAddress: undefined, dataDir: './data/node-3', engine: 'wasm', snapshotEntries: undefined, compactKeepEntries: undefined,
      metricsAddress: undefined, logLevel: 'info', verbose: false,
    });
    expect(parseKvServerArgs(['1', 'h:1', '--metrics-address', '127.0.0.1:0', '--log-level', 'warn'])).toMatchObject({ metricsAddress: '127.0.0.1:0', logLevel: 'warn' });
    expect(parseKvServerArgs(['1', 'h:1', '--verbose']).logLevel).toBe('debug');
    expect(parseKvServerArgs(['1', '127.0.0.1:0', '--data-dir', '/x', '--engine=js', '--snapshot-entries', '50', '--verbose'])).toMatchObject({
      dataDir: '/x', engine: 'js', snapshotEntries: 50, verbose: true,
    });
    expect(parseKvServerArgs(['2', '127.0.0.1:7000', '--listen', '127.0.0.1:0'])).toMatchObject({ address: '127.0.0.1:7000', listenAddress: '127.0.0.1:0' });
    for (const bad of [['1', 'h:0', '--listen', 'h:1'], ['1', 'h:1', '--listen', 'h'], ['1', 'h:1', '--listen']]) {
      expect(() => parseKvServerArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
    for (const bad of [[], ['1'], ['0', 'h:1'], ['x', 'h:1'], ['1', 'h'], ['1', 'h:1', '--engine', 'c'], ['1', 'h:1', '--nope'], ['1', 'h:1', '--data-dir'], ['1', 'h:1', '--log-level', 'loud'], ['1', 'h:1', '--metrics-address', 'nope']]) {
      expect(() => parseKvServerArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
  });

  it('kvctl: servers, command arity, options', () => {
    expect(parseKvctlArgs(['--servers', 'a:1,b:2', 'put', 'k', 'v'])).toEqual({ servers: ['a:1', 'b:2'], timeoutMs: 10_000, limit: 1000, command: 'put', args: ['k', 'v'] });
    expect(parseKvctlArgs(['--servers=a:1', '--limit', '5', 'scan'])).toMatchObject({ command: 'scan', args: [], limit: 5 });
    for (const bad of [['put', 'k', 'v'], ['--servers', 'a:1'], ['--servers', 'a:1', 'put', 'k'], ['--servers', 'a', 'get', 'k'], ['--servers', 'a:1', 'add', 'x', 'b:1'], ['--servers', 'a:1', 'nope']]) {
      expect(() => parseKvctlArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
  });
});
