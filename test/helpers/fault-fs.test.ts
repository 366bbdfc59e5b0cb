/** The error-injecting file system wrapper of test/helpers/fault-fs.ts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { utf8 } from '../../src/util/bytes.js';
import { FaultFileSystem, injectedCode, type SystemErrorLike } from './fault-fs.js';

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('FaultFileSystem', () => {
  it('fails the nth matching call with a Node-shaped ENOSPC and leaves the inner fs untouched', () => {
    const fs = new FaultFileSystem(new CrashableMemFileSystem(), { rules: [{ kinds: ['write'], nth: 2, code: 'ENOSPC' }] });
    fs.mkdirp('/d');
    const f = fs.create('/d/a.log');
    f.append(utf8('one'));
    const err = caught(() => f.append(utf8('two')));
    expect(err).toBeInstanceOf(IoError);
    expect((err as IoError).code).toBe('LSM_ERR_IO');
    const cause = (err as IoError).cause as SystemErrorLike;
    expect(cause).toMatchObject({ code: 'ENOSPC', errno: -28, syscall: 'write', path: '/d/a.log' });
    expect(injectedCode(err)).toBe('ENOSPC');
    f.append(utf8('three')); // nth fires once by default
    expect(fs.inner.readFile('/d/a.log')).toEqual(utf8('onethree'));
    expect(fs.injected).toEqual([{ call: 3, kind: 'write', method: 'append', path: '/d/a.log', code: 'ENOSPC' }]);
    expect(fs.calls.write).toBe(3);
  });

  it('matches by path pattern and kind, rename on either path', async () => {
    const fs = new FaultFileSystem(new CrashableMemFileSystem(), {
      rules: [{ kinds: ['sync'], path: /MANIFEST/ }, { kinds: ['rename'], path: /CURRENT$/, code: 'EIO' }],
    });
    fs.mkdirp('/d');
    const log = fs.create('/d/000001.log');
    await log.sync();
    const man = fs.create('/d/MANIFEST-000001');
    await expect(man.sync()).rejects.toBeInstanceOf(IoError);
    expect(() => man.syncSync()).toThrow(IoError);
    fs.create('/d/x.dbtmp').close();
    expect(injectedCode(caught(() => fs.rename('/d/x.dbtmp', '/d/CURRENT')))).toBe('EIO');
    expect(fs.exists('/d/x.dbtmp')).toBe(true);
    expect(fs.injected.map((f) => f.kind)).toEqual(['sync', 'sync', 'rename']);
  });

  it('switched off, every call goes through; switched on, the rules apply again', () => {
    const fs = new FaultFileSystem(new CrashableMemFileSystem(), { rules: [{ kinds: ['open'] }] });
    expect(() => fs.create('/a')).toThrow(IoError);
    fs.enabled = false;
    fs.create('/a').close();
    expect(fs.exists('/a')).toBe(true);
    fs.enabled = true;
    expect(() => fs.openRead('/a')).toThrow(IoError);
    fs.clearRules();
    fs.openRead('/a').close();
    expect(fs.injected).toHaveLength(2);
  });

  it('random faults are replayed by the same seed and respect times', () => {
    const run = (seed: number): number[] => {
      const fs = new FaultFileSystem(new CrashableMemFileSystem(), { seed, rules: [{ kinds: ['write'], probability: 0.3, times: 5 }] });
      const f = fs.create('/f');
      for (let i = 0; i < 100; i++) caught(() => f.append(utf8('x')));
      return fs.injected.map((x) => x.call);
    };
    const a = run(7);
    expect(a).toHaveLength(5);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
  });

  it('wraps the real file system too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsmraft-faultfs-'));
    try {
      const fs = new FaultFileSystem(nodeFileSystem, { rules: [{ kinds: ['read'], path: /b$/, times: 1 }] });
      const a = fs.create(join(dir, 'a'));
      a.append(utf8('hello'));
      a.close();
      fs.rename(join(dir, 'a'), join(dir, 'b'));
      const err = caught(() => fs.readFile(join(dir, 'b')));
      expect((err as IoError).cause).toMatchObject({ code: 'EIO', errno: -5, syscall: 'read' });
      expect(fs.readFile(join(dir, 'b'))).toEqual(utf8('hello'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad rules', () => {
    const fs = new FaultFileSystem(new CrashableMemFileSystem());
    expect(() => fs.addRule({ nth: 0 })).toThrow(RangeError);
    expect(() => fs.addRule({ probability: 2 })).toThrow(RangeError);
  });

  it('a torn write leaves a prefix of the data in the file before the error', () => {
    const torn: number[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const fs = new FaultFileSystem(new CrashableMemFileSystem(), { seed, rules: [{ kinds: ['write'], nth: 2, code: 'ENOSPC', torn: true }] });
      const f = fs.create('/t');
      f.append(utf8('head-'));
      expect(injectedCode(caught(() => f.append(utf8('0123456789'))))).toBe('ENOSPC');
      const text = new TextDecoder().decode(fs.inner.readFile('/t'));
      expect(text.startsWith('head-')).toBe(true);
      expect('0123456789'.startsWith(text.slice(5))).toBe(true);
      expect(text.length).toBeLessThan(15);
      torn.push(text.length - 5);
    }
    expect(torn.some((n) => n > 0)).toBe(true);
  });
});
