/**
 * A table iterator's readahead window for sequential scans, after RocksDB's FilePrefetchBuffer
 * (file/file_prefetch_buffer.cc) as its BlockBasedTableIterator uses it: once an iterator has read
 * a few blocks in a row, it reads the file in windows that start small and double up to a maximum,
 * one pread per window instead of one per block, into one buffer it reuses.
 *
 * The bytes of a view are the window's: valid until the next view() call, never cached. A scan's
 * blocks thereby stay out of the shared block cache (RocksDB's ReadOptions::fill_cache = false),
 * so that a long scan does not evict the blocks point reads keep hot.
 *
 * What must hold: a view covers exactly [position, position + length) of the file; the window
 * never reads past `endPosition` (the end of the table's data blocks) and never holds more than
 * max(READAHEAD_BYTES_MAX, the longest block asked for).
 */
import { CorruptionError } from '../errors.js';
import type { RandomAccessFile } from './fs.js';

/** The first window's size; each refill doubles it up to READAHEAD_BYTES_MAX (RocksDB: 8 KiB to 256 KiB). */
export const READAHEAD_BYTES_MIN = 16 * 1024;
export const READAHEAD_BYTES_MAX = 256 * 1024;

export class Readahead {
  private buffer = new Uint8Array(0);
  /** File position of buffer[0]; the window holds [start, start + filled). */
  private start = 0;
  private filled = 0;
  private windowBytes = READAHEAD_BYTES_MIN;

  /**
   * Bytes [position, position + length) of `file`, from the window, refilled from `position` when
   * it does not hold them all. REQUIRES: position + length <= endPosition.
   */
  view(file: RandomAccessFile, path: string, position: number, length: number, endPosition: number): Uint8Array {
    const at = position - this.start;
    if (at >= 0 && at + length <= this.filled) return this.buffer.subarray(at, at + length);
    const want = Math.max(length, Math.min(this.windowBytes, endPosition - position));
    this.windowBytes = Math.min(2 * this.windowBytes, READAHEAD_BYTES_MAX);
    if (this.buffer.length < want) this.buffer = new Uint8Array(Math.max(want, Math.min(this.windowBytes, READAHEAD_BYTES_MAX)));
    this.start = position;
    this.filled = 0;
    const got = file.readInto !== undefined
      ? file.readInto(this.buffer.subarray(0, want), position)
      : this.copyRead(file, position, want);
    if (got < length) throw new CorruptionError('short data block read', path, position);
    this.filled = got;
    return this.buffer.subarray(0, length);
  }

  /** A file system without readInto: read() allocates, then the bytes join the window. */
  private copyRead(file: RandomAccessFile, position: number, length: number): number {
    const bytes = file.read(position, length);
    this.buffer.set(bytes, 0);
    return bytes.length;
  }
}
