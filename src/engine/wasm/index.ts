/**
 * The WebAssembly twin of the hot paths: loads build/lsmraft.wasm (compiled from asm/) and wraps
 * its pointer-and-status exports as HotPaths. The wrapper is the one guarded door into the module,
 * after undici's client around llhttp:
 *
 * - One instance, one caller at a time: a call that finds the instance busy is a bug (assert).
 * - Each call lays out its inputs in the module's arena from arenaBase() upward (asm/memory.ts),
 *   copying whole runs or blocks in with TypedArray.set, and forgets them when it returns.
 * - Views of memory.buffer are re-created after every export that may grow memory.
 * - Outputs are copied out (slice) before the next call can overwrite the arena.
 * - Non-zero statuses become CorruptionError (block layout) or WasmError (out of memory).
 *
 * The exports are documented in asm/README.md.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { BuiltTable, EntryRun, HotPaths, MergeOptions, StreamOptions, StreamResult, StreamSource, TableCutOptions, TableOutput } from '../types.js';
import { wasmCompactStreams, type ArenaDoor, type CompactExports } from './compact-stream.js';
import { assert, INVARIANTS } from '../../util/assert.js';
import { compareInternalRange } from '../../format/internal-key.js';
import { CorruptionError, WasmError } from '../../errors.js';
import { lz4CompressBound } from '../js/lz4.js';
import { compressesBlocks } from '../js/table-builder.js';
import { STATUS_OK, STATUS_OUT_OF_MEMORY, statusError } from './status.js';
import { webAssembly, type WasmInstance, type WasmMemory, type WasmModule } from './webassembly.js';

/** The module's exports (asm/index.ts). Pointers and sizes are u32 passed as JS numbers. */
interface WasmExports extends CompactExports {
  memory: WasmMemory;
  arenaBase(): number;
  resultPtr(): number;
  reserve(endPtr: number): number;
  crc32c(ptr: number, len: number, crc: number): number;
  bloomHash(ptr: number, len: number): number;
  bloomBuild(dataBias: number, offsets: number, count: number, bitsPerKey: number, out: number): number;
  bloomMayContain(filter: number, filterLen: number, key: number, keyLen: number): number;
  encodeBlock(dataBias: number, offsets: number, count: number, restartInterval: number, restarts: number, out: number): number;
  decodeBlock(block: number, len: number, out: number): number;
  lz4Compress(src: number, len: number, dst: number, limit: number): number;
  lz4Decompress(src: number, len: number, dst: number, rawBytes: number): number;
  tableScratchBytes(count: number): number;
  buildTables(
    dataBias: number, offsets: number, count: number, blockSizeBytes: number, restartInterval: number,
    bloomBitsPerKey: number, targetFileSizeBytes: number, compression: number, scratch: number, out: number,
  ): number;
  mergeRuns(
    runs: number, k: number, snapshots: number, snapCount: number, dropTombstones: number,
    scratch: number, outOffsets: number, outData: number,
  ): number;
}

/** Arena bytes one call may lay out: below asconfig.json's maximumMemory (1 GiB), with headroom. */
const ARENA_BYTES_MAX = 0x3c00_0000;
/** crc32c copies its input through the arena in pieces of this size. */
const CRC_CHUNK_BYTES = 1 << 20;
/** Bytes of a table record header in the buildTables output stream (asm/table.ts). */
const TABLE_HEADER_BYTES = 48;
/** Bytes of a run descriptor for mergeRuns (asm/merge.ts RUN_WORDS). */
const RUN_DESCRIPTOR_BYTES = 16;
const ENTRY_HEADER_BYTES_MAX = 15;
const BLOCK_TRAILER_BYTES = 5;
const U32_LIMIT = 0xffff_ffff;

const align4 = (n: number): number => (n + 3) & ~3;
const align8 = (n: number): number => (n + 7) & ~7;

/** Where a run copied into the arena lives: key i starts at dataBias + offsets[2i] (mod 2^32). */
interface PlacedRun {
  dataBias: number;
  offsetsPtr: number;
  count: number;
  /** First free arena byte after the run. */
  end: number;
}

