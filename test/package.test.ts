/**
 * The package as a user sees it: after `npm install` (which builds dist/ and build/), importing
 * 'lsmraft' (or 'lsmraft/lsm', the tree alone) by name from inside the package gives the public API,
 * and a tree opened through it works.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('package', () => {
  it.each(['lsmraft', 'lsmraft/lsm'])('%s is importable by name and opens a tree with both engines', (entry) => {
    expect(existsSync(`${root}dist/index.js`), 'dist/ is built by npm install').toBe(true);
    expect(existsSync(`${root}build/lsmraft.wasm`), 'build/ is built by npm install').toBe(true);
    const script = `
      import * as api from '${entry}';
      const { LsmTree, CorruptionError } = api;
      import { mkdtempSync, rmSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const out = [];
      for (const engine of ['wasm', 'js']) {
        const dir = mkdtempSync(join(tmpdir(), 'lsmraft-pkg-'));
        const tree = await LsmTree.open(dir, { engine });
        await tree.put('hello', 'world', { sync: true });
        await tree.flush();
        out.push(engine + '=' + new TextDecoder().decode(await tree.get('hello')));
        await tree.close();
        rmSync(dir, { recursive: true, force: true });
      }
      console.log(out.join(' '), typeof CorruptionError, typeof api.KvNode);
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    // The LSM-only entry carries the tree and its errors, not the node.
    expect(output.trim()).toBe(`wasm=world js=world function ${entry === 'lsmraft' ? 'function' : 'undefined'}`);
  });

  it('packs only what a user runs: dist without the simulator or source maps, the WASM module, docs, LICENSE', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const [pack] = JSON.parse(out) as Array<{ files: Array<{ path: string }>; size: number }>;
    const files = pack!.files.map((f) => f.path);
    for (const needed of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/lsm.js', 'dist/lsm.d.ts', 'dist/level/index.js', 'dist/cli/kv-server.js', 'dist/cli/kvctl.js', 'dist/cli/lsmraft.js', 'dist/pool/worker.js', 'build/lsmraft.wasm']) {
      expect(files, needed).toContain(needed);
    }
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('dist/sim/') || f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    // The packed size, as the README states it (about 456 kB): a regression past 1 MB is a mistake.
    expect(pack!.size).toBeLessThan(1_000_000);
  });
});
