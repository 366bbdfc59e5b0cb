/**
 * The node's identity on disk: which node id its data directory belongs to and which cluster it is
 * a member of. A cluster id is a random 64-bit number a fresh node draws at its first start (as
 * etcd's cluster ID, which keeps members of two clusters from exchanging entries); a node adopts
 * another cluster's id when it joins it (membership.ts). Every peer frame carries the id and the
 * transport refuses frames of another cluster.
 *
 * File `<dataDir>/IDENTITY`, version 1 (a line of text, so an operator can read it):
 *   lsmraft-identity v1 node=<decimal id> cluster=<16 hex digits> crc=<8 hex digits>
 * The crc is the masked CRC32C of the text before " crc=". Written to IDENTITY.tmp, synced, renamed
 * over IDENTITY and the directory synced: a crash leaves the old or the new file, never a mix.
 */
import { randomBytes } from 'node:crypto';
import { crc32c, maskCrc } from '../format/crc32c.js';
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import { joinPath } from '../lsm/filenames.js';
import type { FileSystem } from '../lsm/fs.js';
import { fromUtf8, utf8 } from '../util/bytes.js';

export const IDENTITY_FILE = 'IDENTITY';

export interface NodeIdentity {
  nodeId: number;
  clusterId: bigint;
}

/** A random non-zero 64-bit cluster id. */
export function newClusterId(): bigint {
  const b = randomBytes(8);
  const id = b.readBigUInt64LE(0);
  return id === 0n ? 1n : id;
}

export function formatClusterId(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}

/** Writes `bytes` as `<dir>/<name>` atomically (temp file, fsync, rename, directory fsync). */
export async function writeFileAtomic(fs: FileSystem, dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const temp = joinPath(dir, `${name}.tmp`);
  const f = fs.create(temp);
  try {
    f.append(bytes);
    await f.sync();
  } finally {
    f.close();
  }
  fs.rename(temp, joinPath(dir, name));
  await fs.syncDir(dir);
}

function body(id: NodeIdentity): string {
  return `lsmraft-identity v1 node=${id.nodeId} cluster=${formatClusterId(id.clusterId)}`;
}

export function encodeIdentity(id: NodeIdentity): Uint8Array {
  const text = body(id);
  const crc = maskCrc(crc32c(utf8(text))) >>> 0;
  return utf8(`${text} crc=${crc.toString(16).padStart(8, '0')}\n`);
}

export function decodeIdentity(bytes: Uint8Array, file?: string): NodeIdentity {
  const text = fromUtf8(bytes).trimEnd();
  const m = /^lsmraft-identity v1 node=(\d{1,15}) cluster=([0-9a-f]{16}) crc=([0-9a-f]{8})$/.exec(text);
  if (m === null) throw new CorruptionError('node identity does not parse', file);
  const id: NodeIdentity = { nodeId: Number(m[1]), clusterId: BigInt(`0x${m[2]}`) };
  const crc = maskCrc(crc32c(utf8(body(id)))) >>> 0;
  if (crc !== Number.parseInt(m[3]!, 16)) throw new CorruptionError('node identity fails its checksum', file);
  return id;
}

export function readIdentity(fs: FileSystem, dataDir: string): NodeIdentity | undefined {
  const path = joinPath(dataDir, IDENTITY_FILE);
  if (!fs.exists(path)) return undefined;
  return decodeIdentity(fs.readFile(path), path);
}

export async function writeIdentity(fs: FileSystem, dataDir: string, id: NodeIdentity): Promise<void> {
  await writeFileAtomic(fs, dataDir, IDENTITY_FILE, encodeIdentity(id));
}

/** Refuses to run node `nodeId` on a data directory that belongs to another node. */
export function checkIdentity(found: NodeIdentity, nodeId: number, dataDir: string): void {
  if (found.nodeId !== nodeId) {
    throw new InvalidArgumentError(`data directory ${dataDir} belongs to node ${found.nodeId}, not node ${nodeId}`, 'KV_ERR_INVALID_ARGUMENT');
  }
}
