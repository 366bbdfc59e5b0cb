// The command language as data: tokenizing (shell quoting), parsing, per-argument errors, help,
// case-insensitive names, completion.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { COMMANDS, complete, errorLine, helpText, parseCommand, tokenize } from '../../src/cli/repl.js';
import { LsmraftError } from '../../src/errors.js';

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
    expect(parseCommand('help')).toEqual({ kind: 'help', topic: undefined });
    expect(parseCommand('help put')).toEqual({ kind: 'help', topic: 'put' });
    expect(parseCommand('exit')).toEqual({ kind: 'exit' });
    expect(parseCommand('   ')).toEqual({ kind: 'empty' });
  });

  it('takes quoted keys and values as a shell does, and nothing else of a shell', () => {
    expect(parseCommand('put "a b" "c d"')).toEqual({ kind: 'put', key: 'a b', value: 'c d' });
    expect(parseCommand(`put 'x "y"' z\\ w`)).toEqual({ kind: 'put', key: 'x "y"', value: 'z w' });
    expect(parseCommand('put k ""')).toEqual({ kind: 'put', key: 'k', value: '' });
    expect(tokenize('get $HOME *')).toEqual(['get', '$HOME', '*']);
    expect(() => parseCommand('put a | b')).toThrow(/unquoted "\|"/);
    expect(() => parseCommand('put a b#c')).toThrow(/unquoted "#"/);
    expect(parseCommand('put a "b#c"')).toEqual({ kind: 'put', key: 'a', value: 'b#c' });
  });

  it('reads command names in any case, keys and values as typed', () => {
    expect(parseCommand('PUT Key Value')).toEqual({ kind: 'put', key: 'Key', value: 'Value' });
    expect(parseCommand('Lsm G K')).toEqual({ kind: 'lsm-g', key: 'K' });
    expect(parseCommand('HELP Get')).toEqual({ kind: 'help', topic: 'get' });
  });

  it('names the wrong argument, with the usage line', () => {
    const cases: Array<[string, string]> = [
      ['put 1', 'put: missing <value> (usage: put <key> <value>)'],
      ['put 1 2 3', 'put: unexpected argument "3" (usage: put <key> <value>)'],
      ['add 0 h:1', 'add: <id> must be a positive integer, got "0" (usage: add <id> <host:port>)'],
      ['add 2', 'add: missing <host:port> (usage: add <id> <host:port>)'],
      ['add 2 host', 'add: <host:port> must be host:port, got "host" (usage: add <id> <host:port>)'],
      ['remove x', 'remove: <id> must be a positive integer, got "x" (usage: remove <id>)'],
      ['lsm', 'lsm: missing s, g or r (usage: lsm s | lsm g <key> | lsm r <from> <to>)'],
      ['lsm r 1', 'lsm: lsm r needs <to> (usage: lsm s | lsm g <key> | lsm r <from> <to>)'],
      ['lsm q', 'lsm: unknown form "q", expected s, g or r (usage: lsm s | lsm g <key> | lsm r <from> <to>)'],
      ['ls -l', 'ls: unexpected argument "-l" (usage: ls)'],
      ['help nope', 'help: no command "nope" (usage: help [<command>])'],
    ];
    for (const [line, message] of cases) {
      expect(() => parseCommand(line), line).toThrow(UsageError);
      expect(() => parseCommand(line), line).toThrow(message);
    }
    expect(() => parseCommand('frob 1')).toThrow(/^unknown command "frob"; type help/);
  });

  it('prints errors by code, without request numbers', () => {
    expect(errorLine(new LsmraftError('KV_ERR_TIMEOUT', 'request 17 to 127.0.0.1:5 timed out after 5000 ms'))).toBe('error KV_ERR_TIMEOUT: request to 127.0.0.1:5 timed out after 5000 ms');
    expect(errorLine(new LsmraftError('KV_ERR_TIMEOUT', 'write 540250702244: the leadership changed'))).toBe('error KV_ERR_TIMEOUT: write: the leadership changed');
    expect(errorLine(new LsmraftError('KV_ERR_TIMEOUT', 'write 540250702244 timed out after 5000 ms'))).toBe('error KV_ERR_TIMEOUT: write timed out after 5000 ms');
  });

  it('completes command names and lsm forms; help lists every command and explains one', () => {
    expect(complete('st')).toEqual([['status'], 'st']);
    expect(complete('T')).toEqual([['transfer'], 'T']);
    expect(complete('lsm ')).toEqual([['s', 'g', 'r'], '']);
    expect(complete('lsm g')).toEqual([['g'], 'g']);
    expect(complete('help ad')).toEqual([['add'], 'ad']);
    expect(complete('')[0]).toEqual(COMMANDS.map((c) => c.name));
    expect(helpText().split('\n')).toHaveLength(COMMANDS.length);
    expect(helpText('put').split('\n')[0]).toBe('usage: put <key> <value>');
    expect(helpText('put')).toContain('put "a b" "c d"');
  });
});
