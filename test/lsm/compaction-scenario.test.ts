/**
 * Scenario runner for the compaction picker (after etcd's datadriven tests and Pebble's testdata).
 * Each test/lsm/testdata/compaction-*.txt holds blocks of
 *
 *   command args
 *   input lines (optional)
 *   ----
 *   expected output
 *   (blank line)
 *
 * Lines outside blocks that start with '#' are comments; files are read by test/helpers/scenario.ts.
 * LSMRAFT_REWRITE=1 rewrites the expected outputs from what the code produces (review the diff
 * before committing it).
 *
 * Commands:
 *   options levels=7 l0-trigger=4 l1-max=10M multiplier=10 target=1M [dynamic=on]
 *   add            input lines `L<n> <a>-<b> #<number> [size=<n>[K|M]] [seq=<lo>[-<hi>]]`; prints the version
 *   show           the version: `L<n> (<bytes>): #<number>[<a>-<b>] ...`
 *   scores         the compaction score of each scored level
 *   targets        levelTargets: the base level, then each level's byte target
 *   pointer L<n> <key>     the level's compact pointer, just after user key <key>
 *   pick           pickCompaction; prints Compaction.describe() or `none`
 *   manual [L<n>] [<a>-<b>]  pickManualCompaction (without a level: one step of a full compaction)
 *   apply          installs the last pick with outputs from input lines (same syntax, level ignored
 *                  and taken as the output level); a trivial move takes none. Prints the version.
 *   get <key>      Version.filesForGet, in read order
 *   overlap L<n> <a>-<b>   Version.overlappingFiles
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  COMPACTION_OPTIONS_DEFAULT,
  levelScores,
  levelTargets,
  pickCompaction,
  pickManualCompaction,
  type Compaction,
  type CompactionOptions,
} from '../../src/lsm/compaction-picker.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { VersionEdit, type FileMetadata } from '../../src/lsm/version-edit.js';
import { applyEdit, largestUserKey, smallestUserKey, Version } from '../../src/lsm/version.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { runScenarioFile, type ScenarioBlock } from '../helpers/scenario.js';

const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

function parseSize(s: string): number {
  const m = /^([0-9.]+)([KMG]?)$/.exec(s);
  if (m === null) throw new Error(`bad size ${s}`);
  const mul = m[2] === 'K' ? 1024 : m[2] === 'M' ? 1024 * 1024 : m[2] === 'G' ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * mul);
}

function formatSize(n: number): string {
  const M = 1024 * 1024;
  if (n >= M && n % (M / 4) === 0) return `${n / M}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return `${n}`;
}

function parseRange(s: string): [Uint8Array, Uint8Array] {
  const dash = s.indexOf('-');
  if (dash <= 0) throw new Error(`bad key range ${s}`);
  return [utf8(s.slice(0, dash)), utf8(s.slice(dash + 1))];
}

function parseLevel(s: string): number {
  const m = /^L([0-9]+)$/.exec(s);
  if (m === null) throw new Error(`bad level ${s}`);
  return Number(m[1]);
}

/** `L<n> <a>-<b> #<number> [size=..] [seq=lo[-hi]]` */
function parseFile(line: string): { level: number; file: FileMetadata } {
  const parts = line.trim().split(/\s+/);
  const level = parseLevel(parts[0]!);
  const [a, b] = parseRange(parts[1]!);
  if (!parts[2]?.startsWith('#')) throw new Error(`bad file spec ${line}`);
  const number = Number(parts[2].slice(1));
  let size = 1024 * 1024;
  let seqLo = number;
  let seqHi = number;
  for (const p of parts.slice(3)) {
    const [k, v] = p.split('=') as [string, string];
    if (k === 'size') size = parseSize(v);
    else if (k === 'seq') {
      const [lo, hi] = v.split('-');
      seqLo = Number(lo);
      seqHi = Number(hi ?? lo);
    } else throw new Error(`bad file attribute ${p}`);
  }
  return {
    level,
    file: {
      number,
      size,
      smallest: makeInternalKey(a, seqHi, KIND_PUT),
      largest: makeInternalKey(b, seqLo, KIND_PUT),
      entryCount: 10,
      deletionCount: 0,
      smallestSeq: seqLo,
      largestSeq: seqHi,
    },
  };
}

function fileLabel(f: FileMetadata): string {
  return `#${f.number}[${fromUtf8(smallestUserKey(f))}-${fromUtf8(largestUserKey(f))}]`;
}

function show(v: Version): string[] {
  const out: string[] = [];
  for (let level = 0; level < v.numLevels; level++) {
    const files = v.files(level);
    if (files.length === 0) continue;
    out.push(`L${level} (${formatSize(v.levelBytes(level))}): ${files.map(fileLabel).join(' ')}`);
  }
  return out.length === 0 ? ['empty'] : out;
}

