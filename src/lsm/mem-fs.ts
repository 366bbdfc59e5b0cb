/**
 * CrashableMemFileSystem: an in-memory FileSystem that can crash, keeping only what was made durable
 * (after Pebble's vfs.NewCrashableMem and leveldb's db/fault_injection_test.cc). It enforces the
 * durability contract of src/lsm/fs.ts:
 *
 * - a file is an inode with its current bytes and its synced length: sync() makes the current bytes
 *   durable; a crash truncates the file back to what was synced;
 * - a preallocating create() (CreateOptions) extends the file with zeros in steps, as
 *   NodeWritableFile's ftruncate(2) does; appends then land inside the size, and a crash zeroes
 *   those not synced (keeping the synced size), while a trim not yet synced is undone;
 * - a directory has its current entries and its durable entries: syncDir() makes the current ones
 *   durable; a crash reverts them, so unsynced creations vanish and unsynced removals, renames and
 *   links are undone. Entries point at inodes, so a link or a rename shares the file's bytes.
 *
 * Leniency (kept on purpose, so a tree can create its directory once and forget it): mkdirp makes
 * new directories durable at once, as if the parent had been synced.
 *
 * Faults: injectError(op, ...) makes a later call of `op` throw an IoError whose cause carries an
 * errno code (ENOSPC by default), optionally after writing part of an append (a torn write).
 * crash() can also keep a chosen prefix of each file's unsynced bytes, as a disk that flushed some
 * pages on its own would.
 *
 * After crash(), every handle opened before it is dead: any call on it throws IoError (EBADF), as
 * the process that held it is gone. So is every directory lock taken before it (lock()): the
 * "process" that held it died, so a test can reopen the tree after crash().
 */
