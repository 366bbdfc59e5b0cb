import { describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';

function text(fs: CrashableMemFileSystem, path: string): string {
  return fromUtf8(fs.readFile(path));
}

function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IoError);
    expect((err as IoError).code).toBe('LSM_ERR_IO');
    return ((err as IoError).cause as { code?: string }).code;
  }
  return undefined;
}

/** A fresh file system with /db made durable. */
function fresh(): CrashableMemFileSystem {
  const fs = new CrashableMemFileSystem();
  fs.mkdirp('/db');
  return fs;
}

describe('CrashableMemFileSystem basics', () => {
  it('creates, appends, reads, lists, renames, links and removes', () => {
    const fs = fresh();
    const f = fs.create('/db/a');
    f.append(utf8('hello '));
    f.append(utf8('world'));
    expect(f.size()).toBe(11);
    expect(text(fs, '/db/a')).toBe('hello world');
    expect(fs.fileSize('db/a')).toBe(11); // relative paths resolve from /
    const r = fs.openRead('/db/a');
    expect(fromUtf8(r.read(6, 100))).toBe('world');
    expect(r.read(50, 4).length).toBe(0);
    expect(r.size()).toBe(11);
    r.close();
    fs.link('/db/a', '/db/b');
    fs.rename('/db/a', '/db/c');
    expect(fs.list('/db')).toEqual(['b', 'c']);
    expect(fs.exists('/db/a')).toBe(false);
    f.append(utf8('!')); // the handle follows the inode through rename and link
    expect(text(fs, '/db/b')).toBe('hello world!');
    fs.remove('/db/c');
    expect(text(fs, '/db/b')).toBe('hello world!');
    expect(errnoOf(() => fs.openRead('/db/c'))).toBe('ENOENT');
    expect(errnoOf(() => fs.link('/db/b', '/db/b'))).toBe('EEXIST');
    expect(errnoOf(() => fs.create('/nodir/x'))).toBe('ENOENT');
    expect(errnoOf(() => fs.remove('/db'))).toBe('EISDIR');
  });

  it('create truncates an existing file; openAppend continues it', () => {
    const fs = fresh();
    fs.create('/db/f').append(utf8('old'));
    const a = fs.openAppend('/db/f');
    expect(a.size()).toBe(3);
    a.append(utf8('+more'));
    expect(text(fs, '/db/f')).toBe('old+more');
    fs.create('/db/f').append(utf8('new'));
    expect(text(fs, '/db/f')).toBe('new');
  });
});

describe('CrashableMemFileSystem crash', () => {
  it('keeps synced appends and drops unsynced ones', async () => {
    const fs = fresh();
    const f = fs.create('/db/wal');
    fs.syncDirSync('/db');
    f.append(utf8('durable'));
    await f.sync();
    f.append(utf8('-lost'));
    fs.crash();
    expect(text(fs, '/db/wal')).toBe('durable');
  });

  it('loses a file created without syncDir, even if its data was synced', () => {
    const fs = fresh();
    const f = fs.create('/db/new');
    f.append(utf8('x'));
    f.syncSync();
    fs.crash();
    expect(fs.exists('/db/new')).toBe(false);
    expect(fs.list('/db')).toEqual([]);
  });

  it('undoes a rename and a removal without syncDir, keeps them after it', async () => {
    const fs = fresh();
    const tmp = fs.create('/db/CURRENT.tmp');
    tmp.append(utf8('MANIFEST-1'));
    tmp.syncSync();
    await fs.syncDir('/db');
    fs.rename('/db/CURRENT.tmp', '/db/CURRENT');
    fs.crash();
    expect(fs.list('/db')).toEqual(['CURRENT.tmp']);
    expect(text(fs, '/db/CURRENT.tmp')).toBe('MANIFEST-1');

    fs.rename('/db/CURRENT.tmp', '/db/CURRENT');
    fs.syncDirSync('/db');
    fs.remove('/db/CURRENT');
    fs.crash();
    expect(fs.list('/db')).toEqual(['CURRENT']);
    expect(text(fs, '/db/CURRENT')).toBe('MANIFEST-1');
    fs.remove('/db/CURRENT');
    fs.syncDirSync('/db');
    fs.crash();
    expect(fs.list('/db')).toEqual([]);
  });

  it('shares content between a synced hard link and its original', () => {
    const fs = fresh();
    fs.mkdirp('/snap');
    const f = fs.create('/db/1.sst');
    f.append(utf8('table'));
    f.syncSync();
    fs.syncDirSync('/db');
    fs.link('/db/1.sst', '/snap/1.sst');
    fs.syncDirSync('/snap');
    f.append(utf8('-unsynced'));
    fs.crash();
    expect(text(fs, '/snap/1.sst')).toBe('table');
    expect(text(fs, '/db/1.sst')).toBe('table');
  });

  it('brings back the synced content of a file truncated by create() since its sync', () => {
    const fs = fresh();
    const f = fs.create('/db/f');
    f.append(utf8('synced'));
    f.syncSync();
    fs.syncDirSync('/db');
    fs.create('/db/f').append(utf8('rewritten'));
    fs.crash();
    expect(text(fs, '/db/f')).toBe('synced');
  });

  it('can keep part of an unsynced tail', () => {
    const fs = fresh();
    const f = fs.create('/db/wal');
    fs.syncDirSync('/db');
    f.append(utf8('abc'));
    f.syncSync();
    f.append(utf8('defgh'));
    const seen: number[] = [];
    fs.crash({ keepUnsyncedBytes: (n) => (seen.push(n), 2) });
    expect(seen).toEqual([5]);
    expect(text(fs, '/db/wal')).toBe('abcde');
  });

  it('kills handles opened before the crash', () => {
    const fs = fresh();
    const f = fs.create('/db/f');
    fs.syncDirSync('/db');
    const r = fs.openRead('/db/f');
    const epoch = fs.epoch;
    fs.crash();
    expect(fs.epoch).toBe(epoch + 1);
    expect(errnoOf(() => f.append(utf8('x')))).toBe('EBADF');
    expect(errnoOf(() => f.syncSync())).toBe('EBADF');
    expect(errnoOf(() => r.read(0, 1))).toBe('EBADF');
    const g = fs.openAppend('/db/f');
    g.append(utf8('ok'));
    expect(text(fs, '/db/f')).toBe('ok');
  });
});

