/**
 * NodeFileSystem: the FileSystem of src/lsm/fs.ts over real files, after leveldb's PosixEnv
 * (util/env_posix.cc) and Pebble's vfs.Default.
 *
 * Appends and reads are node:fs sync calls (write(2)/pread(2) straight to the page cache); sync()
 * is fdatasync(2) (fsync(2) after a size change, see NodeWritableFile) through libuv's thread pool so the main thread keeps running while the disk
 * flushes; syncDir() opens the directory read-only and fsyncs it, which is what makes creations,
 * renames and removals in it durable on Linux.
 *
 * Every system error becomes an IoError naming the operation and the path, with the Node error (and
 * so its errno `code`, e.g. ENOENT, ENOSPC) kept as `cause`. Errors that are not system errors
 * (a TypeError from a wrong argument) are bugs and propagate as they are.
 */
import * as fs from 'node:fs';
import { IoError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { CreateOptions, DirLock, FileSystem, RandomAccessFile, WritableFile } from './fs.js';
import { lockRealDirectory } from './lock.js';
import { throwIoError } from './system-error.js';

/** Runs a node:fs call, turning a system error into the IoError of throwIoError. */
function ioCall<T>(operation: string, path: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    throwIoError(operation, path, err);
  }
}

function asBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

class NodeWritableFile implements WritableFile {
  readonly path: string;
  private fd: number;
  private sizeBytes: number;
  private syncsInFlight = 0;
  /** The file's size on disk: sizeBytes, or more while preallocated zeros lie past it. */
  private diskSizeBytes: number;
  /** Bytes the file grows by ahead of its appends (CreateOptions.preallocateBytes); 0: none. */
  private readonly preallocateBytes: number;
  /**
   * Size changes (ftruncate(2) growing or trimming the file) made so far, and how many of them a
   * completed fsync(2) covers. While one is not covered, sync() is fsync(2), not fdatasync(2): a
   * size set by ftruncate(2) is made durable by fsync(2) on every file system, and the cost (one
   * journal commit) comes once per preallocation step or trim.
   */
  private sizeChanges = 0;
  private sizeChangesSynced = 0;

  constructor(path: string, fd: number, sizeBytes: number, preallocateBytes = 0) {
    assert(Number.isSafeInteger(preallocateBytes) && preallocateBytes >= 0, () => `bad preallocateBytes ${preallocateBytes}`);
    this.path = path;
    this.fd = fd;
    this.sizeBytes = sizeBytes;
    this.diskSizeBytes = sizeBytes;
    this.preallocateBytes = preallocateBytes;
  }

  append(data: Uint8Array): void {
    assert(this.fd >= 0, () => `append to closed file ${this.path}`);
    const end = this.sizeBytes + data.length;
    if (this.preallocateBytes > 0 && end > this.diskSizeBytes) {
      const grown = Math.ceil(end / this.preallocateBytes) * this.preallocateBytes;
      ioCall('preallocate', this.path, () => fs.ftruncateSync(this.fd, grown));
      this.diskSizeBytes = grown;
      this.sizeChanges++;
    }
    // A preallocated file is written at explicit offsets (its end on disk is past sizeBytes); the
    // others at the file position, which create() and openAppend() leave at the end.
    const positioned = this.preallocateBytes > 0;
    let written = 0;
    // write(2) may write less than asked (signals, quotas); each round writes at least one byte or
    // throws, so the loop runs at most data.length times.
    while (written < data.length) {
      let n: number;
      try {
        n = fs.writeSync(this.fd, data, written, data.length - written, positioned ? this.sizeBytes + written : null);
      } catch (err) {
        // The bytes written before the failure are in the file: keep size() honest.
        this.sizeBytes += written;
        throwIoError('append', this.path, err);
      }
      assert(n > 0, () => `write(2) of ${this.path} returned ${n}`);
      written += n;
    }
    this.sizeBytes += written;
    if (this.sizeBytes > this.diskSizeBytes) this.diskSizeBytes = this.sizeBytes;
  }

  sync(): Promise<void> {
    assert(this.fd >= 0, () => `sync of closed file ${this.path}`);
    const fd = this.fd;
    const sizeChanges = this.sizeChanges;
    const full = sizeChanges !== this.sizeChangesSynced;
    this.syncsInFlight++;
    return new Promise((resolve, reject) => {
      const done = (err: NodeJS.ErrnoException | null): void => {
        this.syncsInFlight--;
        if (err === null) {
          if (full) this.sizeChangesSynced = Math.max(this.sizeChangesSynced, sizeChanges);
          resolve();
        } else reject(new IoError(`sync ${this.path}: ${err.code}: ${err.message}`, err));
      };
      if (full) fs.fsync(fd, done);
      else fs.fdatasync(fd, done);
    });
  }

  syncSync(): void {
    assert(this.fd >= 0, () => `sync of closed file ${this.path}`);
    const sizeChanges = this.sizeChanges;
    if (sizeChanges === this.sizeChangesSynced) {
      ioCall('sync', this.path, () => fs.fdatasyncSync(this.fd));
      return;
    }
    ioCall('sync', this.path, () => fs.fsyncSync(this.fd));
    this.sizeChangesSynced = Math.max(this.sizeChangesSynced, sizeChanges);
  }