class Scenario {
  /** Static level targets unless a scenario's options say dynamic=on. */
  options: CompactionOptions = { ...COMPACTION_OPTIONS_DEFAULT, dynamicLevelBytes: false };
  version = Version.empty(COMPACTION_OPTIONS_DEFAULT.numLevels);
  pointers: (Uint8Array | undefined)[] = [];
  last: Compaction | null = null;

  run(block: ScenarioBlock): string[] {
    const { name, args, input } = block;
    switch (name) {
      case 'options': {
        for (const a of args) {
          const [k, v] = a.split('=') as [string, string];
          if (k === 'levels') this.options.numLevels = Number(v);
          else if (k === 'l0-trigger') this.options.l0CompactionTrigger = Number(v);
          else if (k === 'l1-max') this.options.l1MaxBytes = parseSize(v);
          else if (k === 'multiplier') this.options.levelSizeMultiplier = Number(v);
          else if (k === 'target') this.options.targetFileSizeBytes = parseSize(v);
          else if (k === 'dynamic') this.options.dynamicLevelBytes = v === 'on';
          else throw new Error(`bad option ${a}`);
        }
        this.version = Version.empty(this.options.numLevels);
        this.pointers = [];
        const o = this.options;
        return [`levels=${o.numLevels} l0-trigger=${o.l0CompactionTrigger} l1-max=${formatSize(o.l1MaxBytes)} multiplier=${o.levelSizeMultiplier} target=${formatSize(o.targetFileSizeBytes)}${o.dynamicLevelBytes ? ' dynamic=on' : ''}`];
      }
      case 'add': {
        const edit = new VersionEdit();
        for (const line of input) {
          const { level, file } = parseFile(line);
          edit.addFile(level, file);
        }
        this.version = applyEdit(this.version, edit);
        return show(this.version);
      }
      case 'show':
        return show(this.version);
      case 'scores':
        return levelScores(this.version, this.options).map((s) => `L${s.level} ${s.score.toFixed(2)}`);
      case 'targets': {
        const t = levelTargets(this.version, this.options);
        const sizes = t.bytes.map((b, level) => (b === Infinity ? undefined : `L${level} ${formatSize(Math.round(b))}`)).filter((x) => x !== undefined);
        return [`base L${t.baseLevel}`, sizes.join(', ')];
      }
      case 'pointer': {
        const level = parseLevel(args[0]!);
        this.pointers[level] = makeInternalKey(utf8(args[1]!), 0, KIND_DELETE);
        return ['ok'];
      }
      case 'pick':
        this.last = pickCompaction(this.version, this.options, this.pointers);
        return [this.last === null ? 'none' : this.last.describe()];
      case 'manual': {
        let level: number | undefined;
        let range: { smallest?: Uint8Array; largest?: Uint8Array } = {};
        for (const a of args) {
          if (a.startsWith('L')) level = parseLevel(a);
          else {
            const [smallest, largest] = parseRange(a);
            range = { smallest, largest };
          }
        }
        this.last = pickManualCompaction(this.version, this.options, level, range);
        return [this.last === null ? 'none' : this.last.describe()];
      }
      case 'apply': {
        const c = this.last;
        if (c === null) throw new Error('apply without a compaction');
        const outputs = input.map((line) => parseFile(line).file);
        const edit = c.toEdit(outputs);
        this.version = applyEdit(this.version, edit);
        for (const p of edit.compactPointers) this.pointers[p.level] = p.key;
        this.last = null;
        return show(this.version);
      }
      case 'get': {
        const files = [...this.version.filesForGet(utf8(args[0]!))];
        return [files.length === 0 ? 'none' : files.map(({ level, file }) => `L${level}#${file.number}`).join(' ')];
      }
      case 'overlap': {
        const [a, b] = parseRange(args[1]!);
        const files = this.version.overlappingFiles(parseLevel(args[0]!), a, b);
        return [files.length === 0 ? 'none' : files.map(fileLabel).join(' ')];
      }
      default:
        throw new Error(`unknown command ${name}`);
    }
  }
}

const files = readdirSync(TESTDATA).filter((n) => n.startsWith('compaction-') && n.endsWith('.txt')).sort();

describe('compaction scenarios', () => {
  it('has scenario files', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  for (const name of files) {
    it(name, () => {
      const scenario = new Scenario();
      expect(runScenarioFile(`${TESTDATA}${name}`, (b) => scenario.run(b))).toBeGreaterThan(0);
    });
  }
});