export class WasmHotPaths implements HotPaths {
  readonly name = 'wasm' as const;
  private readonly exports: WasmExports;
  private readonly base: number;
  private readonly resultWord: number;
  private buffer: ArrayBuffer | null = null;
  private u8 = new Uint8Array(0);
  private u32 = new Uint32Array(0);
  private busy = false;
  /** What a streamed compaction (./compact-stream.ts) may use, inside enter()/leave(). */
  private readonly door: ArenaDoor;

  constructor(instance: WasmInstance) {
    this.exports = instance.exports as unknown as WasmExports;
    this.base = align8(this.exports.arenaBase());
    this.resultWord = this.exports.resultPtr() >>> 2;
    this.refreshViews();
    this.door = {
      exports: this.exports,
      base: this.base,
      reserve: (endPtr) => this.reserve(endPtr),
      u8: () => {
        this.refreshViews();
        return this.u8;
      },
      u32: () => {
        this.refreshViews();
        return this.u32;
      },
      result: (index) => {
        this.refreshViews();
        return this.result(index);
      },
    };
  }

  /** Bytes of the module's memory: it grows to the largest call's arena and never shrinks. */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  crc32c(data: Uint8Array, crc = 0): number {
    this.enter();
    try {
      let c = crc >>> 0;
      const piece = Math.min(data.length, CRC_CHUNK_BYTES);
      this.reserve(this.base + piece);
      // Bounded: ceil(length / CRC_CHUNK_BYTES) pieces.
      for (let at = 0; at < data.length; at += CRC_CHUNK_BYTES) {
        const part = data.subarray(at, Math.min(data.length, at + CRC_CHUNK_BYTES));
        this.u8.set(part, this.base);
        c = this.exports.crc32c(this.base, part.length, c) >>> 0;
      }
      return c;
    } finally {
      this.leave();
    }
  }

  bloomBuild(run: EntryRun, bitsPerKey: number): Uint8Array {
    assert(Number.isInteger(bitsPerKey) && bitsPerKey >= 0 && bitsPerKey <= 1024, () => `bitsPerKey ${bitsPerKey}`);
    this.enter();
    try {
      const placed = this.placeRun(run, 0, run.count, this.base, 0);
      const out = placed.end;
      this.check('bloomBuild', this.exports.bloomBuild(placed.dataBias, placed.offsetsPtr, placed.count, bitsPerKey, out));
      return this.u8.slice(out, out + this.result(0));
    } finally {
      this.leave();
    }
  }

  bloomMayContain(filter: Uint8Array, userKey: Uint8Array): boolean {
    this.enter();
    try {
      const keyPtr = this.base + filter.length;
      this.reserve(keyPtr + userKey.length);
      this.u8.set(filter, this.base);
      this.u8.set(userKey, keyPtr);
      return this.exports.bloomMayContain(this.base, filter.length, keyPtr, userKey.length) !== 0;
    } finally {
      this.leave();
    }
  }

  encodeBlock(run: EntryRun, start: number, end: number, restartInterval: number): Uint8Array {
    assert(start >= 0 && start < end && end <= run.count, () => `encodeBlock range [${start}, ${end}) of ${run.count}`);
    assert(Number.isInteger(restartInterval) && restartInterval >= 1, () => `restartInterval ${restartInterval}`);
    this.enter();
    try {
      const count = end - start;
      const restartsBytes = 4 * (Math.ceil(count / restartInterval) + 1);
      const dataBytes = run.offsets[2 * end]! - run.offsets[2 * start]!;
      const outBytesMax = dataBytes + ENTRY_HEADER_BYTES_MAX * count + restartsBytes + BLOCK_TRAILER_BYTES;
      const placed = this.placeRun(run, start, end, this.base, restartsBytes + outBytesMax);
      const restarts = placed.end;
      const out = restarts + restartsBytes;
      this.check('encodeBlock',
        this.exports.encodeBlock(placed.dataBias, placed.offsetsPtr, count, Math.min(restartInterval, U32_LIMIT), restarts, out));
      return this.u8.slice(out, out + this.result(0));
    } finally {
      this.leave();
    }
  }

