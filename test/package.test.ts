/**
 * The package as a user sees it: after `npm install` (which builds dist/ and build/), importing
 * 'lsmraft' by name from inside the package gives the public API, and a tree opened through it works.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('package', () => {
  it('is importable by name and opens a tree with both engines', () => {
    expect(existsSync(`${root}dist/index.js`), 'dist/ is built by npm install').toBe(true);
    expect(existsSync(`${root}build/lsmraft.wasm`), 'build/ is built by npm install').toBe(true);
    const script = `
      import { LsmTree, CorruptionError } from 'lsmraft';
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
      console.log(out.join(' '), typeof CorruptionError);
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(output.trim()).toBe('wasm=world js=world function');
  });
});
