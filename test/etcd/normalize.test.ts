// The normalization of etcdctl output (test/etcd/normalize.ts) keeps what two runs of one server
// print alike and nothing more: `snapshot status`'s whole-file hash and size are run-dependent.
import { describe, expect, it } from 'vitest';
import { normalizeStdout } from './normalize.js';

const ctx = { baseRevision: 1, leases: [], tmpDir: '' };

describe('normalize', () => {
  it('makes snapshot status lines of two runs alike, keeping the revision offset and the key count', () => {
    expect(normalizeStdout('94edf1c6, 22, 31, 25 kB\n', ctx)).toEqual(['<hash>, R+21, 31, <size>']);
    expect(normalizeStdout('0a1b2c3d, 22, 31, 29 kB\n', ctx)).toEqual(['<hash>, R+21, 31, <size>']);
    // %x drops leading zeros: a hash below 0x10000000 prints with fewer digits.
    expect(normalizeStdout('56e5cdc, 22, 31, 25 kB\n', ctx)).toEqual(['<hash>, R+21, 31, <size>']);
    expect(normalizeStdout('0a1b2c3d, 23, 31, 25 kB\n', ctx)).toEqual(['<hash>, R+22, 31, <size>']);
    expect(normalizeStdout('0a1b2c3d, 22, 30, 25 kB\n', ctx)).toEqual(['<hash>, R+21, 30, <size>']);
    // Other lines with a comma-separated hex word are left alone.
    expect(normalizeStdout('deadbeef, started, 1, x\n', ctx)).toEqual(['deadbeef, started, 1, x']);
  });
});
