// lsmraft's public API. Everything a user can import comes from here.
export {
  LsmraftError,
  CorruptionError,
  ClosedError,
  LockedError,
  InvalidArgumentError,
  IoError,
  JobFailedError,
  WasmError,
} from './errors.js';
export type { LsmraftErrorCode } from './errors.js';
