/**
 * Raft snapshots of the state tree: build, stream in checksummed chunks, receive, install. After
 * etcd's snapshot transfer (server/etcdserver/api/snap: a snapshot is a file set streamed to the
 * follower, then the 'snap' message is delivered) and leveldb's CURRENT-file switch for the atomic
 * install. Byte layouts: docs/format/raft-log.md ("Snapshot chunk", "STATE").
 *
 * A snapshot is the state tree's checkpoint (LsmTree.checkpoint: hard links of the live SSTables,
 * free because tables are immutable, plus a fresh manifest) and its metadata {index, term, conf}.
 * The Raft core's Snapshot.data is the UTF-8 snapshot id (snapshotData / snapshotIdOf).
 *
 * Data directory layout (the driver owns `<dataDir>`):
 *   log/                          the log tree (RaftLogStore)
 *   STATE                         names the live state directory (and the snapshot installed there)
 *   state-NNNNNN/                 the state tree (KvStateMachine)
 *   snapshots/<id>/               checkpoints built here for sending (createSnapshot's workDir)
 *   snapshot-incoming-<id>/       a transfer being received
 *
 * Driver flows:
 *   leader:   snap = await createSnapshot(sm, `${dataDir}/snapshots`, meta);
 *             sender = new SnapshotSender(snap); chunk = sender.next() ... (sender.seek(pos) to resume);
 *   follower: receiver = new SnapshotReceiver(dataDir); r = await receiver.receive(decodeSnapshotChunk(b));
 *             on r.status === 'complete': close the KvStateMachine; await installSnapshot(dataDir, r.snapshot);
 *             await logStore.applySnapshot({ meta, data }); reopen KvStateMachine at the returned stateDir;
 *             then step the Raft 'snap' message.
 *   startup:  { stateDir, installed } = await openStateDir(dataDir); open the log store;
 *             await reconcileLogWithState(logStore, installed); KvStateMachine.open(stateDir).
 *
 * Install is crash-safe with file operations only (the FileSystem has no directory rename):
 *   1. link every received file into a fresh `state-<gen+1>/`, sync it and the data dir;
 *      crash here: STATE still names the old dir; openStateDir deletes the new dir's files.
 *   2. write STATE.tmp {gen+1, meta}, sync, rename over STATE, sync the data dir  <- commit point;
 *      crash before the rename is durable: as in 1; after: the new state is live.
 *   3. delete the old state dir's files and the incoming dir's files;
 *      crash here: openStateDir deletes the leftovers.
 *   The log store learns of the snapshot after the install (logStore.applySnapshot); a crash in
 *   between leaves the state ahead of the log, which reconcileLogWithState repairs at startup from
 *   the meta STATE records. (The other order could lose applied entries: the log would be empty up
 *   to an index the old state tree never reached.)
 */
import { randomBytes } from 'node:crypto';
import { crc32c, maskCrc, unmaskCrc } from '../format/crc32c.js';
import { CorruptionError, LsmraftError } from '../errors.js';
import { joinPath } from '../lsm/filenames.js';
import type { FileSystem, WritableFile } from '../lsm/fs.js';
import { nodeFileSystem } from '../lsm/node-fs.js';
import type { Snapshot, SnapshotMeta } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { fromUtf8, getFixed32, getVarint, putFixed32, putVarint, utf8, varintLength, type VarintRead } from '../util/bytes.js';
import type { RaftLogStore } from './log-store.js';
import type { KvStateMachine } from './state-machine.js';

export const SNAPSHOT_CHUNK_VERSION = 1;
export const STATE_POINTER_VERSION = 1;
/** Default payload of one chunk. */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** Largest chunk payload a receiver accepts (a decoder bound, well under any frame limit). */
export const SNAPSHOT_CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/** Bounds on what a chunk may announce, so garbage cannot make the receiver allocate or loop. */
export const SNAPSHOT_FILES_MAX = 100_000;
export const SNAPSHOT_FILE_BYTES_MAX = 2 ** 45;
const MEMBERS_MAX = 10_000;
/** Files are read this many bytes at a time when checksummed, yielding to the event loop between. */
const CRC_READ_BYTES = 1024 * 1024;

