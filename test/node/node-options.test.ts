import { describe, expect, it } from 'vitest';
import { NODE_BASE_LEVEL_BYTES_DEFAULT, NODE_MEMTABLE_BYTES_DEFAULT, resolveNodeOptions } from '../../src/node/node-options.js';
import { MEMTABLE_BYTES_DEFAULT } from '../../src/lsm/options.js';

describe('resolveNodeOptions: the trees of a node', () => {
  it('default to a quarter of a lone tree memtable, with the base level scaled alike', () => {
    const o = resolveNodeOptions({ id: 1, dataDir: '/tmp/unused-node-options', address: '127.0.0.1:0' });
    expect(o.tree.memtableBytesMax).toBe(NODE_MEMTABLE_BYTES_DEFAULT);
    expect(o.tree.l1MaxBytes).toBe(NODE_BASE_LEVEL_BYTES_DEFAULT);
    expect(NODE_MEMTABLE_BYTES_DEFAULT).toBe(MEMTABLE_BYTES_DEFAULT / 4);
  });

  it('take memtableBytesMax for both trees and leave the base level to the tree', () => {
    const o = resolveNodeOptions({ id: 1, dataDir: '/tmp/unused-node-options', address: '127.0.0.1:0', memtableBytesMax: 1 << 20 });
    expect(o.tree.memtableBytesMax).toBe(1 << 20);
    expect(o.tree.l1MaxBytes).toBeUndefined();
  });
});
