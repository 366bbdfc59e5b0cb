/**
 * etcd's Maintenance service: Status (what `etcdctl endpoint status` prints), Alarm (no alarms are
 * ever raised: GET answers none), Defragment (nothing to do: the LSM tree compacts itself; answered
 * as done), MoveLeader (a leadership transfer), HashKV (a CRC32C of the history records, equal on
 * members that applied the same log; not etcd's bytes, so not comparable with an etcd member's).
 * Snapshot (an lsmraft backup file, not a bbolt one: snapshot-stream.ts). Hash answers UNIMPLEMENTED.
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { int, type Wire } from './convert.js';
import { etcdStatusOf } from './errors.js';
import type { EtcdContext } from './service-context.js';
import { streamBackup } from './snapshot-stream.js';

/** package.json's version (src/etcd and dist/etcd both sit two levels below it). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** What Status reports as the server version: the etcd API level served, then this project's. */
export function etcdVersionString(): string {
  return `3.4.x-compatible lsmraft ${packageVersion()}`;
}

export function maintenanceService(ctx: EtcdContext, def: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const version = etcdVersionString();
  return {
    Status: ctx.unary(def.Status, async () => {
      const st = ctx.node.status();
      const dbSize = String(ctx.node.etcd.dbSizeBytes());
      return {
        header: ctx.header(),
        version,
        dbSize,
        leader: String(st.leader),
        raftIndex: String(st.commit),
        raftTerm: String(st.term),
        raftAppliedIndex: String(st.applied),
        errors: [],
        dbSizeInUse: dbSize,
        isLearner: st.learners.includes(st.id),
      };
    }),
    Alarm: ctx.unary(def.Alarm, async () => ({ header: ctx.header(), alarms: [] })),
    HashKV: ctx.unary(def.HashKV, async (req) => {
      const h = ctx.node.etcd.hashKv(int(req.revision ?? '0', 'revision'));
      return { header: ctx.header(h.revision), hash: h.hash, compact_revision: String(h.compactRevision) };
    }),
    Snapshot: (call: grpc.ServerWritableStream<Wire, Wire>) => {
      streamBackup(ctx.node, call, () => ctx.header()).catch((err: unknown) => {
        call.emit('error', etcdStatusOf(err, ctx.node.leader !== undefined));
      });
    },
    Defragment: ctx.unary(def.Defragment, async () => ({ header: ctx.header() })),
    MoveLeader: ctx.unary(def.MoveLeader, async (req) => {
      await ctx.node.transferLeadership(int(req.targetID ?? '0', 'targetID'));
      return { header: ctx.header() };
    }),
  };
}
