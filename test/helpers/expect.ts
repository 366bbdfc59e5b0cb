/** Shared test expectations: typed errors by their stable code (src/errors.ts), and byte equality with a readable diff. */
import { expect } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { equalBytes } from '../../src/util/bytes.js';

/** Calls fn, which must throw a CorruptionError (checked by class and stable code); returns it. */
export function expectCorruption(fn: () => unknown): CorruptionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).code).toBe('LSM_ERR_CORRUPTION');
    return err as CorruptionError;
  }
  throw new Error('expected LSM_ERR_CORRUPTION, nothing was thrown');
}

/** Byte equality, cheap when it holds; on a mismatch, vitest's diff of the two arrays. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what?: string): void {
  if (!equalBytes(actual, expected)) expect(Array.from(actual), what).toEqual(Array.from(expected));
}

/** The stable `code` of what f throws, or undefined if it returns (or throws something without one). */
export function errorCodeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/**
 * What f gives, as text to compare between twins: its result, or `corrupt at <offset>` for a
 * CorruptionError (anything else is rethrown).
 */
export function corruptionOutcome(f: () => string): string {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    return `corrupt at ${err.offset}`;
  }
}