  decodeBlock(block: Uint8Array, file?: string, offset?: number): EntryRun {
    this.enter();
    try {
      const out = align8(this.base + block.length);
      this.reserve(out);
      this.u8.set(block, this.base);
      const status = this.exports.decodeBlock(this.base, block.length, out);
      this.refreshViews();
      if (status !== STATUS_OK) throw statusError('decodeBlock', status, file, offset, this.result(4));
      return this.copyOutRun(this.result(0), this.result(1), this.result(2), this.result(3));
    } finally {
      this.leave();
    }
  }

  lz4Compress(data: Uint8Array, limitBytes = Infinity): Uint8Array | undefined {
    this.enter();
    try {
      const limit = Math.min(limitBytes, lz4CompressBound(data.length));
      const out = align8(this.base + data.length);
      this.reserve(out + limit);
      this.u8.set(data, this.base);
      this.check('lz4Compress', this.exports.lz4Compress(this.base, data.length, out, limit));
      const bytes = this.result(0);
      return bytes === 0 ? undefined : this.u8.slice(out, out + bytes);
    } finally {
      this.leave();
    }
  }

  lz4Decompress(block: Uint8Array, rawBytes: number): Uint8Array {
    this.enter();
    try {
      const out = align8(this.base + block.length);
      this.reserve(out + rawBytes);
      this.u8.set(block, this.base);
      const status = this.exports.lz4Decompress(this.base, block.length, out, rawBytes);
      if (status !== STATUS_OK) {
        const bad = this.result(4);
        throw new CorruptionError(`LZ4 block does not decode (block byte ${bad})`, undefined, bad);
      }
      return this.u8.slice(out, out + rawBytes);
    } finally {
      this.leave();
    }
  }

  buildTables(run: EntryRun, options: TableCutOptions): BuiltTable[] {
    const { blockSizeBytes, restartInterval, bloomBitsPerKey, targetFileSizeBytes } = options;
    assert(options.blockCompression === undefined || options.blockCompression === 'none' || options.blockCompression === 'lz4',
      () => `blockCompression ${String(options.blockCompression)}`);
    assert(Number.isInteger(blockSizeBytes) && blockSizeBytes >= 1, () => `blockSizeBytes ${blockSizeBytes}`);
    assert(Number.isInteger(restartInterval) && restartInterval >= 1, () => `restartInterval ${restartInterval}`);
    assert(Number.isInteger(bloomBitsPerKey) && bloomBitsPerKey >= 0 && bloomBitsPerKey <= 1024,
      () => `bloomBitsPerKey ${bloomBitsPerKey}`);
    assert(targetFileSizeBytes >= 0, () => `targetFileSizeBytes ${targetFileSizeBytes}`);
    if (run.count === 0) return [];
    this.enter();
    try {
      const scratchBytes = this.exports.tableScratchBytes(run.count) >>> 0;
      const placed = this.placeRun(run, 0, run.count, this.base, scratchBytes);
      const scratch = align8(placed.end);
      const out = align8(scratch + scratchBytes);
      const status = this.exports.buildTables(placed.dataBias, placed.offsetsPtr, run.count,
        Math.min(blockSizeBytes, U32_LIMIT), Math.min(restartInterval, U32_LIMIT), bloomBitsPerKey,
        Math.min(Math.ceil(targetFileSizeBytes), U32_LIMIT), compressesBlocks(options) ? 1 : 0, scratch, out);
      this.check('buildTables', status);
      const tableCount = this.result(0);
      let header = this.result(1);
      const tables: BuiltTable[] = [];
      const { data, offsets } = run;
      // Bounded: tableCount records, each at least one entry.
      for (let t = 0; t < tableCount; t++) {
        const h = header >>> 2;
        const u32 = this.u32;
        const fileBytes = u32[h]!;
        const first = u32[h + 1]!;
        const last = u32[h + 2]!;
        const fileStart = header + TABLE_HEADER_BYTES;
        tables.push({
          bytes: this.u8.slice(fileStart, fileStart + fileBytes),
          smallestKey: data.slice(offsets[2 * first]!, offsets[2 * first + 1]!),
          largestKey: data.slice(offsets[2 * last]!, offsets[2 * last + 1]!),
          entryCount: u32[h + 3]!,
          deletionCount: u32[h + 4]!,
          smallestSequence: u32[h + 5]! + u32[h + 6]! * 0x1_0000_0000,
          largestSequence: u32[h + 7]! + u32[h + 8]! * 0x1_0000_0000,
        });
        header = align4(fileStart + fileBytes);
      }
      assert(tables.reduce((n, t) => n + t.entryCount, 0) === run.count, 'buildTables wrote every entry once');
      return tables;
    } finally {
      this.leave();
    }
  }

