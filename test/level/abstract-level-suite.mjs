// abstract-level's shared test suite (abstract-level/test, run with tape as its README prescribes)
// against LsmLevel, or against classic-level for comparison:
//
//   node --import tsx test/level/abstract-level-suite.mjs            # LsmLevel
//   node --import tsx test/level/abstract-level-suite.mjs classic    # classic-level 3.0.0
//
// Each factory() call gets its own directory under one temporary root, removed when tape ends.
// test/level/abstract-level-suite.test.ts runs this file in a child process and reads the TAP summary.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import suite from 'abstract-level/test/index.js';

const target = process.argv[2] ?? 'lsm';
const root = mkdtempSync(join(tmpdir(), `lsmraft-level-suite-${target}-`));
let dirCount = 0;

let factory;
if (target === 'classic') {
  const { ClassicLevel } = await import('classic-level');
  factory = (options) => new ClassicLevel(join(root, String(dirCount++)), options);
} else if (target === 'lsm') {
  const { LsmLevel } = await import('../../src/level/index.ts');
  // The suite opens ~1,500 databases and leaves many of them open until the process exits, so the
  // trees run their flush and compaction jobs inline: a worker pool per tree would mean two threads
  // (~35 MB) per database left open. LSM_LEVEL_SUITE_ENGINE picks the engine ('js' or 'wasm';
  // default: the tree's). Both are added at _open(), not to the constructor options, which the
  // suite compares whole.
  const extra = { workerPool: false };
  if (process.env.LSM_LEVEL_SUITE_ENGINE !== undefined) extra.engine = process.env.LSM_LEVEL_SUITE_ENGINE;
  class Level extends LsmLevel {
    _open(options) {
      return super._open({ ...options, ...extra });
    }
  }
  factory = (options) => new Level(join(root, String(dirCount++)), options);
} else {
  throw new Error(`unknown target ${target}: expected 'lsm' or 'classic'`);
}

test.onFinish(() => {
  rmSync(root, { recursive: true, force: true });
});

suite({ test, factory });