const STATE_FILE = 'STATE';
const STATE_TEMP_FILE = 'STATE.tmp';
const STATE_DIR_PREFIX = 'state-';
const INCOMING_PREFIX = 'snapshot-incoming-';
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** A chunk that fails its checksum or does not parse. Code KV_ERR_BAD_FRAME. */
export class BadSnapshotChunkError extends LsmraftError {
  constructor(why: string) {
    super('KV_ERR_BAD_FRAME', `bad snapshot chunk: ${why}`);
  }
}

export interface SnapshotFile {
  name: string;
  size: number;
  /** CRC32C of the whole file (unmasked). */
  crc32c: number;
}

/** A snapshot on local disk, ready to send. */
export interface LocalSnapshot {
  id: string;
  dir: string;
  files: SnapshotFile[];
  meta: SnapshotMeta;
}

export interface SnapshotChunk {
  snapshotId: string;
  meta: SnapshotMeta;
  totalFiles: number;
  fileIndex: number;
  fileName: string;
  fileSize: number;
  fileCrc32c: number;
  /** Offset of `data` in the file. */
  offset: number;
  data: Uint8Array;
  /** CRC32C of `data` (unmasked). */
  crc32c: number;
  /** The last chunk of the last file. */
  done: boolean;
}

/** Where a transfer stands: the next chunk the receiver accepts. */
export interface ChunkPosition {
  snapshotId: string;
  fileIndex: number;
  offset: number;
}

export interface ReceivedSnapshot {
  snapshotId: string;
  dir: string;
  meta: SnapshotMeta;
  files: SnapshotFile[];
}

export type ReceiveResult =
  | { status: 'accepted'; next: ChunkPosition }
  /**
   * Not written; resend from `next`. 'finished': a chunk of the transfer that last completed (its
   * acknowledgement was lost); `next` is then { fileIndex: file count, offset: 0 }: nothing to resend.
   */
  | { status: 'ignored'; reason: 'duplicate' | 'gap' | 'stale' | 'finished'; next: ChunkPosition }
  | { status: 'complete'; snapshot: ReceivedSnapshot };

export interface SnapshotFsOptions {
  fs?: FileSystem;
}

/** The Raft Snapshot.data of a local snapshot: its id in UTF-8. */
export function snapshotData(id: string): Uint8Array {
  return utf8(id);
}

/** The snapshot id a Raft Snapshot names, or undefined (bootstrap or installed snapshots carry none). */
export function snapshotIdOf(s: Snapshot): string | undefined {
  if (s.data.length === 0) return undefined;
  const id = fromUtf8(s.data);
  return SAFE_NAME.test(id) ? id : undefined;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function cloneMeta(m: SnapshotMeta): SnapshotMeta {
  return { index: m.index, term: m.term, conf: { voters: [...m.conf.voters], learners: [...m.conf.learners] } };
}

function metaEqual(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const same = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.index === b.index && a.term === b.term && same(a.conf.voters, b.conf.voters) && same(a.conf.learners, b.conf.learners);
}

/** Removes every file of `dir`, keeping the directory. */
function removeFilesOf(fs: FileSystem, dir: string): void {
  if (!fs.exists(dir)) return;
  for (const name of fs.list(dir)) fs.remove(joinPath(dir, name));
}

/** Removes every file of `dir`, then the emptied directory itself. */
function removeDirectory(fs: FileSystem, dir: string): void {
  if (!fs.exists(dir)) return;
  removeFilesOf(fs, dir);
  fs.removeDir(dir);
}

/** Size and CRC32C of each file of `dir`, by name; reads in bounded pieces. */
export async function checksumFiles(fs: FileSystem, dir: string): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = [];
  for (const name of fs.list(dir)) {
    const f = fs.openRead(joinPath(dir, name));
    try {
      const size = f.size();
      let crc = 0;
      // ceil(size / CRC_READ_BYTES) passes.
      for (let pos = 0; pos < size; pos += CRC_READ_BYTES) {
        const piece = f.read(pos, Math.min(CRC_READ_BYTES, size - pos));
        if (piece.length === 0) throw new CorruptionError('snapshot file shrank while being read', f.path, pos);
        crc = crc32c(piece, crc);
        await yieldToEventLoop();
      }
      out.push({ name, size, crc32c: crc });
    } finally {
      f.close();
    }
  }
  return out;
}

