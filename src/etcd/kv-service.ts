/**
 * etcd's KV service (rpc.proto: Range, Put, DeleteRange, Txn, Compact) over the node's MVCC store.
 * Writes go through Raft (NodeEtcd.propose; a follower forwards them); Range is linearizable
 * (ReadIndex) unless serializable. A txn that writes nothing is served as a read, as etcd serves it
 * (v3_server.go Txn, isTxnReadonly): a ReadIndex barrier, then its compares and reads on the local
 * applied state at one revision (through Raft only if the replica is mid-apply at that moment).
 * Compact with `physical` answers once the compacted history is removed (it proposes empty txns,
 * each of which takes a removal step); without it, the removal goes on with later writes.
 * Edge checks (src/mvcc/requests.ts checkWrite): an empty key, too many txn operations, a key
 * written twice by a txn, ignore_value / ignore_lease with a value / lease.
 */
import type * as grpc from '@grpc/grpc-js';
import { checkWrite, isReadOnlyTxn, type MvccWrite } from '../mvcc/requests.js';
import type { MvccApplied } from '../mvcc/apply.js';
import { assert } from '../util/assert.js';
import { deleteFromWire, int, kvToWire, putFromWire, rangeFromWire, rangeResponseToWire, txnFromWire, txnResponseToWire, type Wire } from './convert.js';
import type { EtcdContext } from './service-context.js';

/** Bound on the steps a physical Compact waits for (each removes up to COMPACT_RECORDS_PER_STEP records). */
export const PHYSICAL_COMPACT_STEPS_MAX = 10_000;

export function kvService(ctx: EtcdContext, def: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const write = async (w: MvccWrite): Promise<MvccApplied> => {
    checkWrite(w);
    return ctx.node.etcd.propose(w);
  };
  return {
    Range: ctx.unary(def.Range, async (req) => {
      const { revision, response } = await ctx.node.etcd.range(rangeFromWire(req), req.serializable === true);
      return rangeResponseToWire(ctx.header(revision), response);
    }),
    Put: ctx.unary(def.Put, async (req) => {
      const r = await write({ type: 'put', put: putFromWire(req) });
      assert(r.response.type === 'put', 'a put answered with another response');
      const prev = r.response.put.prevKv;
      return { header: ctx.header(r.revision), ...(prev !== undefined ? { prev_kv: kvToWire(prev) } : {}) };
    }),
    DeleteRange: ctx.unary(def.DeleteRange, async (req) => {
      const r = await write({ type: 'deleteRange', deleteRange: deleteFromWire(req) });
      assert(r.response.type === 'deleteRange', 'a delete answered with another response');
      const d = r.response.deleteRange;
      return { header: ctx.header(r.revision), deleted: d.deleted, prev_kvs: d.prevKvs.map(kvToWire) };
    }),
    Txn: ctx.unary(def.Txn, async (req) => {
      const txn = txnFromWire(req);
      const w: MvccWrite = { type: 'txn', txn };
      checkWrite(w);
      // A txn that writes nothing is a read: ReadIndex and the local state, as etcd serves it.
      const r = (isReadOnlyTxn(txn) ? await ctx.node.etcd.readTxn(txn) : undefined) ?? (await ctx.node.etcd.propose(w));
      assert(r.response.type === 'txn', 'a txn answered with another response');
      return txnResponseToWire(ctx.header(r.revision), r.response.txn);
    }),
    Compact: ctx.unary(def.Compact, async (req: Wire) => {
      const r = await write({ type: 'compact', revision: int(req.revision ?? '0', 'revision') });
      // physical: answer once the history is removed. Every applied write takes a compaction step
      // (src/mvcc/compaction.ts); a txn with nothing in it is a write that changes nothing.
      for (let n = 0; req.physical === true && ctx.node.etcd.compactionPending && n < PHYSICAL_COMPACT_STEPS_MAX; n++) {
        await ctx.node.etcd.propose({ type: 'txn', txn: { compare: [], success: [], failure: [] } });
      }
      return { header: ctx.header(r.revision) };
    }),
  };
}
