/**
 * The WASM module's status codes (asm/memory.ts STATUS_*) and how they become typed errors: block
 * layout failures are CorruptionError naming the file and offset, memory exhaustion is WasmError.
 * Keep the numbers in step with asm/memory.ts (test/engine/wasm-status.test.ts checks); asm/README.md
 * lists them.
 */
import { CorruptionError, WasmError } from '../../errors.js';

export const STATUS_OK = 0;
export const STATUS_OUT_OF_MEMORY = 1;
export const STATUS_BLOCK_TOO_SHORT = 2;
export const STATUS_BLOCK_CHECKSUM = 3;
export const STATUS_BLOCK_TYPE = 4;
export const STATUS_BLOCK_RESTARTS = 5;
export const STATUS_BLOCK_ENTRY = 6;
export const STATUS_BLOCK_SHARED = 7;
export const STATUS_BLOCK_KEY_SHORT = 8;
export const STATUS_BLOCK_ORDER = 9;
export const STATUS_BLOCK_EMPTY = 10;
export const STATUS_NEED_INPUT = 11;
export const STATUS_CHUNK_READY = 12;
export const STATUS_TABLE_READY = 13;
export const STATUS_OUTPUT_FULL = 14;
export const STATUS_BLOCK_LZ4 = 15;
export const STATUS_SKIPLIST = 16;

const BLOCK_MESSAGES: Record<number, string> = {
  [STATUS_BLOCK_TOO_SHORT]: 'block is shorter than its trailer and restart count',
  [STATUS_BLOCK_CHECKSUM]: 'block checksum mismatch',
  [STATUS_BLOCK_TYPE]: 'unknown block type',
  [STATUS_BLOCK_RESTARTS]: 'block restart array does not match its entries',
  [STATUS_BLOCK_ENTRY]: 'block entry header is bad or runs past the restart array',
  [STATUS_BLOCK_SHARED]: 'block entry shares more bytes than the previous key has (or a restart shares any)',
  [STATUS_BLOCK_KEY_SHORT]: 'block key is shorter than its 8-byte trailer',
  [STATUS_BLOCK_ORDER]: 'block keys out of order',
  [STATUS_BLOCK_EMPTY]: 'block holds no entries',
  [STATUS_BLOCK_LZ4]: 'compressed block raw size is bad or its LZ4 block does not decode',
};

/**
 * The error for a non-zero status of `operation`. For block statuses `blockPos` is where in the
 * block the fault was found; the error's offset is the block's `offset` in `file` plus it.
 */
export function statusError(
  operation: string, status: number, file?: string, offset?: number, blockPos = 0,
): CorruptionError | WasmError {
  const message = BLOCK_MESSAGES[status];
  if (message === undefined) {
    return new WasmError(operation, status, status === STATUS_OUT_OF_MEMORY ? 'out of memory' : undefined);
  }
  return new CorruptionError(`${message} (block byte ${blockPos})`, file, offset === undefined ? undefined : offset + blockPos);
}
