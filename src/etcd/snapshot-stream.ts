/**
 * etcd's Maintenance.Snapshot (server/etcdserver/api/v3rpc/maintenance.go in etcd streams the bbolt
 * file as SnapshotResponse { header, remaining_bytes, blob }): here the stream is lsmraft's backup
 * file (docs/format/backup.md), byte for byte what `kvctl snapshot save` writes, so the file
 * `etcdctl snapshot save` keeps is one `kv-server --restore` accepts. etcdctl 3.4 checks nothing
 * of what it receives (clientv3/snapshot/v3_snapshot.go Save: it copies the blobs to a file).
 *
 * The node makes a checkpoint after a read barrier (KvNode.backupBegin); its chunks are pulled one
 * at a time and encoded as they come (BackupEncoder), so memory stays bounded: one pulled chunk
 * plus at most blobBytesMax buffered, and a pull waits while gRPC's send buffer is full.
 *
 * What must hold: the blobs concatenated are the whole backup file; remaining_bytes of a message
 * is the file's length minus the bytes sent up to and including its blob (0 on the last); the
 * checkpoint is deleted (backupEnd) however the stream ends.
 */
import type * as grpc from '@grpc/grpc-js';
import { BACKUP_CHUNK_BYTES } from '../node/backup-save.js';
import type { EtcdNode } from '../node/etcd-api.js';
import { BackupEncoder } from '../node/snapshot/backup-file.js';
import { decodeSnapshotChunk } from '../node/snapshot/chunk-codec.js';
import { assert } from '../util/assert.js';
import type { Wire } from './convert.js';

/** The largest blob of one SnapshotResponse (etcd sends 32 KiB; gRPC's default message limit is 4 MiB). */
export const SNAPSHOT_BLOB_BYTES_MAX = 1024 * 1024;

/** Gathers byte pieces into blobs of exactly blobBytesMax (the last one shorter). */
class BlobBuffer {
  private pieces: Uint8Array[] = [];
  private bytes = 0;

  constructor(private readonly blobBytesMax: number) {}

  add(piece: Uint8Array): void {
    this.pieces.push(piece);
    this.bytes += piece.length;
  }

  /** Full blobs now (all that is buffered when `flush`). */
  *take(flush: boolean): Generator<Buffer> {
    while (this.bytes >= this.blobBytesMax || (flush && this.bytes > 0)) {
      const all = Buffer.concat(this.pieces);
      const n = Math.min(this.blobBytesMax, all.length);
      yield all.subarray(0, n);
      this.pieces = n < all.length ? [all.subarray(n)] : [];
      this.bytes = all.length - n;
    }
  }
}

export interface SnapshotStreamOptions {
  blobBytesMax?: number;
  /** The chunk the backup file is made of (its header's chunkBytes). Default: kvctl's. */
  chunkBytes?: number;
}

/**
 * Streams a backup of `node` to `call` as SnapshotResponse messages, each with `header()`.
 * Resolves when the last blob is written or the call was cancelled; rejects on the node's errors.
 */
export async function streamBackup(node: EtcdNode, call: grpc.ServerWritableStream<Wire, Wire>, header: () => Wire, options: SnapshotStreamOptions = {}): Promise<void> {
  const blobBytesMax = options.blobBytesMax ?? SNAPSHOT_BLOB_BYTES_MAX;
  const info = await node.backupBegin();
  try {
    const chunkBytes = Math.min(options.chunkBytes ?? BACKUP_CHUNK_BYTES, info.chunkBytesMax);
    const enc = new BackupEncoder({ chunkBytes, index: info.index, term: info.term, files: info.files });
    const out = new BlobBuffer(blobBytesMax);
    let sent = 0;
    const send = async (flush: boolean): Promise<void> => {
      for (const blob of out.take(flush)) {
        sent += blob.length;
        if (!call.write({ header: header(), remaining_bytes: String(enc.totalBytes - sent), blob })) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off('drain', done);
              call.off('cancelled', done);
              resolve();
            };
            call.on('drain', done);
            call.on('cancelled', done);
          });
        }
        if (call.cancelled) return;
      }
    };
    out.add(enc.headerBytes);
    // One pull per chunk of the checkpoint: sum over files of max(1, ceil(size / chunkBytes)).
    while (!enc.done && !call.cancelled) {
      const { fileIndex, offset } = enc.position;
      const c = decodeSnapshotChunk(node.backupChunk(info.id, fileIndex, offset, chunkBytes));
      assert(c.snapshotId === info.id && c.fileIndex === fileIndex && c.offset === offset, 'backup chunk is the one asked for');
      for (const piece of enc.chunk(c.data, c.crc32c, `backup ${info.id}`)) out.add(piece);
      await send(false);
    }
    if (call.cancelled) return;
    out.add(enc.finish().footer);
    await send(true);
    assert(call.cancelled || sent === enc.totalBytes, 'the whole backup was sent');
    call.end();
  } finally {
    node.backupEnd(info.id);
  }
}
