/**
 * The bug channel. An assertion failure means the program is wrong, not the input: it is thrown as
 * an AssertionFailure, never caught by library code, and stops the process.
 *
 * Cheap checks are always on. Expensive ones (a whole merged run is sorted, a whole log matches)
 * sit behind INVARIANTS, which is read once from the LSMRAFT_INVARIANTS environment variable; the
 * test suite turns it on.
 */

export const INVARIANTS: boolean = process.env.LSMRAFT_INVARIANTS === '1';

export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionFailure';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionFailure(typeof message === 'function' ? message() : message);
  }
}

export function unreachable(what: never | string): never {
  throw new AssertionFailure(`unreachable: ${String(what)}`);
}
