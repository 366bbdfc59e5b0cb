/**
 * A "process" view of a file system for crash tests: every call goes to the underlying file system
 * until kill(), after which every call throws, as the calls of a SIGKILLed process never happen.
 * With CrashableMemFileSystem.crash() this models kill -9 plus power loss: the dead tree's pending
 * jobs and timers cannot touch the files the restarted tree opens.
 */
import { IoError } from '../../src/errors.js';
import type { DirLock, FileSystem, RandomAccessFile, WritableFile } from '../../src/lsm/fs.js';

export class ProcessFileSystem implements FileSystem {
  private dead = false;
  constructor(private readonly inner: FileSystem) {}

  /** False: a worker would reach the files past kill(), so the tree runs its jobs inline. */
  readonly reachableFromWorkers = false;

  kill(): void {
    this.dead = true;
  }

  private check(op: string, path: string): void {
    if (this.dead) throw new IoError(`${op} ${path}: process was killed`);
  }

  private wrapWritable(f: WritableFile): WritableFile {
    const check = (op: string) => this.check(op, f.path);
    return {
      path: f.path,
      append: (data) => (check('append'), f.append(data)),
      sync: async () => (check('sync'), f.sync()),
      syncSync: () => (check('sync'), f.syncSync()),
      size: () => f.size(),
      close: () => f.close(),
    };
  }

  private wrapReadable(f: RandomAccessFile): RandomAccessFile {
    const check = (op: string) => this.check(op, f.path);
    return {
      path: f.path,
      read: (position, length) => (check('read'), f.read(position, length)),
      size: () => f.size(),
      close: () => f.close(),
    };
  }

  /** The wrapped file system's lock (a crash() of CrashableMemFileSystem ends it). */
  lock(dir: string): DirLock {
    this.check('lock', dir);
    return this.inner.lock(dir);
  }
  create(path: string): WritableFile {
    this.check('create', path);
    return this.wrapWritable(this.inner.create(path));
  }
  openAppend(path: string): WritableFile {
    this.check('openAppend', path);
    return this.wrapWritable(this.inner.openAppend(path));
  }
  openRead(path: string): RandomAccessFile {
    this.check('openRead', path);
    return this.wrapReadable(this.inner.openRead(path));
  }
  readFile(path: string): Uint8Array {
    this.check('readFile', path);
    return this.inner.readFile(path);
  }
  exists(path: string): boolean {
    this.check('exists', path);
    return this.inner.exists(path);
  }
  fileSize(path: string): number {
    this.check('fileSize', path);
    return this.inner.fileSize(path);
  }
  rename(from: string, to: string): void {
    this.check('rename', from);
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.check('remove', path);
    this.inner.remove(path);
  }
  async removeAsync(path: string): Promise<void> {
    this.check('remove', path);
    await this.inner.removeAsync(path);
  }
  removeDir(dir: string): void {
    this.check('removeDir', dir);
    this.inner.removeDir(dir);
  }
  link(existingPath: string, newPath: string): void {
    this.check('link', existingPath);
    this.inner.link(existingPath, newPath);
  }
  mkdirp(dir: string): void {
    this.check('mkdirp', dir);
    this.inner.mkdirp(dir);
  }
  list(dir: string): string[] {
    this.check('list', dir);
    return this.inner.list(dir);
  }
  async syncDir(dir: string): Promise<void> {
    this.check('syncDir', dir);
    await this.inner.syncDir(dir);
    this.check('syncDir', dir);
  }
  syncDirSync(dir: string): void {
    this.check('syncDir', dir);
    this.inner.syncDirSync(dir);
  }
}