import * as posix from 'node:path/posix';
import { IoError, LockedError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { CreateOptions, DirLock, FileSystem, RandomAccessFile, WritableFile } from './fs.js';

export type MemFsOp =
  | 'append' | 'sync' | 'create' | 'openAppend' | 'openRead' | 'read' | 'readFile'
  | 'rename' | 'remove' | 'link' | 'mkdirp' | 'list' | 'syncDir';

export interface InjectErrorOptions {
  /** Calls of `op` that succeed before the failing one. Default 0: the very next call fails. */
  afterCount?: number;
  /** errno code of the cause. Default 'ENOSPC' (disk full). */
  code?: string;
  /** For 'append': bytes of the data written before the failure (a torn write). Default 0. */
  partialBytes?: number;
}

export interface CrashOptions {
  /**
   * For each file with unsynced bytes, how many of them survive (0..unsyncedBytes). Default: none.
   * Lets a test model a disk that wrote back some pages of an unsynced tail before power was lost.
   */
  keepUnsyncedBytes?: (unsyncedBytes: number) => number;
}

/** Operation counts since construction, for tests that check how often the tree syncs. */
export interface MemFsCounts {
  appends: number;
  syncs: number;
  dirSyncs: number;
}

class Inode {
  /**
   * Current bytes are bytes[0..length), where bytes past bytes.length are zeros held by no memory (a
   * preallocated file's tail); bytes[length..bytes.length) are zero.
   */
  bytes = new Uint8Array(64);
  length = 0;
  /** Durable bytes: bytes[0..syncedLength) unless a truncation since the last sync saved them. */
  syncedLength = 0;
  /** Set when the file was truncated after its last sync: the durable bytes, kept apart. */
  durableCopy: { bytes: Uint8Array; length: number } | null = null;
  /**
   * Bytes written since the last sync inside the durable length (a preallocated file's appends land
   * in its synced zeros): [dirtyFrom, dirtyTo), empty when equal. Zero before those writes (assert),
   * so a crash that loses them zeroes them.
   */
  dirtyFrom = 0;
  dirtyTo = 0;

  private reserve(need: number): void {
    if (need <= this.bytes.length) return;
    let cap = this.bytes.length;
    while (cap < need) cap *= 2;
    const grown = new Uint8Array(cap);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  append(data: Uint8Array): void {
    this.writeAt(this.length, data);
  }

  /** Writes `data` at `offset` (at most the length: no holes), extending the file past its end. */
  writeAt(offset: number, data: Uint8Array): void {
    assert(offset <= this.length, () => `write at ${offset} past the end ${this.length}`);
    const end = offset + data.length;
    this.reserve(end);
    const inPlaceEnd = Math.min(end, this.syncedLength);
    if (offset < inPlaceEnd) {
      assert(this.bytes.subarray(offset, inPlaceEnd).every((b) => b === 0), 'a write over synced bytes that are not preallocated zeros');
      if (this.dirtyFrom === this.dirtyTo) this.dirtyFrom = offset;
      this.dirtyFrom = Math.min(this.dirtyFrom, offset);
      this.dirtyTo = Math.max(this.dirtyTo, inPlaceEnd);
    }
    this.bytes.set(data, offset);
    this.length = Math.max(this.length, end);
  }

  /** ftruncate(2): zeros past the old end when growing; a shrink below the synced length is undone by a crash. */
  setLength(n: number): void {
    if (n >= this.length) {
      this.length = n;
      return;
    }
    if (n < this.syncedLength && this.durableCopy === null) {
      this.durableCopy = { bytes: this.bytes.slice(0, this.syncedLength), length: this.syncedLength };
    }
    this.bytes.fill(0, n, this.length);
    this.length = n;
    this.syncedLength = Math.min(this.syncedLength, n);
    this.dirtyTo = Math.min(this.dirtyTo, n);
    this.dirtyFrom = Math.min(this.dirtyFrom, this.dirtyTo);
  }

  truncate(): void {
    this.setLength(0);
  }

  /** A copy of bytes [start, end) (within the length), zeros past bytes.length included. */
  copy(start: number, end: number): Uint8Array {
    const out = new Uint8Array(end - start);
    out.set(this.bytes.subarray(start, Math.min(end, this.bytes.length)));
    return out;
  }

  sync(): void {
    this.syncedLength = this.length;
    this.durableCopy = null;
    this.dirtyFrom = this.dirtyTo = 0;
  }

  /** Reverts to the durable bytes plus `keepUnsynced` bytes of the unsynced tail (and of in-place writes). */
  crash(keepUnsynced: CrashOptions['keepUnsyncedBytes']): void {
    const kept = (unsynced: number): number => {
      if (unsynced === 0 || keepUnsynced === undefined) return 0;
      const k = keepUnsynced(unsynced);
      assert(Number.isInteger(k) && k >= 0 && k <= unsynced, () => `keepUnsyncedBytes returned ${k} of ${unsynced}`);
      return k;
    };
    if (this.durableCopy !== null) {
      // Truncated since the last sync: the old durable bytes come back, nothing newer survives.
      this.bytes = new Uint8Array(Math.max(64, this.durableCopy.bytes.length));
      this.bytes.set(this.durableCopy.bytes);
      this.length = this.durableCopy.length;
      this.durableCopy = null;
    } else {
      if (this.dirtyFrom < this.dirtyTo) this.bytes.fill(0, this.dirtyFrom + kept(this.dirtyTo - this.dirtyFrom), this.dirtyTo);
      const length = this.syncedLength + kept(this.length - this.syncedLength);
      this.bytes.fill(0, length, this.length);
      this.length = length;
    }
    this.syncedLength = this.length;
    this.dirtyFrom = this.dirtyTo = 0;
  }
}

class Dir {
  entries = new Map<string, Inode | Dir>();
  durable = new Map<string, Inode | Dir>();
}

interface Fault {
  remaining: number;
  code: string;
  partialBytes: number;
}

export class CrashableMemFileSystem implements FileSystem {
  /** Its files live in this thread's memory only. */
  readonly reachableFromWorkers = false;
  private root = new Dir();
  /** Bumped by crash(); handles remember the epoch they were opened in. */
  private epochValue = 0;
  private readonly faults = new Map<MemFsOp, Fault>();
  readonly counts: MemFsCounts = { appends: 0, syncs: 0, dirSyncs: 0 };
  /** Locked directories (normalized paths) -> the crash epoch they were locked in. */
  private readonly locks = new Map<string, number>();

  /** Number of crashes so far. A handle (or a lock, lock()) from an older epoch is dead. */
  get epoch(): number {
    return this.epochValue;
  }

  /** Makes a later call of `op` fail with an IoError (see InjectErrorOptions). One fault per op. */
  injectError(op: MemFsOp, options: InjectErrorOptions = {}): void {
    const afterCount = options.afterCount ?? 0;
    const partialBytes = options.partialBytes ?? 0;
    assert(Number.isInteger(afterCount) && afterCount >= 0, 'afterCount must be a non-negative integer');
    assert(Number.isInteger(partialBytes) && partialBytes >= 0, 'partialBytes must be a non-negative integer');
    this.faults.set(op, { remaining: afterCount, code: options.code ?? 'ENOSPC', partialBytes });
  }

  clearErrors(): void {
    this.faults.clear();
  }

  /**
   * The directory lock of this file system: a registry of locked directories. A lock from an
   * earlier epoch (before a crash) no longer counts.
   */
  lock(dir: string): DirLock {
    const key = posix.resolve('/', dir);
    const epoch = this.epochValue;
    if (this.locks.get(key) === epoch) throw new LockedError(dir, 'another open tree on this file system');
    this.locks.set(key, epoch);
    let released = false;
    return {
      dir,
      release: () => {
        if (released) return;
        released = true;
        // A lock from before a crash may have been taken again since: leave that one alone.
        if (this.locks.get(key) === epoch) this.locks.delete(key);
      },
    };
  }

  /** Loses everything not durable and kills every open handle (see the module comment). */
  crash(options: CrashOptions = {}): void {
    this.epochValue++;
    const seen = new Set<Inode>();
    // Walk the durable tree only: directories that were never durable are gone with their files.
    const stack: Dir[] = [this.root];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      dir.entries = new Map(dir.durable);
      for (const node of dir.entries.values()) {
        if (node instanceof Dir) {
          stack.push(node);
        } else if (!seen.has(node)) {
          seen.add(node);
          node.crash(options.keepUnsyncedBytes);
        }
      }
    }
  }

  // ---- FileSystem ----

  create(path: string, options?: CreateOptions): WritableFile {
    this.fault('create', path);
    const { inode, full, existed } = this.fileOrNew(path, 'create');
    if (existed) inode.truncate();
    return new MemWritableFile(this, full, inode, options?.preallocateBytes ?? 0);
  }

  openAppend(path: string): WritableFile {
    this.fault('openAppend', path);
    const { inode, full } = this.fileOrNew(path, 'open for append');
    return new MemWritableFile(this, full, inode);
  }

  openRead(path: string): RandomAccessFile {
    this.fault('openRead', path);
    const full = normalize(path);
    return new MemRandomAccessFile(this, full, this.file(full, 'open'));
  }

  readFile(path: string): Uint8Array {
    this.fault('readFile', path);
    const full = normalize(path);
    const inode = this.file(full, 'read');
    return inode.copy(0, inode.length);
  }

  exists(path: string): boolean {
    return this.lookup(normalize(path)) !== undefined;
  }

  fileSize(path: string): number {
    const full = normalize(path);
    return this.file(full, 'stat').length;
  }

  rename(from: string, to: string): void {
    this.fault('rename', from);
    const src = this.parent(from, 'rename');
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw ioError('rename', src.full, 'ENOENT');
    const dst = this.parent(to, 'rename');
    if (node instanceof Dir) throw ioError('rename', src.full, 'EISDIR');
    if (dst.dir.entries.get(dst.name) instanceof Dir) throw ioError('rename', dst.full, 'EISDIR');
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
  }

  remove(path: string): void {
    this.fault('remove', path);
    const { dir, name, full } = this.parent(path, 'remove');
    const node = dir.entries.get(name);
    if (node === undefined) throw ioError('remove', full, 'ENOENT');
    if (node instanceof Dir) throw ioError('remove', full, 'EISDIR');
    dir.entries.delete(name);
  }

  async removeAsync(path: string): Promise<void> {
    this.remove(path);
  }

  removeDir(path: string): void {
    this.fault('remove', path);
    const { dir, name, full } = this.parent(path, 'removeDir');
    const node = dir.entries.get(name);
    if (node === undefined) throw ioError('removeDir', full, 'ENOENT');
    if (!(node instanceof Dir)) throw ioError('removeDir', full, 'ENOTDIR');
    if (node.entries.size > 0) throw ioError('removeDir', full, 'ENOTEMPTY');
    dir.entries.delete(name);
  }

  link(existingPath: string, newPath: string): void {
    this.fault('link', existingPath);
    const full = normalize(existingPath);
    const inode = this.file(full, 'link');
    const dst = this.parent(newPath, 'link');
    if (dst.dir.entries.has(dst.name)) throw ioError('link', dst.full, 'EEXIST');
    dst.dir.entries.set(dst.name, inode);
  }

  mkdirp(dir: string): void {
    this.fault('mkdirp', dir);
    const full = normalize(dir);
    let cur = this.root;
    for (const part of components(full)) {
      const next = cur.entries.get(part);
      if (next instanceof Dir) {
        cur = next;
        continue;
      }
      if (next !== undefined) throw ioError('mkdir', full, 'ENOTDIR');
      const made = new Dir();
      cur.entries.set(part, made);
      cur.durable.set(part, made); // the leniency of the module comment
      cur = made;
    }
  }

  list(dir: string): string[] {
    this.fault('list', dir);
    return [...this.dir(normalize(dir), 'list').entries.keys()].sort();
  }

  syncDir(dir: string): Promise<void> {
    try {
      this.syncDirSync(dir);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  syncDirSync(dir: string): void {
    this.fault('syncDir', dir);
    const d = this.dir(normalize(dir), 'sync directory');
    d.durable = new Map(d.entries);
    this.counts.dirSyncs++;
  }

  // ---- used by the handles ----

  /** For the handles: throws the injected fault for `op` if it is due, else counts down its afterCount. */
  fault(op: MemFsOp, path: string): void {
    const f = this.faults.get(op);
    if (f === undefined) return;
    if (f.remaining > 0) {
      f.remaining--;
      return;
    }
    this.faults.delete(op);
    throw ioError(op, normalize(path), f.code);
  }

  /** For append: the injected fault due now, consumed, or undefined. */
  takeAppendFault(): Fault | undefined {
    const f = this.faults.get('append');
    if (f === undefined) return undefined;
    if (f.remaining > 0) {
      f.remaining--;
      return undefined;
    }
    this.faults.delete('append');
    return f;
  }

  checkEpoch(epoch: number, path: string, op: string): void {
    if (epoch !== this.epochValue) throw ioError(op, path, 'EBADF');
  }

  // ---- path resolution ----

  private lookup(full: string): Inode | Dir | undefined {
    let cur: Inode | Dir = this.root;
    for (const part of components(full)) {
      if (!(cur instanceof Dir)) return undefined;
      const next: Inode | Dir | undefined = cur.entries.get(part);
      if (next === undefined) return undefined;
      cur = next;
    }
    return cur;
  }

  private dir(full: string, op: string): Dir {
    const node = this.lookup(full);
    if (node === undefined) throw ioError(op, full, 'ENOENT');
    if (!(node instanceof Dir)) throw ioError(op, full, 'ENOTDIR');
    return node;
  }

  private file(full: string, op: string): Inode {
    const node = this.lookup(full);
    if (node === undefined) throw ioError(op, full, 'ENOENT');
    if (node instanceof Dir) throw ioError(op, full, 'EISDIR');
    return node;
  }

  /** The file at `path`, created empty if absent (its directory must exist); a directory there is EISDIR. */
  private fileOrNew(path: string, op: string): { inode: Inode; full: string; existed: boolean } {
    const { dir, name, full } = this.parent(path, op);
    const existing = dir.entries.get(name);
    if (existing instanceof Dir) throw ioError(op, full, 'EISDIR');
    if (existing !== undefined) return { inode: existing, full, existed: true };
    const inode = new Inode();
    dir.entries.set(name, inode);
    return { inode, full, existed: false };
  }

  private parent(path: string, op: string): { dir: Dir; name: string; full: string } {
    const full = normalize(path);
    if (full === '/') throw ioError(op, full, 'EISDIR');
    return { dir: this.dir(posix.dirname(full), op), name: posix.basename(full), full };
  }
}

/**
 * What both kinds of open file hold: the inode and the crash epoch the file was opened in. A handle
 * opened before a crash() must fail rather than touch the inode of the new, post-crash image.
 */
abstract class MemOpenFile {
  readonly path: string;
  protected readonly fs: CrashableMemFileSystem;
  protected readonly inode: Inode;
  protected readonly epoch: number;
  protected closed = false;

  constructor(fs: CrashableMemFileSystem, path: string, inode: Inode) {
    this.fs = fs;
    this.path = path;
    this.inode = inode;
    this.epoch = fs.epoch;
  }

  size(): number {
    this.fs.checkEpoch(this.epoch, this.path, 'stat');
    return this.inode.length;
  }

  close(): void {
    this.closed = true;
  }
}

class MemWritableFile extends MemOpenFile implements WritableFile {
  /** Bytes appended (the file's size on disk is more while preallocated zeros lie past them). */
  private logicalBytes: number;

  constructor(
    fs: CrashableMemFileSystem,
    path: string,
    inode: Inode,
    /** CreateOptions.preallocateBytes, as NodeWritableFile does it (src/lsm/node-fs.ts); 0: none. */
    private readonly preallocateBytes = 0,
  ) {
    super(fs, path, inode);
    this.logicalBytes = inode.length;
  }

  override size(): number {
    this.fs.checkEpoch(this.epoch, this.path, 'stat');
    return this.preallocateBytes > 0 ? this.logicalBytes : this.inode.length;
  }

  append(data: Uint8Array): void {
    assert(!this.closed, () => `append to closed file ${this.path}`);
    this.fs.checkEpoch(this.epoch, this.path, 'append');
    const at = this.preallocateBytes > 0 ? this.logicalBytes : this.inode.length;
    const end = at + data.length;
    if (this.preallocateBytes > 0 && end > this.inode.length) this.inode.setLength(Math.ceil(end / this.preallocateBytes) * this.preallocateBytes);
    const f = this.fs.takeAppendFault();
    if (f !== undefined) {
      const torn = data.subarray(0, Math.min(f.partialBytes, data.length));
      this.inode.writeAt(at, torn);
      this.logicalBytes = at + torn.length;
      throw ioError('append', this.path, f.code);
    }
    this.inode.writeAt(at, data);
    this.logicalBytes = end;
    this.fs.counts.appends++;
  }

  trimPreallocation(): void {
    assert(!this.closed, () => `trim of closed file ${this.path}`);
    this.fs.checkEpoch(this.epoch, this.path, 'trim');
    if (this.preallocateBytes > 0 && this.inode.length > this.logicalBytes) this.inode.setLength(this.logicalBytes);
  }

  override close(): void {
    // As NodeWritableFile: the zeros go, not durably. A handle from before a crash trims nothing.
    if (!this.closed && this.fs.epoch === this.epoch) this.trimPreallocation();
    super.close();
  }

  sync(): Promise<void> {
    try {
      this.syncSync();
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  syncSync(): void {
    assert(!this.closed, () => `sync of closed file ${this.path}`);
    this.fs.checkEpoch(this.epoch, this.path, 'sync');
    this.fs.fault('sync', this.path);
    this.inode.sync();
    this.fs.counts.syncs++;
  }
}

class MemRandomAccessFile extends MemOpenFile implements RandomAccessFile {
  read(position: number, length: number): Uint8Array {
    assert(!this.closed, () => `read of closed file ${this.path}`);
    assert(Number.isSafeInteger(position) && position >= 0, () => `bad read position ${position}`);
    assert(Number.isSafeInteger(length) && length >= 0, () => `bad read length ${length}`);
    this.fs.checkEpoch(this.epoch, this.path, 'read');
    this.fs.fault('read', this.path);
    const start = Math.min(position, this.inode.length);
    const end = Math.min(position + length, this.inode.length);
    // A copy: the caller may keep it while the file grows (a WAL being read as it is written).
    return this.inode.copy(start, end);
  }

  readInto(buf: Uint8Array, position: number): number {
    assert(!this.closed, () => `read of closed file ${this.path}`);
    assert(Number.isSafeInteger(position) && position >= 0, () => `bad read position ${position}`);
    this.fs.checkEpoch(this.epoch, this.path, 'read');
    this.fs.fault('read', this.path);
    const start = Math.min(position, this.inode.length);
    const end = Math.min(position + buf.length, this.inode.length);
    const held = Math.max(start, Math.min(end, this.inode.bytes.length));
    buf.set(this.inode.bytes.subarray(start, held));
    buf.fill(0, held - start, end - start);
    return end - start;
  }
}

function normalize(path: string): string {
  return posix.resolve('/', path);
}

function components(full: string): string[] {
  return full === '/' ? [] : full.slice(1).split('/');
}

function ioError(op: string, path: string, code: string): IoError {
  const cause = Object.assign(new Error(`${code}: ${op} ${path}`), { code });
  return new IoError(`${op} ${path}: ${code}`, cause);
}