// ---- build -------------------------------------------------------------------------------------

/**
 * Checkpoints the state machine into `<workDir>/<id>` and checksums its files. REQUIRES: meta.index
 * is the state machine's applied index and no apply() runs meanwhile (asserted).
 */
export async function createSnapshot(
  stateMachine: KvStateMachine, workDir: string, meta: SnapshotMeta, options: SnapshotFsOptions = {},
): Promise<LocalSnapshot> {
  const fs = options.fs ?? nodeFileSystem;
  assert(meta.index === stateMachine.appliedIndex, () => `snapshot at ${meta.index} but the state machine applied ${stateMachine.appliedIndex}`);
  const id = `${meta.index}-${meta.term}-${randomBytes(4).toString('hex')}`;
  const dir = joinPath(workDir, id);
  fs.mkdirp(workDir);
  const { appliedIndex } = await stateMachine.checkpoint(dir);
  assert(appliedIndex === meta.index, () => `checkpoint at ${appliedIndex}, expected ${meta.index}`);
  await fs.syncDir(workDir);
  return { id, dir, files: await checksumFiles(fs, dir), meta: cloneMeta(meta) };
}

/** Deletes a local snapshot's files once no transfer needs it. */
export function removeLocalSnapshot(snapshot: LocalSnapshot, options: SnapshotFsOptions = {}): void {
  removeDirectory(options.fs ?? nodeFileSystem, snapshot.dir);
}

// ---- send --------------------------------------------------------------------------------------

/**
 * Produces the chunks of a local snapshot in order: file by file, each in pieces of at most
 * chunkBytes (an empty file is one empty chunk). seek() moves the cursor to where a receiver
 * reported it stands, to resume a transfer.
 */
export class SnapshotSender {
  private fileIndex = 0;
  private offset = 0;
  private readonly fs: FileSystem;
  private readonly chunkBytes: number;

  constructor(readonly snapshot: LocalSnapshot, options: SnapshotFsOptions & { chunkBytes?: number } = {}) {
    this.fs = options.fs ?? nodeFileSystem;
    this.chunkBytes = options.chunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    assert(Number.isInteger(this.chunkBytes) && this.chunkBytes >= 1 && this.chunkBytes <= SNAPSHOT_CHUNK_BYTES_MAX, 'bad chunkBytes');
    assert(snapshot.files.length >= 1 && snapshot.files.length <= SNAPSHOT_FILES_MAX, 'snapshot without files');
  }

  /** True once every chunk was produced. */
  get finished(): boolean {
    return this.fileIndex >= this.snapshot.files.length;
  }

  /** Chunks a transfer takes in all. */
  get totalChunks(): number {
    let n = 0;
    for (const f of this.snapshot.files) n += Math.max(1, Math.ceil(f.size / this.chunkBytes));
    return n;
  }

  /**
   * Continues from `pos` (a receiver's expected position; fileIndex = file count means the receiver
   * has everything, and the sender is finished). A position of another snapshot, or one that does
   * not fit this snapshot's files, restarts from the beginning.
   */
  seek(pos: ChunkPosition): void {
    const files = this.snapshot.files;
    if (pos.snapshotId === this.snapshot.id && pos.fileIndex === files.length && pos.offset === 0) {
      this.fileIndex = files.length;
      this.offset = 0;
      return;
    }
    if (pos.snapshotId !== this.snapshot.id || pos.fileIndex > files.length || pos.offset > (files[pos.fileIndex]?.size ?? -1)) {
      this.fileIndex = 0;
      this.offset = 0;
      return;
    }
    this.fileIndex = pos.fileIndex;
    this.offset = pos.offset;
  }

