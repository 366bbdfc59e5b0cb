/**
 * The STATE pointer file's bytes (docs/format/node-files.md), pinned: a change to its encoding
 * must be a deliberate format change. Also: every flipped byte is caught by its checksum.
 */
import { describe, expect, it } from 'vitest';
import { decodeStatePointer, encodeStatePointer } from '../../src/node/snapshot/install.js';
import { hex } from '../helpers/hex.js';


describe('STATE pointer', () => {
  it('encodes generation 1 without a snapshot as documented', () => {
    const bytes = encodeStatePointer({ generation: 1, installed: undefined });
    expect(hex(bytes)).toBe('010100e7976af5');
    expect(decodeStatePointer(bytes)).toEqual({ generation: 1, installed: undefined });
  });

  it('encodes an installed snapshot as documented', () => {
    const p = { generation: 2, installed: { index: 300, term: 2, conf: { voters: [2, 3], learners: [] } } };
    const bytes = encodeStatePointer(p);
    expect(hex(bytes)).toBe('010201ac0202020203 00166c1e22'.replace(' ', ''));
    expect(decodeStatePointer(bytes)).toEqual(p);
  });

  it('rejects every flipped byte with LSM_ERR_CORRUPTION', () => {
    const bytes = encodeStatePointer({ generation: 7, installed: { index: 9, term: 3, conf: { voters: [1], learners: [4] } } });
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i] = bad[i]! ^ 0x01;
      let code: string | undefined;
      try {
        decodeStatePointer(bad, 'STATE');
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code, `flip at byte ${i}`).toBe('LSM_ERR_CORRUPTION');
    }
  });
});
