/**
 * An MvccStore over an in-memory LsmTree, with a write() that runs one write as the state machine
 * does (a batch, its ops in one tree batch, then publish), and the printers the scenario files use.
 */
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import type { MvccApplied } from '../../src/mvcc/apply.js';
import { MvccError } from '../../src/mvcc/errors.js';
import type { MvccWrite, RangeResponse, ResponseOp } from '../../src/mvcc/requests.js';
import { MvccStore } from '../../src/mvcc/store.js';
import type { KeyValue, RevisionEvents } from '../../src/mvcc/types.js';
import { fromUtf8 } from '../../src/util/bytes.js';

export interface MvccHarness {
  tree: LsmTree;
  store: MvccStore;
  fs: CrashableMemFileSystem;
  /** Applies one write in its own batch; an MvccError comes back as the result. */
  write(w: MvccWrite): Promise<MvccApplied | MvccError>;
  /** Every revision the writes produced, in order. */
  applied: RevisionEvents[];
}

export async function openMvcc(fs = new CrashableMemFileSystem(), dir = '/mvcc'): Promise<MvccHarness> {
  const tree = await LsmTree.open(dir, { fs, engine: 'js', workerPool: false, wal: false });
  const store = new MvccStore(tree);
  const applied: RevisionEvents[] = [];
  return {
    tree,
    store,
    fs,
    applied,
    async write(w) {
      const batch = store.beginBatch();
      let out: MvccApplied | MvccError;
      try {
        out = batch.apply(w);
      } catch (err) {
        if (!(err instanceof MvccError)) throw err;
        out = err;
      }
      await tree.batch(batch.takeOps());
      store.publish(batch);
      applied.push(...batch.events);
      return out;
    },
  };
}

export function showKv(kv: KeyValue): string {
  const lease = kv.lease !== 0n ? ` lease=${kv.lease}` : '';
  return `${fromUtf8(kv.key)}=${fromUtf8(kv.value)} c=${kv.createRevision} m=${kv.modRevision} v=${kv.version}${lease}`;
}

export function showRange(r: RangeResponse, indent = ''): string[] {
  return [`${indent}count=${r.count} more=${r.more}`, ...r.kvs.map((kv) => `${indent}  ${showKv(kv)}`)];
}

export function showResponseOp(op: ResponseOp, indent: string): string[] {
  if ('range' in op) return [`${indent}range:`, ...showRange(op.range, `${indent}  `)];
  if ('put' in op) return [`${indent}put${op.put.prevKv !== undefined ? ` prev: ${showKv(op.put.prevKv)}` : ''}`];
  if ('deleteRange' in op) return [`${indent}deleted=${op.deleteRange.deleted}`, ...op.deleteRange.prevKvs.map((kv) => `${indent}  prev: ${showKv(kv)}`)];
  return [`${indent}txn succeeded=${op.txn.succeeded}`, ...op.txn.responses.flatMap((r) => showResponseOp(r, `${indent}  `))];
}