  /** The next chunk, or undefined when finished. */
  next(): SnapshotChunk | undefined {
    if (this.finished) return undefined;
    const files = this.snapshot.files;
    const file = files[this.fileIndex]!;
    const length = Math.min(this.chunkBytes, file.size - this.offset);
    let data: Uint8Array = new Uint8Array(0);
    if (length > 0) {
      const f = this.fs.openRead(joinPath(this.snapshot.dir, file.name));
      try {
        data = f.read(this.offset, length);
      } finally {
        f.close();
      }
      if (data.length !== length) throw new CorruptionError('snapshot file is shorter than recorded', joinPath(this.snapshot.dir, file.name), this.offset);
    }
    const lastOfFile = this.offset + length === file.size;
    const chunk: SnapshotChunk = {
      snapshotId: this.snapshot.id,
      meta: cloneMeta(this.snapshot.meta),
      totalFiles: files.length,
      fileIndex: this.fileIndex,
      fileName: file.name,
      fileSize: file.size,
      fileCrc32c: file.crc32c,
      offset: this.offset,
      data,
      crc32c: crc32c(data),
      done: lastOfFile && this.fileIndex === files.length - 1,
    };
    if (lastOfFile) {
      this.fileIndex++;
      this.offset = 0;
    } else {
      this.offset += length;
    }
    return chunk;
  }
}

// ---- chunk encoding ----------------------------------------------------------------------------

export function encodeSnapshotChunk(c: SnapshotChunk): Uint8Array {
  const id = utf8(c.snapshotId);
  const name = utf8(c.fileName);
  const ints1 = [c.meta.index, c.meta.term, c.meta.conf.voters.length, ...c.meta.conf.voters, c.meta.conf.learners.length, ...c.meta.conf.learners, c.totalFiles, c.fileIndex];
  let size = 1 + 4 + varintLength(id.length) + id.length;
  for (const v of ints1) size += varintLength(v);
  size += varintLength(name.length) + name.length + varintLength(c.fileSize) + 4 + varintLength(c.offset) + 1 + 4;
  size += varintLength(c.data.length) + c.data.length;
  const out = new Uint8Array(size);
  out[0] = SNAPSHOT_CHUNK_VERSION;
  let pos = 5;
  pos = putVarint(out, pos, id.length);
  out.set(id, pos);
  pos += id.length;
  for (const v of ints1) pos = putVarint(out, pos, v);
  pos = putVarint(out, pos, name.length);
  out.set(name, pos);
  pos += name.length;
  pos = putVarint(out, pos, c.fileSize);
  pos = putFixed32(out, pos, c.fileCrc32c);
  pos = putVarint(out, pos, c.offset);
  out[pos++] = c.done ? 1 : 0;
  pos = putFixed32(out, pos, c.crc32c);
  pos = putVarint(out, pos, c.data.length);
  out.set(c.data, pos);
  pos += c.data.length;
  assert(pos === size, 'snapshot chunk size');
  putFixed32(out, 1, maskCrc(crc32c(out.subarray(5))));
  return out;
}

