/**
 * The file-system interface the LSM tree does all its IO through (after Pebble's vfs.FS and
 * leveldb's Env). Two implementations: NodeFileSystem (real files, src/lsm/node-fs.ts) and
 * CrashableMemFileSystem (src/lsm/mem-fs.ts), which on crash() keeps only what was synced.
 *
 * Appends and positional reads are synchronous on purpose: a write() to the page cache or a pread()
 * of a cached page costs microseconds, while a round trip through libuv's thread pool costs tens of
 * them. Only fsync, which can take milliseconds, has an async form for the main thread; workers use
 * the sync forms throughout.
 *
 * Durability contract (what CrashableMemFileSystem enforces):
 * - bytes appended to a file survive a crash only after that file's sync()/syncSync();
 * - a file's creation, a rename and a removal survive a crash only after syncDir() of its directory;
 * - a hard link is a directory entry like any other: it needs syncDir() too.
 */

export interface WritableFile {
  readonly path: string;
  /**
   * Gives back the zeros a preallocating create() (CreateOptions) reserved past size(): the file's
   * size on disk becomes size(), durably after the next sync()/syncSync(). Optional: a file
   * created without preallocation has nothing to give back. A wrapper that passes CreateOptions on
   * to the file system it wraps must pass this on too.
   */
  trimPreallocation?(): void;
  /** Appends bytes (write(2) to the OS: survives a process crash, not a power loss). */
  append(data: Uint8Array): void;
  /** fdatasync(2) off the main thread; resolves once the appended bytes are durable. */
  sync(): Promise<void>;
  /** fdatasync(2), blocking: for workers and for paths already off the hot path. */
  syncSync(): void;
  /** Bytes appended so far (the file's size). */
  size(): number;
  close(): void;
}

export interface RandomAccessFile {
  readonly path: string;
  /** Reads up to `length` bytes at `position`; fewer only at end of file. */
  read(position: number, length: number): Uint8Array;
  /**
   * Reads up to buf.length bytes at `position` into `buf`; returns how many, fewer only at end of
   * file. Optional (a reader falls back to read()): it lets a hot reader reuse its buffers.
   */
  readInto?(buf: Uint8Array, position: number): number;
  size(): number;
  close(): void;
}

/** How create() makes a file; every field is a hint a file system may ignore. */
export interface CreateOptions {
  /**
   * Extend the file with zeros (a hole) ahead of its appends, this many bytes at a time, so an
   * append followed by a sync does not change the file's size: on ext4 and XFS, fdatasync(2) of a
   * write inside the file's size flushes the data without a journal commit for the inode, where an
   * append past the end needs one (the metadata cost RocksDB's recycled WAL files avoid). Until
   * trimPreallocation(), the file's size on disk is a multiple of this, and after a crash it ends
   * in zeros past the last synced append, which a log reader takes for a torn tail
   * (src/lsm/log-format.ts).
   */
  preallocateBytes?: number;
}

/** A held directory lock (FileSystem.lock). */
export interface DirLock {
  readonly dir: string;
  /** Gives the directory up. Idempotent. */
  release(): void;
}

export interface FileSystem {
  /**
   * Takes the exclusive lock of directory `dir` (which exists) for one open tree; LockedError
   * (LSM_ERR_LOCKED) if another holder has it, in this process or another. The file system owns
   * locking because only it knows what "the same directory" is: a file system that wraps another
   * (logging, metrics, fault injection) must delegate to the wrapped one's lock(), or two trees
   * opened through two wrappers would both write one directory.
   */
  lock(dir: string): DirLock;
  /**
   * True when a worker thread can reach these files by path through its own file system object
   * (the real disk); false for one whose files exist only in this thread's memory. The tree runs
   * jobs in the worker pool only when true (src/lsm/job-runner.ts).
   */
  readonly reachableFromWorkers: boolean;
  /** Creates `path` (truncating any existing file) for appending. */
  create(path: string, options?: CreateOptions): WritableFile;
  /** Opens `path` for appending after its current end, creating it if absent. */
  openAppend(path: string): WritableFile;
  openRead(path: string): RandomAccessFile;
  readFile(path: string): Uint8Array;
  exists(path: string): boolean;
  fileSize(path: string): number;
  /** Atomic replace of `to` by `from` (rename(2)). Durable after syncDir(). */
  rename(from: string, to: string): void;
  remove(path: string): void;
  /**
   * remove() off the main thread: unlinking a large file can take milliseconds, and the tree
   * deletes obsolete tables and logs while it serves reads and writes.
   */
  removeAsync(path: string): Promise<void>;
  /** Removes an empty directory (rmdir(2)). Durable after syncDir() of its parent. */
  removeDir(dir: string): void;
  /** Hard link (link(2)); `newPath` must not exist. */
  link(existingPath: string, newPath: string): void;
  mkdirp(dir: string): void;
  /** Names (not paths) of the entries of `dir`, sorted. */
  list(dir: string): string[];
  /** fsync(2) of a directory, making creations, renames and removals in it durable. */
  syncDir(dir: string): Promise<void>;
  syncDirSync(dir: string): void;
}
