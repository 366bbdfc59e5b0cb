/**
 * The backup file (docs/format/backup.md): golden bytes (test/golden/backup-v1.bin, backup-v2.bin),
 * a round trip, a version-2 length of 32 modulo 512 (what etcdctl 3.4 checks of a snapshot),
 * and damage: every flipped byte and every truncation is a CorruptionError naming an offset at or
 * before the damage. LSMRAFT_REWRITE_GOLDEN=1 rewrites the golden file (then review the diff).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { crc32c } from '../../src/format/crc32c.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { BACKUP_FOOTER_BYTES, BACKUP_FORMAT_VERSION, BackupFileWriter, readBackupFile, type BackupHeader } from '../../src/node/snapshot/backup-file.js';
import { utf8 } from '../../src/util/bytes.js';

const REWRITE = process.env.LSMRAFT_REWRITE_GOLDEN === '1';
const goldenPath = (version: number): string => fileURLToPath(new URL(`../golden/backup-v${version}.bin`, import.meta.url));

/** Two files (one empty) cut in chunks of 4 bytes: 'CURRENT' of 10 bytes and an empty '000003.log'. */
const CONTENTS: [string, Uint8Array][] = [['CURRENT', utf8('MANIFEST-1')], ['000003.log', new Uint8Array(0)]];
const HEADER: BackupHeader = {
  chunkBytes: 4, index: 1234, term: 5,
  files: CONTENTS.map(([name, data]) => ({ name, size: data.length, crc32c: crc32c(data) })),
};

async function writeBackup(fs: CrashableMemFileSystem, path: string, version = BACKUP_FORMAT_VERSION): Promise<{ bytes: number; sha256: string }> {
  const w = BackupFileWriter.create(fs, path, { ...HEADER, version });
  for (const [, data] of CONTENTS) {
    // ceil(size / 4) pieces, one for an empty file.
    let offset = 0;
    do {
      const piece = data.subarray(offset, offset + HEADER.chunkBytes);
      w.appendChunk(piece, crc32c(piece));
      offset += piece.length;
    } while (offset < data.length);
  }
  return w.finish();
}

async function readAll(fs: CrashableMemFileSystem, path: string): Promise<{ files: Uint8Array[][]; sha256: string; index: number }> {
  const files: Uint8Array[][] = [];
  const r = await readBackupFile(fs, path, {
    header: (h) => h.files.forEach(() => files.push([])),
    data: (i, d) => files[i]!.push(d.slice()),
    fileDone: async () => {},
  });
  return { files, sha256: r.sha256, index: r.index };
}

async function expectCorrupt(p: Promise<unknown>, damageAt: number, what: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, what).toBeInstanceOf(CorruptionError);
  const c = err as CorruptionError;
  expect(c.code).toBe('LSM_ERR_CORRUPTION');
  expect(c.offset, `${what}: ${c.message}`).toBeTypeOf('number');
  expect(c.offset!, `${what}: ${c.message}`).toBeLessThanOrEqual(damageAt);
}

describe.each([1, 2])('backup file (docs/format/backup.md, version %i)', (version) => {
  it(`backup-v${version}.bin is unchanged and reads back`, async () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/b');
    const { bytes, sha256 } = await writeBackup(fs, '/b/x.bak', version);
    expect(fs.exists('/b/x.bak.tmp')).toBe(false);
    const got = fs.readFile('/b/x.bak');
    expect(got.length).toBe(bytes);
    if (version === 2) expect(got.length % 512).toBe(32);
    if (REWRITE) writeFileSync(goldenPath(version), got);
    expect(Buffer.from(got).toString('hex')).toBe(readFileSync(goldenPath(version)).toString('hex'));
    const back = await readAll(fs, '/b/x.bak');
    expect(back.sha256).toBe(sha256);
    expect(back.index).toBe(1234);
    expect(Buffer.concat(back.files[0]!).toString()).toBe('MANIFEST-1');
    expect(back.files[1]!.map((d) => d.length)).toEqual([0]);
  });

  it('a flipped byte anywhere, or a truncation at any length, is a CorruptionError naming an offset at or before it', async () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/b');
    await writeBackup(fs, '/b/x.bak', version);
    const good = fs.readFile('/b/x.bak');
    // Bounded by the file's length (about 140 bytes in version 1, 544 in version 2), twice.
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i]! ^= 0x01;
      const f = fs.create('/b/bad.bak');
      f.append(bad);
      f.close();
      await expectCorrupt(readAll(fs, '/b/bad.bak'), i, `byte ${i} flipped`);
    }
    for (let n = 0; n < good.length; n++) {
      const f = fs.create('/b/short.bak');
      f.append(good.subarray(0, n));
      f.close();
      await expectCorrupt(readAll(fs, '/b/short.bak'), n, `truncated to ${n}`);
    }
    expect(good.length).toBeGreaterThan(BACKUP_FOOTER_BYTES);
  });

  it('the writer refuses a chunk whose data does not match its CRC32C, and leaves no file', async () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/b');
    const w = BackupFileWriter.create(fs, '/b/y.bak', HEADER);
    expect(() => w.appendChunk(utf8('MANI'), crc32c(utf8('MANX')))).toThrow(CorruptionError);
    w.abort();
    expect(fs.list('/b')).toEqual([]);
  });
});