/** Parses and checks a chunk: its frame checksum, its data checksum, and that its fields agree. */
export function decodeSnapshotChunk(b: Uint8Array): SnapshotChunk {
  const bad = (why: string): never => {
    throw new BadSnapshotChunkError(why);
  };
  if (b.length < 5) bad(`too short (${b.length} bytes)`);
  if (b[0] !== SNAPSHOT_CHUNK_VERSION) bad(`unknown version ${b[0]}`);
  if (unmaskCrc(getFixed32(b, 1)) !== crc32c(b.subarray(5))) bad('checksum mismatch');
  const r: VarintRead = { value: 0, pos: 5 };
  const varint = (what: string, max: number): number => {
    getVarint(b, r.pos, b.length, r);
    if (r.pos < 0 || r.value > max) bad(`bad ${what}`);
    return r.value;
  };
  const bytes = (what: string, max: number): Uint8Array => {
    const n = varint(`${what} length`, max);
    if (r.pos + n > b.length) bad(`${what} runs past the end`);
    const out = b.subarray(r.pos, r.pos + n);
    r.pos += n;
    return out;
  };
  const fixed32 = (what: string): number => {
    if (r.pos + 4 > b.length) bad(`${what} runs past the end`);
    const v = getFixed32(b, r.pos);
    r.pos += 4;
    return v;
  };
  const snapshotId = fromUtf8(bytes('snapshot id', 128));
  const index = varint('index', Number.MAX_SAFE_INTEGER);
  const term = varint('term', Number.MAX_SAFE_INTEGER);
  const ids = (what: string): number[] => {
    const n = varint(`${what} count`, MEMBERS_MAX);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(varint(what, Number.MAX_SAFE_INTEGER));
    return out;
  };
  const voters = ids('voter');
  const learners = ids('learner');
  const totalFiles = varint('file count', SNAPSHOT_FILES_MAX);
  const fileIndex = varint('file index', SNAPSHOT_FILES_MAX);
  const fileName = fromUtf8(bytes('file name', 128));
  const fileSize = varint('file size', SNAPSHOT_FILE_BYTES_MAX);
  const fileCrc32c = fixed32('file checksum');
  const offset = varint('offset', SNAPSHOT_FILE_BYTES_MAX);
  if (r.pos >= b.length) bad('flags run past the end');
  const flags = b[r.pos++]!;
  if (flags > 1) bad(`unknown flags ${flags}`);
  const dataCrc = fixed32('data checksum');
  const data = bytes('data', SNAPSHOT_CHUNK_BYTES_MAX);
  if (r.pos !== b.length) bad(`${b.length - r.pos} trailing bytes`);
  const chunk: SnapshotChunk = {
    snapshotId, meta: { index, term, conf: { voters, learners } }, totalFiles, fileIndex, fileName, fileSize, fileCrc32c,
    offset, data, crc32c: dataCrc, done: flags === 1,
  };
  checkChunk(chunk);
  return chunk;
}

/** The checks a receiver makes of any chunk, decoded or handed over in memory. */
function checkChunk(c: SnapshotChunk): void {
  const bad = (why: string): never => {
    throw new BadSnapshotChunkError(why);
  };
  if (!SAFE_NAME.test(c.snapshotId)) bad('snapshot id has characters outside [A-Za-z0-9._-]');
  if (!SAFE_NAME.test(c.fileName)) bad('file name has characters outside [A-Za-z0-9._-]');
  if (c.totalFiles < 1 || c.totalFiles > SNAPSHOT_FILES_MAX || c.fileIndex >= c.totalFiles) bad(`file index ${c.fileIndex} of ${c.totalFiles}`);
  if (c.data.length > SNAPSHOT_CHUNK_BYTES_MAX) bad(`data of ${c.data.length} bytes`);
  if (c.offset + c.data.length > c.fileSize) bad(`data [${c.offset}, ${c.offset + c.data.length}) past the file size ${c.fileSize}`);
  if (c.data.length === 0 && c.fileSize !== 0) bad('empty chunk of a non-empty file');
  const lastOfFile = c.offset + c.data.length === c.fileSize;
  if (c.done !== (lastOfFile && c.fileIndex === c.totalFiles - 1)) bad('done flag disagrees with the position');
  if (crc32c(c.data) !== c.crc32c) bad(`data checksum mismatch at file ${c.fileIndex} offset ${c.offset}`);
}

// ---- receive -----------------------------------------------------------------------------------

interface Transfer {
  id: string;
  dir: string;
  meta: SnapshotMeta;
  totalFiles: number;
  files: SnapshotFile[];
  fileIndex: number;
  offset: number;
  writer: WritableFile | undefined;
  current: SnapshotFile | undefined;
  runningCrc: number;
}

/**
 * Receives one snapshot transfer at a time into `<dataDir>/snapshot-incoming-<id>`. Accepts only
 * the next expected chunk (duplicates and gaps are ignored and answered with the expected
 * position, so the sender can seek there). A chunk of a different snapshot whose index is not older
 * discards the partial transfer and starts over. Each file is checked against its size and whole-
 * file CRC32C and synced when complete; the directory is synced when the last file is.
 * REQUIRES: one receive() at a time (the driver awaits each).
 */
