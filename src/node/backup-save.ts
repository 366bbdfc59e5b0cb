/**
 * The client's side of a backup (etcd's `etcdctl snapshot save`): ask one member for a consistent
 * checkpoint (backupBegin), pull its chunks one at a time (backupChunk; a pull is its own flow
 * control: the node reads nothing the client has not asked for), write them to a backup file
 * (snapshot/backup-file.ts: temp file, fsync, rename, directory fsync) and tell the member to
 * delete the checkpoint (backupEnd). The protocol: docs/format/wire.md; the node's side:
 * snapshot/backup-source.ts.
 *
 * What must hold: every chunk is checked (its own CRC32C, and that it is the chunk asked for, of
 * the file the begin answer listed) before it is written; a failure deletes the temp file and
 * leaves `file` as it was. All pulls go to the member that made the checkpoint (it exists there
 * only); begin is tried on each member in turn, at most once each, while they answer a retriable
 * error. A member lost after begin fails the save (its checkpoint is gone with it): run it again.
 */
import { InvalidArgumentError, LsmraftError } from '../errors.js';
import type { FileSystem } from '../lsm/fs.js';
import { nodeFileSystem } from '../lsm/node-fs.js';
import type { ClientResponse } from './codec.js';
import type { ClientRequestInput } from './client-connection.js';
import { BadFrameError, errorFromWire } from './errors.js';
import { BackupFileWriter } from './snapshot/backup-file.js';
import type { BackupInfo } from './snapshot/backup-source.js';
import { BadSnapshotChunkError, decodeSnapshotChunk, SNAPSHOT_CHUNK_BYTES_MAX, type SnapshotChunk } from './snapshot/chunk-codec.js';

/** Default chunk a client pulls. */
export const BACKUP_CHUNK_BYTES = 1024 * 1024;
/** Bound on a backupBegin attempt: a read barrier and a checkpoint (which flushes the memtable). */
export const BACKUP_BEGIN_TIMEOUT_MS = 30_000;
/** Bound on one chunk pull. */
export const BACKUP_CHUNK_TIMEOUT_MS = 10_000;

const RETRIABLE = new Set(['KV_ERR_NOT_LEADER', 'KV_ERR_STOPPED', 'KV_ERR_CONNECTION_CLOSED', 'KV_ERR_TIMEOUT', 'KV_ERR_BUSY']);

export interface BackupSaveOptions {
  /** Chunk size asked for, 1..4 MiB. Default 1 MiB. */
  chunkBytes?: number;
  /** Where the file is written. Default: the real file system. */
  fs?: FileSystem;
}

export interface BackupSaveResult {
  /** Length of the backup file. */
  bytes: number;
  /** The Raft index and term the backup's state is at. */
  index: number;
  term: number;
  /** SHA-256 of the file but its last 32 bytes (which hold it), hex. */
  sha256: string;
  /** The member that made the checkpoint. */
  address: string;
  chunks: number;
}

/** Sends one request to one member. */
export type BackupRequest = (address: string, req: ClientRequestInput, timeoutMs: number) => Promise<ClientResponse>;

async function ask(request: BackupRequest, address: string, req: ClientRequestInput, timeoutMs: number): Promise<ClientResponse> {
  const res = await request(address, req, timeoutMs);
  if (!res.ok) throw errorFromWire(res.errorCode, res.message, res.leaderHint);
  return res;
}

function parseInfo(json: string | undefined): BackupInfo {
  const info = JSON.parse(json ?? 'null') as BackupInfo | null;
  if (info === null || typeof info.id !== 'string' || !Array.isArray(info.files) || !Number.isSafeInteger(info.index) || !Number.isSafeInteger(info.term)) {
    throw new BadFrameError('backupBegin answered without a backup description');
  }
  return info;
}

/** Checks that `c` is the chunk asked for, of the file the begin answer listed. */
function checkPulled(c: SnapshotChunk, info: BackupInfo, fileIndex: number, offset: number, length: number): void {
  const f = info.files[fileIndex]!;
  const same = c.snapshotId === info.id && c.fileIndex === fileIndex && c.offset === offset && c.data.length === length
    && c.fileName === f.name && c.fileSize === f.size && c.fileCrc32c === f.crc32c && c.totalFiles === info.files.length;
  if (!same) throw new BadFrameError(`backup ${info.id}: the chunk answered is not file ${fileIndex} offset ${offset} (${length} bytes)`);
}

/**
 * Saves a backup of the cluster to `file` through the first of `addresses` that answers backupBegin.
 */
export async function saveBackup(file: string, addresses: readonly string[], request: BackupRequest, options: BackupSaveOptions = {}): Promise<BackupSaveResult> {
  const chunkBytes = options.chunkBytes ?? BACKUP_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > SNAPSHOT_CHUNK_BYTES_MAX) {
    throw new InvalidArgumentError(`chunkBytes must be 1..${SNAPSHOT_CHUNK_BYTES_MAX}, got ${chunkBytes}`, 'KV_ERR_INVALID_ARGUMENT');
  }
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('a backup needs a file name', 'KV_ERR_INVALID_ARGUMENT');
  const fs = options.fs ?? nodeFileSystem;
  let info: BackupInfo | undefined;
  let address = '';
  let last: LsmraftError | undefined;
  for (const a of addresses) {
    try {
      info = parseInfo((await ask(request, a, { op: 'backupBegin' }, BACKUP_BEGIN_TIMEOUT_MS)).json);
      address = a;
      break;
    } catch (err) {
      if (!(err instanceof LsmraftError) || !RETRIABLE.has(err.code)) throw err;
      last = err;
    }
  }
  if (info === undefined) throw last ?? new LsmraftError('KV_ERR_STOPPED', 'no member to back up from');
  const begun = info;
  const pullBytes = Math.min(chunkBytes, begun.chunkBytesMax);
  let writer: BackupFileWriter | undefined;
  let chunks = 0;
  try {
    writer = BackupFileWriter.create(fs, file, { chunkBytes: pullBytes, index: begun.index, term: begun.term, files: begun.files });
    // One pull per chunk: sum over files of max(1, ceil(size / pullBytes)) passes.
    while (!writer.done) {
      const { fileIndex, offset } = writer.position;
      const length = Math.min(pullBytes, begun.files[fileIndex]!.size - offset);
      const res = await ask(request, address, { op: 'backupChunk', snapshotId: begun.id, fileIndex, offset, limit: pullBytes }, BACKUP_CHUNK_TIMEOUT_MS);
      let c: SnapshotChunk;
      try {
        c = decodeSnapshotChunk(res.value ?? new Uint8Array(0));
      } catch (err) {
        if (err instanceof BadSnapshotChunkError) throw new BadFrameError(`backup ${begun.id}: ${err.message}`);
        throw err;
      }
      checkPulled(c, begun, fileIndex, offset, length);
      writer.appendChunk(c.data, c.crc32c);
      chunks++;
    }
    const { bytes, sha256 } = await writer.finish();
    await endQuietly(request, address, begun.id);
    return { bytes, index: begun.index, term: begun.term, sha256, address, chunks };
  } catch (err) {
    writer?.abort();
    await endQuietly(request, address, begun.id);
    throw err;
  }
}

/** backupEnd; a failure only means the node deletes the checkpoint later (its idle bound). */
async function endQuietly(request: BackupRequest, address: string, id: string): Promise<void> {
  try {
    await ask(request, address, { op: 'backupEnd', snapshotId: id }, BACKUP_CHUNK_TIMEOUT_MS);
  } catch (err) {
    if (!(err instanceof LsmraftError)) throw err;
  }
}