  mergeRuns(runs: readonly EntryRun[], options: MergeOptions): EntryRun {
    const { snapshots, dropTombstones } = options;
    for (let i = 1; i < snapshots.length; i++) {
      assert(snapshots[i - 1]! < snapshots[i]!, 'snapshots are strictly ascending');
    }
    this.enter();
    try {
      const k = runs.length;
      let totalEntries = 0;
      let totalDataBytes = 0;
      let inputBytes = 0;
      for (const run of runs) {
        const dataBytes = run.offsets[2 * run.count]! - run.offsets[0]!;
        totalEntries += run.count;
        totalDataBytes += dataBytes;
        inputBytes += align8(dataBytes) + align8(4 * (2 * run.count + 1));
      }
      const descriptors = this.base;
      const scratch = descriptors + k * RUN_DESCRIPTOR_BYTES;
      const snaps = align8(scratch + 12 * k);
      let at = snaps + 8 * snapshots.length;
      const outOffsets = align8(at + inputBytes);
      const outData = align8(outOffsets + 4 * (2 * totalEntries + 1));
      this.reserve(outData + totalDataBytes);
      const u32 = this.u32;
      for (let i = 0; i < snapshots.length; i++) {
        const s = snapshots[i]!;
        u32[(snaps >>> 2) + 2 * i] = s >>> 0;
        u32[(snaps >>> 2) + 2 * i + 1] = Math.floor(s / 0x1_0000_0000);
      }
      for (let r = 0; r < k; r++) {
        const run = runs[r]!;
        const placed = this.placeRun(run, 0, run.count, at, -1);
        const d = (descriptors >>> 2) + 4 * r;
        u32[d] = placed.dataBias;
        u32[d + 1] = placed.offsetsPtr;
        u32[d + 2] = run.count;
        u32[d + 3] = 0;
        at = placed.end;
      }
      const status = this.exports.mergeRuns(descriptors, k, snaps, snapshots.length, dropTombstones ? 1 : 0,
        scratch, outOffsets, outData);
      this.check('mergeRuns', status);
      const count = this.result(0);
      assert(count <= totalEntries && this.result(1) <= totalDataBytes, 'merge output fits its reservation');
      // Two copies, not copyOutRun: the offsets reservation was sized for every input entry.
      const merged: EntryRun = {
        data: this.u8.slice(outData, outData + this.result(1)),
        offsets: this.u32.slice(outOffsets >>> 2, (outOffsets >>> 2) + 2 * count + 1),
        count,
      };
      if (INVARIANTS) assertStrictlySorted(merged);
      return merged;
    } finally {
      this.leave();
    }
  }

  compactStreams(inputs: readonly StreamSource[], options: StreamOptions, output: TableOutput): StreamResult {
    this.enter();
    try {
      return wasmCompactStreams(this.door, inputs, options, output);
    } finally {
      this.leave();
    }
  }

  // ---- the door ----

  private enter(): void {
    assert(!this.busy, 'wasm hot paths re-entered');
    this.busy = true;
  }

  private leave(): void {
    this.busy = false;
  }

  /** Re-creates the views when memory grew (growth detaches the old buffer). */
  private refreshViews(): void {
    const buffer = this.exports.memory.buffer;
    if (buffer !== this.buffer) {
      this.buffer = buffer;
      this.u8 = new Uint8Array(buffer);
      this.u32 = new Uint32Array(buffer);
    }
  }