  trimPreallocation(): void {
    assert(this.fd >= 0, () => `trim of closed file ${this.path}`);
    if (this.diskSizeBytes === this.sizeBytes) return;
    ioCall('trim', this.path, () => fs.ftruncateSync(this.fd, this.sizeBytes));
    this.diskSizeBytes = this.sizeBytes;
    this.sizeChanges++;
  }

  size(): number {
    return this.sizeBytes;
  }

  /**
   * Idempotent. Does not sync: callers sync what must be durable before closing. Trims the
   * preallocated zeros (not durably: a crash may still leave them, as a torn tail).
   * REQUIRES: no sync() in flight (its fd would be closed, and maybe reused, under it).
   */
  close(): void {
    if (this.fd < 0) return;
    assert(this.syncsInFlight === 0, () => `close of ${this.path} with ${this.syncsInFlight} sync(s) in flight`);
    try {
      this.trimPreallocation();
    } finally {
      const fd = this.fd;
      this.fd = -1;
      ioCall('close', this.path, () => fs.closeSync(fd));
    }
  }
}

class NodeRandomAccessFile implements RandomAccessFile {
  readonly path: string;
  private fd: number;

  constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  read(position: number, length: number): Uint8Array {
    assert(Number.isSafeInteger(length) && length >= 0, () => `bad read length ${length}`);
    const out = new Uint8Array(length);
    const got = this.readInto(out, position);
    return got === length ? out : out.subarray(0, got);
  }

  readInto(out: Uint8Array, position: number): number {
    assert(this.fd >= 0, () => `read of closed file ${this.path}`);
    assert(Number.isSafeInteger(position) && position >= 0, () => `bad read position ${position}`);
    const length = out.length;
    let got = 0;
    // pread(2) may return short reads; a 0 return is end of file. Each round advances or stops.
    while (got < length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, out, got, length - got, position + got);
      } catch (err) {
        throwIoError('read', this.path, err);
      }
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  size(): number {
    assert(this.fd >= 0, () => `size of closed file ${this.path}`);
    return ioCall('stat', this.path, () => fs.fstatSync(this.fd).size);
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    ioCall('close', this.path, () => fs.closeSync(fd));
  }
}

export class NodeFileSystem implements FileSystem {
  /** Real files: a worker's own NodeFileSystem opens the same paths. */
  readonly reachableFromWorkers = true;

  /** The LOCK file plus this process's registry of locked real paths (src/lsm/lock.ts). */
  lock(dir: string): DirLock {
    return lockRealDirectory(dir);
  }

  create(path: string, options?: CreateOptions): WritableFile {
    return ioCall('create', path, () => new NodeWritableFile(path, fs.openSync(path, 'w'), 0, options?.preallocateBytes ?? 0));
  }

  openAppend(path: string): WritableFile {
    let fd = -1;
    try {
      fd = fs.openSync(path, 'a');
      return new NodeWritableFile(path, fd, fs.fstatSync(fd).size);
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      throwIoError('open for append', path, err);
    }
  }

  openRead(path: string): RandomAccessFile {
    return ioCall('open', path, () => new NodeRandomAccessFile(path, fs.openSync(path, 'r')));
  }

  readFile(path: string): Uint8Array {
    return ioCall('read', path, () => asBytes(fs.readFileSync(path)));
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  fileSize(path: string): number {
    return ioCall('stat', path, () => fs.statSync(path).size);
  }

  rename(from: string, to: string): void {
    ioCall(`rename to ${to}`, from, () => fs.renameSync(from, to));
  }

  remove(path: string): void {
    ioCall('remove', path, () => fs.unlinkSync(path));
  }

  async removeAsync(path: string): Promise<void> {
    try {
      await fs.promises.unlink(path);
    } catch (err) {
      throwIoError('remove', path, err);
    }
  }

  removeDir(dir: string): void {
    ioCall('removeDir', dir, () => fs.rmdirSync(dir));
  }

  link(existingPath: string, newPath: string): void {
    ioCall(`link to ${newPath}`, existingPath, () => fs.linkSync(existingPath, newPath));
  }

  mkdirp(dir: string): void {
    ioCall('mkdir', dir, () => fs.mkdirSync(dir, { recursive: true }));
  }

  list(dir: string): string[] {
    return ioCall('list', dir, () => fs.readdirSync(dir).sort());
  }

  async syncDir(dir: string): Promise<void> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(dir, 'r');
    } catch (err) {
      throwIoError('open directory', dir, err);
    }
    try {
      await handle.sync();
    } catch (err) {
      await handle.close();
      throwIoError('sync directory', dir, err);
    }
    try {
      await handle.close();
    } catch (err) {
      throwIoError('close directory', dir, err);
    }
  }

  syncDirSync(dir: string): void {
    let fd: number;
    try {
      fd = fs.openSync(dir, 'r');
    } catch (err) {
      throwIoError('open directory', dir, err);
    }
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      throwIoError('sync directory', dir, err);
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      throwIoError('close directory', dir, err);
    }
  }
}

/** The process-wide real file system (stateless: one instance serves every tree). */
export const nodeFileSystem = new NodeFileSystem();