describe('CrashableMemFileSystem faults', () => {
  it('fails the chosen call with ENOSPC after the given count, once', async () => {
    const fs = fresh();
    const f = fs.create('/db/f');
    fs.injectError('append', { afterCount: 2 });
    f.append(utf8('1'));
    f.append(utf8('2'));
    expect(errnoOf(() => f.append(utf8('3')))).toBe('ENOSPC');
    f.append(utf8('4'));
    expect(text(fs, '/db/f')).toBe('124');

    fs.injectError('sync', { code: 'EIO' });
    await expect(f.sync()).rejects.toMatchObject({ code: 'LSM_ERR_IO', cause: { code: 'EIO' } });
    fs.crash();
    expect(fs.exists('/db/f')).toBe(false); // never synced into /db either

    fs.injectError('create');
    expect(errnoOf(() => fs.create('/db/g'))).toBe('ENOSPC');
    fs.injectError('rename');
    fs.create('/db/g');
    expect(errnoOf(() => fs.rename('/db/g', '/db/h'))).toBe('ENOSPC');
    expect(fs.list('/db')).toEqual(['g']);
    fs.injectError('syncDir');
    await expect(fs.syncDir('/db')).rejects.toBeInstanceOf(IoError);
    fs.injectError('remove');
    fs.clearErrors();
    fs.remove('/db/g');
  });

  it('writes part of a failing append: a torn write', () => {
    const fs = fresh();
    const f = fs.create('/db/f');
    fs.injectError('append', { partialBytes: 3 });
    expect(errnoOf(() => f.append(utf8('abcdef')))).toBe('ENOSPC');
    expect(text(fs, '/db/f')).toBe('abc');
  });

  it('counts appends, syncs and directory syncs', () => {
    const fs = fresh();
    const f = fs.create('/db/f');
    f.append(utf8('a'));
    f.append(utf8('b'));
    f.syncSync();
    fs.syncDirSync('/db');
    expect(fs.counts).toEqual({ appends: 2, syncs: 1, dirSyncs: 1 });
  });
});

describe('CrashableMemFileSystem preallocation (as NodeFileSystem does it)', () => {
  const filled = (n: number, b: number): Uint8Array => new Uint8Array(n).fill(b);

  it('holds a step of zeros past the appends; a crash zeroes unsynced appends inside synced zeros', async () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/d');
    const f = fs.create('/d/w', { preallocateBytes: 4096 });
    fs.syncDirSync('/d');
    f.append(filled(100, 1));
    await f.sync();
    expect(fs.fileSize('/d/w')).toBe(4096);
    expect(f.size()).toBe(100);
    f.append(filled(50, 2)); // unsynced, inside the synced zeros
    fs.crash({ keepUnsyncedBytes: (n) => n - 10 });
    const bytes = fs.readFile('/d/w');
    expect(bytes.length).toBe(4096);
    expect([bytes[99], bytes[100], bytes[139], bytes[140], bytes[4095]]).toEqual([1, 2, 2, 0, 0]);
  });

  it('grows by steps, trims to the appends, and a crash before the next sync undoes the trim', async () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/d');
    const f = fs.create('/d/w', { preallocateBytes: 4096 });
    fs.syncDirSync('/d');
    f.append(filled(4000, 1));
    f.append(filled(200, 3)); // past the first step
    await f.sync();
    expect(fs.fileSize('/d/w')).toBe(8192);
    f.trimPreallocation!();
    expect(fs.fileSize('/d/w')).toBe(4200);
    fs.crash();
    expect(fs.fileSize('/d/w')).toBe(8192); // the trim was not synced
    const g = fs.create('/d/v', { preallocateBytes: 4096 });
    fs.syncDirSync('/d');
    g.append(filled(10, 5));
    g.trimPreallocation!();
    await g.sync();
    g.close();
    fs.crash();
    expect(fs.readFile('/d/v')).toEqual(filled(10, 5));
  });
});
