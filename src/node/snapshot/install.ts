/**
 * Installing a received snapshot as the live state tree, and finding the live one at startup, after
 * leveldb's CURRENT-file switch: the STATE file names the live `state-N/` directory, and replacing
 * STATE (write a temp file, sync, rename, sync the directory) is the one atomic step. Byte layout:
 * docs/format/raft-log.md ("STATE").
 *
 * Flows:
 *   follower: on a complete receive (receiver.ts) close the KvStateMachine;
 *             await installSnapshot(fs, dataDir, received); await logStore.applySnapshot({ meta, data });
 *             reopen KvStateMachine at the returned stateDir; then step the Raft 'snap' message.
 *   startup:  { stateDir, installed } = await openStateDir(fs, dataDir); open the log store;
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
import { crc32c, maskCrc, unmaskCrc } from '../../format/crc32c.js';
import { CorruptionError } from '../../errors.js';
import { joinPath } from '../../lsm/filenames.js';
import type { FileSystem } from '../../lsm/fs.js';
import type { SnapshotMeta } from '../../raft/types.js';
import { assert } from '../../util/assert.js';
import { getFixed32, getVarint, putFixed32, putVarint, varintLength, type VarintRead } from '../../util/bytes.js';
import { writeFileAtomic } from '../identity.js';
import type { RaftLogStore } from '../log-store.js';
import { cloneMeta, CONF_MEMBERS_MAX } from './checkpoint.js';
import { removeDirectory, removeFilesOf } from './dir-files.js';
import { INCOMING_PREFIX, type ReceivedSnapshot } from './receiver.js';

export const STATE_POINTER_VERSION = 1;
const STATE_FILE = 'STATE';
const STATE_TEMP_FILE = 'STATE.tmp';
const STATE_DIR_PREFIX = 'state-';

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
      if (n > CONF_MEMBERS_MAX) bad('bad member count');
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

/** Replaces STATE atomically (STATE.tmp, sync, rename, directory sync: identity.ts). */
async function writeStatePointer(fs: FileSystem, dataDir: string, p: StatePointer): Promise<void> {
  await writeFileAtomic(fs, dataDir, STATE_FILE, encodeStatePointer(p));
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
  dataDir: string, options: { fs: FileSystem },
): Promise<{ stateDir: string; installed: SnapshotMeta | undefined }> {
  const fs = options.fs;
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
  dataDir: string, received: ReceivedSnapshot, options: { fs: FileSystem },
): Promise<{ stateDir: string }> {
  const fs = options.fs;
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
