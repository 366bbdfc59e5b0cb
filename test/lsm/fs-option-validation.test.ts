/**
 * The `fs` option is checked at the edge: something that is not a FileSystem fails open() with
 * LSM_ERR_INVALID_ARGUMENT, not with a TypeError from deep inside.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import type { FileSystem } from '../../src/lsm/fs.js';

describe('the fs option', () => {
  it.each([
    ['an empty object', {}],
    ['null', null],
    ['a string', 'node'],
    ['an object missing lock()', { create: () => undefined, exists: () => false }],
  ])('rejects %s with LSM_ERR_INVALID_ARGUMENT', async (_name, fs) => {
    let caught: unknown;
    try {
      await LsmTree.open(path.join(os.tmpdir(), 'lsm-fs-option-never-created'), { engine: 'js', workerPool: false, fs: fs as unknown as FileSystem });
    } catch (err) {
      caught = err;
    }
    expect({ name: (caught as Error).name, code: (caught as { code?: string }).code }).toEqual({
      name: 'InvalidArgumentError',
      code: 'LSM_ERR_INVALID_ARGUMENT',
    });
  });
});
