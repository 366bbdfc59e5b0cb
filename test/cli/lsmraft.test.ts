/** The lsmraft CLI (src/cli/lsmraft.ts) as a child process: check and repair, exit codes, --json, usage. */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type ScriptResult } from '../helpers/run-script.js';
import { flipByte, smallTreeFixture } from '../helpers/small-tree.js';

const fixture = smallTreeFixture('lsmraft-cli-');

/** A copy without the fixture's LOCK: it names this (live) test process, which the child would honour. */
function unlockedCopy(): string {
  const dir = fixture.copy();
  unlinkSync(join(dir, 'LOCK'));
  return dir;
}

function lsmraft(args: string[]): Promise<ScriptResult> {
  return runCli('lsmraft.ts', args, { timeoutMs: 30_000 });
}

describe('lsmraft CLI', () => {
  it('check: exit 0 and "clean" on a clean tree; --json is the report', async () => {
    const dir = fixture.copy();
    const text = await lsmraft(['check', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(': clean');
    const json = await lsmraft(['check', dir, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ clean: true, damaged: [] });
  });

  it('check: exit 1 naming the damaged file and offset; repair: exit 1 (a table lost), then check is clean', async () => {
    const dir = unlockedCopy();
    const table = readdirSync(dir).filter((n) => n.endsWith('.sst')).sort()[0]!;
    flipByte(join(dir, table), 20);
    const check = await lsmraft(['check', dir]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`damaged table ${table} at offset 0`);
    const repair = await lsmraft(['repair', dir, '--json']);
    expect(repair.code).toBe(1);
    expect(JSON.parse(repair.stdout)).toMatchObject({ complete: false, lost: { files: 1 } });
    // The lost table's key range, keys as text.
    expect(JSON.parse(repair.stdout).lostRanges).toEqual([{ file: table, smallest: expect.stringMatching(/^"key-\d{5}"$/), largest: expect.stringMatching(/^"key-\d{5}"$/) }]);
    expect(readdirSync(join(dir, 'lost'))).toContain(table);
    expect((await lsmraft(['check', dir])).code).toBe(0);
  });

  it('repair: exit 0 when nothing was lost; exit 3 (LSM_ERR_LOCKED) while a live process holds LOCK', async () => {
    expect(await lsmraft(['repair', fixture.copy()])).toMatchObject({ code: 3, stderr: expect.stringContaining('error LSM_ERR_LOCKED') });
    const dir = unlockedCopy();
    const repair = await lsmraft(['repair', dir]);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toContain('nothing lost');
  });

  it('repair prints the key range of a lost table, where older versions may now be visible', async () => {
    const dir = unlockedCopy();
    const table = readdirSync(dir).filter((n) => n.endsWith('.sst')).sort()[0]!;
    flipByte(join(dir, table), 20);
    const repair = await lsmraft(['repair', dir]);
    expect(repair.code).toBe(1);
    expect(repair.stdout).toContain('older versions of keys in these ranges may be visible:');
    expect(repair.stdout).toMatch(new RegExp(`\\n    ${table}: "key-\\d{5}" \\.\\. "key-\\d{5}"`));
  });

  it('exit 2 with the usage on a bad command line; --help prints it', async () => {
    for (const args of [['frobnicate', '/tmp'], ['check'], ['check', '/tmp', '--bogus']]) {
      const r = await lsmraft(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: lsmraft check');
    }
    const help = await lsmraft(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('lsmraft repair <dir>');
  });

  it('exit 3 with the error code when the directory does not exist', async () => {
    const r = await lsmraft(['check', join(fixture.original(), 'no-such-dir')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error LSM_ERR_INVALID_ARGUMENT');
  });
});