export class SnapshotReceiver {
  private readonly fs: FileSystem;
  private transfer: Transfer | undefined = undefined;
  /** The last transfer that completed: chunks of it are duplicates, never a new start. */
  private completed: { id: string; totalFiles: number } | undefined = undefined;
  private busy = false;

  constructor(private readonly dataDir: string, options: SnapshotFsOptions = {}) {
    this.fs = options.fs ?? nodeFileSystem;
  }

  /** The position the receiver expects next, or undefined when no transfer is in progress. */
  expected(): ChunkPosition | undefined {
    const t = this.transfer;
    return t === undefined ? undefined : { snapshotId: t.id, fileIndex: t.fileIndex, offset: t.offset };
  }

  async receive(chunk: SnapshotChunk): Promise<ReceiveResult> {
    assert(!this.busy, 'receive() while another receive() is running');
    this.busy = true;
    try {
      return await this.receiveInner(chunk);
    } catch (err) {
      // A bad chunk leaves the transfer as it was (the sender resends); any other failure (an IO
      // error mid-file) leaves its files in an unknown state: forget the transfer. Its files are
      // deleted when it restarts or at startup (openStateDir).
      if (!(err instanceof BadSnapshotChunkError)) this.forget();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private forget(): void {
    const t = this.transfer;
    this.transfer = undefined;
    t?.writer?.close();
  }

  /** Drops the partial transfer, if any, and its files. */
  abort(): void {
    const t = this.transfer;
    if (t === undefined) return;
    this.transfer = undefined;
    t.writer?.close();
    removeDirectory(this.fs, t.dir);
  }

  private async receiveInner(c: SnapshotChunk): Promise<ReceiveResult> {
    checkChunk(c);
    if (this.completed !== undefined && this.completed.id === c.snapshotId) {
      // A resend of a finished transfer: its directory may be awaiting install; leave it be.
      return { status: 'ignored', reason: 'finished', next: { snapshotId: c.snapshotId, fileIndex: this.completed.totalFiles, offset: 0 } };
    }
    let t = this.transfer;
    if (t === undefined || t.id !== c.snapshotId) {
      if (t !== undefined && c.meta.index < t.meta.index) {
        return { status: 'ignored', reason: 'stale', next: this.expected()! };
      }
      this.abort();
      t = this.start(c);
    }
    if (c.totalFiles !== t.totalFiles || !metaEqual(c.meta, t.meta)) {
      throw new BadSnapshotChunkError(`chunk of ${c.snapshotId} disagrees with the transfer's metadata`);
    }
    if (c.fileIndex !== t.fileIndex || c.offset !== t.offset) {
      const behind = c.fileIndex < t.fileIndex || (c.fileIndex === t.fileIndex && c.offset < t.offset);
      return { status: 'ignored', reason: behind ? 'duplicate' : 'gap', next: this.expected()! };
    }
    if (c.offset === 0) {
      assert(t.writer === undefined, 'a file is still open at offset 0');
      t.current = { name: c.fileName, size: c.fileSize, crc32c: c.fileCrc32c };
      if (t.files.some((f) => f.name === c.fileName)) throw new BadSnapshotChunkError(`file ${c.fileName} sent twice`);
      t.writer = this.fs.create(joinPath(t.dir, c.fileName));
      t.runningCrc = 0;
    } else {
      const f = t.current!;
      if (f.name !== c.fileName || f.size !== c.fileSize || f.crc32c !== c.fileCrc32c) {
        throw new BadSnapshotChunkError(`chunk of file ${c.fileIndex} disagrees with the file's first chunk`);
      }
    }
    t.writer!.append(c.data);
    t.runningCrc = crc32c(c.data, t.runningCrc);
    t.offset += c.data.length;
    if (t.offset < t.current!.size) return { status: 'accepted', next: this.expected()! };

    // The file is complete: check it whole, make it durable.
    const file = t.current!;
    const writer = t.writer!;
    t.writer = undefined;
    t.current = undefined;
    await writer.sync();
    writer.close();
    if (t.runningCrc !== file.crc32c) {
      this.abort();
      throw new CorruptionError(`snapshot ${c.snapshotId}: file ${file.name} fails its checksum; transfer discarded`, joinPath(t.dir, file.name));
    }
    t.files.push(file);
    t.fileIndex++;
    t.offset = 0;
    if (t.fileIndex < t.totalFiles) return { status: 'accepted', next: this.expected()! };
    await this.fs.syncDir(t.dir);
    await this.fs.syncDir(this.dataDir);
    this.transfer = undefined;
    this.completed = { id: t.id, totalFiles: t.totalFiles };
    return { status: 'complete', snapshot: { snapshotId: t.id, dir: t.dir, meta: cloneMeta(t.meta), files: t.files } };
  }

  private start(c: SnapshotChunk): Transfer {
    const dir = joinPath(this.dataDir, `${INCOMING_PREFIX}${c.snapshotId}`);
    this.fs.mkdirp(dir);
    removeFilesOf(this.fs, dir); // a leftover of an earlier attempt
    const t: Transfer = {
      id: c.snapshotId, dir, meta: cloneMeta(c.meta), totalFiles: c.totalFiles, files: [],
      fileIndex: 0, offset: 0, writer: undefined, current: undefined, runningCrc: 0,
    };
    this.transfer = t;
    return t;
  }
}

// ---- install and startup -----------------------------------------------------------------------

export interface StatePointer {
  generation: number;
  /** The snapshot installed into that generation's directory (undefined for a tree grown locally). */
  installed: SnapshotMeta | undefined;
}

function stateDirName(generation: number): string {
  return `${STATE_DIR_PREFIX}${String(generation).padStart(6, '0')}`;
}

/** STATE: version, varint generation, u8 has-meta, [meta], fixed32 masked crc32c of what precedes. */
export function encodeStatePointer(p: StatePointer): Uint8Array {
  const ints = [p.generation];
  if (p.installed !== undefined) {
    const m = p.installed;
    ints.push(m.index, m.term, m.conf.voters.length, ...m.conf.voters, m.conf.learners.length, ...m.conf.learners);
  }
  let size = 2 + 4;
  for (const v of ints) size += varintLength(v);
  const out = new Uint8Array(size);
  out[0] = STATE_POINTER_VERSION;
  let pos = putVarint(out, 1, ints[0]!);
  out[pos++] = p.installed === undefined ? 0 : 1;
  for (let i = 1; i < ints.length; i++) pos = putVarint(out, pos, ints[i]!);
  putFixed32(out, pos, maskCrc(crc32c(out.subarray(0, pos))));
  assert(pos + 4 === size, 'state pointer size');
  return out;
}

export function decodeStatePointer(b: Uint8Array, file?: string): StatePointer {
  const bad = (why: string, offset?: number): never => {
    throw new CorruptionError(`state pointer: ${why}`, file, offset);
  };
  if (b.length < 7) bad('too short');
  if (b[0] !== STATE_POINTER_VERSION) bad(`unknown version ${b[0]}`, 0);
  if (unmaskCrc(getFixed32(b, b.length - 4)) !== crc32c(b.subarray(0, b.length - 4))) bad('checksum mismatch', b.length - 4);
  const end = b.length - 4;
  const r: VarintRead = { value: 0, pos: 1 };
  const varint = (): number => {
    getVarint(b, r.pos, end, r);
    if (r.pos < 0) bad('truncated');
    return r.value;
  };
  const generation = varint();
  if (r.pos >= end) bad('truncated');
  const has = b[r.pos++];
  let installed: SnapshotMeta | undefined;
  if (has === 1) {
    const index = varint();
    const term = varint();
    const ids = (): number[] => {
      const n = varint();
      if (n > MEMBERS_MAX) bad('bad member count');
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(varint());
      return out;
    };
    installed = { index, term, conf: { voters: ids(), learners: ids() } };
  } else if (has !== 0) {
    bad(`bad flag ${String(has)}`);
  }
  if (r.pos !== end) bad('trailing bytes');
  return { generation, installed };
}

async function writeStatePointer(fs: FileSystem, dataDir: string, p: StatePointer): Promise<void> {
  const temp = joinPath(dataDir, STATE_TEMP_FILE);
  const f = fs.create(temp);
  try {
    f.append(encodeStatePointer(p));
    await f.sync();
  } finally {
    f.close();
  }
  fs.rename(temp, joinPath(dataDir, STATE_FILE));
  await fs.syncDir(dataDir);
}

function readStatePointer(fs: FileSystem, dataDir: string): StatePointer | undefined {
  const path = joinPath(dataDir, STATE_FILE);
  if (!fs.exists(path)) return undefined;
  return decodeStatePointer(fs.readFile(path), path);
}

/**
 * At startup: finds the live state tree directory (creating STATE for a new data dir) and deletes
 * the files of everything an interrupted install or transfer left: other state-N dirs, incoming
 * transfers, STATE.tmp. Returns the directory and the snapshot installed there, if any.
 */
export async function openStateDir(
  dataDir: string, options: SnapshotFsOptions = {},
): Promise<{ stateDir: string; installed: SnapshotMeta | undefined }> {
  const fs = options.fs ?? nodeFileSystem;
  fs.mkdirp(dataDir);
  let pointer = readStatePointer(fs, dataDir);
  if (pointer === undefined) {
    pointer = { generation: 1, installed: undefined };
    fs.mkdirp(joinPath(dataDir, stateDirName(1)));
    await writeStatePointer(fs, dataDir, pointer);
  }
  const live = stateDirName(pointer.generation);
  for (const name of fs.list(dataDir)) {
    if (name === STATE_TEMP_FILE) fs.remove(joinPath(dataDir, name));
    else if ((name.startsWith(STATE_DIR_PREFIX) && name !== live) || name.startsWith(INCOMING_PREFIX)) removeDirectory(fs, joinPath(dataDir, name));
  }
  return { stateDir: joinPath(dataDir, live), installed: pointer.installed === undefined ? undefined : cloneMeta(pointer.installed) };
}

/**
 * Makes a received snapshot the live state tree (the crash-safe steps of the module comment).
 * REQUIRES: the KvStateMachine on the current state dir is closed. Returns the new state dir.
 */
export async function installSnapshot(
  dataDir: string, received: ReceivedSnapshot, options: SnapshotFsOptions = {},
): Promise<{ stateDir: string }> {
  const fs = options.fs ?? nodeFileSystem;
  const old = readStatePointer(fs, dataDir) ?? { generation: 0, installed: undefined };
  const names = fs.list(received.dir);
  for (const f of received.files) {
    if (!names.includes(f.name) || fs.fileSize(joinPath(received.dir, f.name)) !== f.size) {
      throw new CorruptionError(`received snapshot ${received.snapshotId} lost file ${f.name}`, received.dir);
    }
  }
  // 1. The new generation's directory, linked and durable.
  const generation = old.generation + 1;
  const newDir = joinPath(dataDir, stateDirName(generation));
  fs.mkdirp(newDir);
  removeFilesOf(fs, newDir);
  for (const f of received.files) fs.link(joinPath(received.dir, f.name), joinPath(newDir, f.name));
  await fs.syncDir(newDir);
  await fs.syncDir(dataDir);
  // 2. The commit point.
  await writeStatePointer(fs, dataDir, { generation, installed: cloneMeta(received.meta) });
  // 3. Leftovers (a crash here leaves them to openStateDir).
  if (old.generation > 0) removeDirectory(fs, joinPath(dataDir, stateDirName(old.generation)));
  removeDirectory(fs, received.dir);
  return { stateDir: newDir };
}

/**
 * Startup repair for a crash between installSnapshot and logStore.applySnapshot: if the state dir
 * holds a snapshot newer than the log's, the log becomes that snapshot. Returns whether it did.
 */
export async function reconcileLogWithState(logStore: RaftLogStore, installed: SnapshotMeta | undefined): Promise<boolean> {
  if (installed === undefined || installed.index <= logStore.snapshot().meta.index) return false;
  await logStore.applySnapshot({ meta: cloneMeta(installed), data: new Uint8Array(0) });
  return true;
}
