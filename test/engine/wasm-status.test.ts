/**
 * The WASM status codes are defined twice by hand: asm/memory.ts (the module returns them) and
 * src/engine/wasm/status.ts (the host turns them into typed errors). This test parses the
 * STATUS_* constants out of asm/memory.ts and requires the same names with the same numbers in
 * status.ts, so a code added, removed or renumbered on one side only fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as status from '../../src/engine/wasm/status.js';

function asmStatusCodes(): Record<string, number> {
  const source = readFileSync(new URL('../../asm/memory.ts', import.meta.url), 'utf8');
  const codes: Record<string, number> = {};
  for (const m of source.matchAll(/^export const (STATUS_[A-Z0-9_]+)\s*:\s*i32\s*=\s*(\d+)\s*;/gm)) codes[m[1]!] = Number(m[2]);
  return codes;
}

function hostStatusCodes(): Record<string, number> {
  const codes: Record<string, number> = {};
  for (const [name, value] of Object.entries(status)) if (name.startsWith('STATUS_') && typeof value === 'number') codes[name] = value;
  return codes;
}

describe('WASM status codes', () => {
  it('asm/memory.ts and src/engine/wasm/status.ts define the same codes', () => {
    const asm = asmStatusCodes();
    // The parse itself must find the codes, or the comparison below would compare nothing.
    expect(Object.keys(asm)).toContain('STATUS_OK');
    expect(Object.keys(asm).length).toBeGreaterThanOrEqual(10);
    expect(hostStatusCodes()).toEqual(asm);
  });

  it('no two codes share a number', () => {
    const values = Object.values(asmStatusCodes());
    expect(new Set(values).size).toBe(values.length);
  });
});
