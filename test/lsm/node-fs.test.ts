import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { LogKind, LogReader, LogWriter } from '../../src/lsm/log-format.js';
import { NodeFileSystem, nodeFileSystem } from '../../src/lsm/node-fs.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-node-fs-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function ioErrno(fn: () => unknown): { code: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IoError);
    expect((err as IoError).code).toBe('LSM_ERR_IO');
    return { code: ((err as IoError).cause as NodeJS.ErrnoException).code, message: (err as IoError).message };
  }
  throw new Error('expected an IoError');
}

describe('NodeFileSystem', () => {
  it('writes, syncs, reads back at positions and reports sizes', async () => {
    const fs = new NodeFileSystem();
    const path = join(dir, 'a.log');
    const w = fs.create(path);
    w.append(utf8('hello '));
    w.append(new Uint8Array(100_000).fill(0x61));
    expect(w.size()).toBe(100_006);
    const pending = w.sync();
    expect(() => w.close()).toThrow(AssertionFailure); // REQUIRES: no sync in flight
    await pending;
    w.syncSync();
    w.close();
    w.close(); // idempotent
    expect(fs.fileSize(path)).toBe(100_006);
    const r = fs.openRead(path);
    expect(r.size()).toBe(100_006);
    expect(fromUtf8(r.read(0, 6))).toBe('hello ');
    expect(r.read(100_000, 50).length).toBe(6); // short read at end of file
    expect(r.read(200_000, 5).length).toBe(0);
    r.close();
    const all = fs.readFile(path);
    expect(all.length).toBe(100_006);
    expect(all[100_005]).toBe(0x61);
  });

  it('appends after the end with openAppend and truncates with create', () => {
    const fs = nodeFileSystem;
    const path = join(dir, 'f');
    const a = fs.openAppend(path); // creates it
    a.append(utf8('one'));
    a.close();
    const b = fs.openAppend(path);
    expect(b.size()).toBe(3);
    b.append(utf8('two'));
    b.close();
    expect(fromUtf8(fs.readFile(path))).toBe('onetwo');
    const c = fs.create(path);
    expect(c.size()).toBe(0);
    c.close();
    expect(fs.fileSize(path)).toBe(0);
  });

  it('renames, links, removes, lists sorted and syncs directories', async () => {
    const fs = nodeFileSystem;
    const sub = join(dir, 'x', 'y');
    fs.mkdirp(sub);
    fs.mkdirp(sub); // already there: fine
    for (const name of ['b', 'a', 'c']) fs.create(join(sub, name)).close();
    expect(fs.list(sub)).toEqual(['a', 'b', 'c']);
    fs.rename(join(sub, 'a'), join(sub, 'd'));
    fs.link(join(sub, 'd'), join(sub, 'e'));
    fs.remove(join(sub, 'b'));
    expect(fs.list(sub)).toEqual(['c', 'd', 'e']);
    expect(fs.exists(join(sub, 'a'))).toBe(false);
    expect(fs.exists(join(sub, 'e'))).toBe(true);
    await fs.syncDir(sub);
    fs.syncDirSync(sub);
  });

  it('wraps system errors in IoError with the path and the errno as cause', async () => {
    const fs = nodeFileSystem;
    const missing = join(dir, 'missing');
    for (const fn of [() => fs.openRead(missing), () => fs.readFile(missing), () => fs.fileSize(missing), () => fs.remove(missing)]) {
      const e = ioErrno(fn);
      expect(e.code).toBe('ENOENT');
      expect(e.message).toContain(missing);
    }
    fs.create(join(dir, 'exists')).close();
    expect(ioErrno(() => fs.link(join(dir, 'exists'), join(dir, 'exists'))).code).toBe('EEXIST');
    expect(ioErrno(() => fs.list(missing)).code).toBe('ENOENT');
    expect(ioErrno(() => fs.syncDirSync(missing)).code).toBe('ENOENT');
    await expect(fs.syncDir(missing)).rejects.toMatchObject({ code: 'LSM_ERR_IO', cause: { code: 'ENOENT' } });
    expect(ioErrno(() => fs.create(join(missing, 'f'))).code).toBe('ENOENT');
  });

  it('carries a log written and read through real files', () => {
    const fs = nodeFileSystem;
    const path = join(dir, '000001.log');
    const w = new LogWriter(fs.create(path), LogKind.Wal);
    w.addRecords([utf8('a'), new Uint8Array(70_000).fill(3)]);
    w.syncSync();
    w.close();
    const r = new LogReader(fs.readFile(path), path, LogKind.Wal, 'strict');
    expect(fromUtf8(r.next()!)).toBe('a');
    expect(r.next()!.length).toBe(70_000);
    expect(r.next()).toBeNull();
  });

  it('preallocates a created file ahead of its appends, in steps, and trims it back', async () => {
    const fs = nodeFileSystem;
    const path = join(dir, 'p.log');
    const w = fs.create(path, { preallocateBytes: 8192 });
    w.append(new Uint8Array(100).fill(1));
    // The file is one step long on disk, zeros past the appended bytes; size() is what was appended.
    expect(fs.fileSize(path)).toBe(8192);
    expect(w.size()).toBe(100);
    w.append(new Uint8Array(8100).fill(2)); // ends at 8200: a second step
    await w.sync();
    expect(fs.fileSize(path)).toBe(16_384);
    w.append(new Uint8Array(10).fill(3)); // written at its offset, not at the end on disk
    w.syncSync();
    const bytes = fs.readFile(path);
    expect([bytes[99], bytes[100], bytes[8199], bytes[8200], bytes[8209], bytes[8210]]).toEqual([1, 2, 2, 3, 3, 0]);
    w.trimPreallocation!();
    await w.sync();
    expect(fs.fileSize(path)).toBe(8210);
    w.append(new Uint8Array(1).fill(4)); // grows again after a trim
    expect(fs.fileSize(path)).toBe(16_384);
    w.close(); // trims too
    expect(fs.fileSize(path)).toBe(8211);
    expect(fs.readFile(path)[8210]).toBe(4);
  });

  it('leaves a file created without preallocation at its appended size', () => {
    const w = nodeFileSystem.create(join(dir, 'n.log'));
    w.append(new Uint8Array(100));
    expect(nodeFileSystem.fileSize(join(dir, 'n.log'))).toBe(100);
    w.close();
  });
});