  /** Makes [0, endPtr) addressable. */
  private reserve(endPtr: number): void {
    if (endPtr > ARENA_BYTES_MAX) throw new WasmError('reserve', STATUS_OUT_OF_MEMORY, `${endPtr} bytes of arena`);
    const status = this.exports.reserve(endPtr);
    this.refreshViews();
    if (status !== STATUS_OK) throw statusError('reserve', status);
  }

  /** After an export: re-creates views, and throws on a non-zero status. */
  private check(operation: string, status: number): void {
    this.refreshViews();
    if (status !== STATUS_OK) throw statusError(operation, status);
  }

  /**
   * Copies a run the module wrote (offsets at offsetsPtr, data at dataPtr after them) out of the
   * arena with one allocation: the returned offsets and data are views of one new buffer.
   */
  private copyOutRun(count: number, offsetsPtr: number, dataPtr: number, dataBytes: number): EntryRun {
    assert(offsetsPtr % 4 === 0 && dataPtr >= offsetsPtr + 4 * (2 * count + 1), 'run layout in the arena');
    const copy = this.u8.slice(offsetsPtr, dataPtr + dataBytes);
    return {
      data: new Uint8Array(copy.buffer, dataPtr - offsetsPtr, dataBytes),
      offsets: new Uint32Array(copy.buffer, 0, 2 * count + 1),
      count,
    };
  }

  private result(index: number): number {
    return this.u32[this.resultWord + index]!;
  }

  /**
   * Copies run entries [start, end) (offsets then data) into the arena at `at`. Unless
   * `extraBytes` is -1 (the caller reserved already), first reserves room for the run plus
   * `extraBytes` more.
   */
  private placeRun(run: EntryRun, start: number, end: number, at: number, extraBytes: number): PlacedRun {
    assert(run.offsets.length >= 2 * run.count + 1, 'run offsets cover its entries');
    const offsetsPtr = align8(at);
    const offsetCount = 2 * (end - start) + 1;
    const dataPtr = align8(offsetsPtr + 4 * offsetCount);
    const first = run.offsets[2 * start]!;
    const dataBytes = run.offsets[2 * end]! - first;
    const runEnd = align8(dataPtr + dataBytes);
    if (extraBytes >= 0) this.reserve(runEnd + extraBytes + 16);
    this.u32.set(run.offsets.subarray(2 * start, 2 * start + offsetCount), offsetsPtr >>> 2);
    this.u8.set(run.data.subarray(first, first + dataBytes), dataPtr);
    return { dataBias: (dataPtr - first) >>> 0, offsetsPtr, count: end - start, end: runEnd };
  }
}

/** INVARIANTS check: the run's internal keys strictly increase. */
function assertStrictlySorted(run: EntryRun): void {
  const { data, offsets } = run;
  for (let i = 1; i < run.count; i++) {
    assert(compareInternalRange(data, offsets[2 * i - 2]!, offsets[2 * i - 1]!, data, offsets[2 * i]!, offsets[2 * i + 1]!) < 0,
      () => `merge output is strictly sorted (entry ${i})`);
  }
}

const WASM_URL = new URL('../../../build/lsmraft.wasm', import.meta.url);

let compiled: Promise<WasmModule> | undefined;

/** Loads build/lsmraft.wasm (compiled once per thread) and returns a fresh instance's hot paths. */
export async function loadWasmHotPaths(): Promise<HotPaths> {
  compiled ??= readFile(WASM_URL).then((bytes) => webAssembly.compile(bytes));
  let module: WasmModule;
  try {
    module = await compiled;
  } catch (err) {
    // Not cached: a later call (after `npm run build:asm`) may succeed.
    compiled = undefined;
    throw err;
  }
  return new WasmHotPaths(await webAssembly.instantiate(module, {}));
}

/** Synchronous twin of loadWasmHotPaths: from given module bytes, or build/lsmraft.wasm. */
export function instantiateWasmHotPaths(bytes?: Uint8Array): HotPaths {
  const module = new webAssembly.Module(bytes ?? readFileSync(WASM_URL));
  return new WasmHotPaths(new webAssembly.Instance(module, {}));
}
