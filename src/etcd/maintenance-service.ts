/**
 * etcd's Maintenance service: Status (what `etcdctl endpoint status` prints), Alarm (GET lists the
 * active alarms after a ReadIndex barrier; ACTIVATE / DEACTIVATE go through Raft: src/mvcc/alarms.ts;
 * a member raises its own NOSPACE alarm when out of space: src/node/space-alarm.ts), Defragment
 * (nothing to do: the LSM tree compacts itself; answered as done), MoveLeader (a leadership
 * transfer), Hash and HashKV (CRC32Cs of the whole state tree and of the history records, equal on
 * members that applied the same log; not etcd's bytes, so not comparable with an etcd member's),
 * Snapshot (an lsmraft backup file, not a bbolt one: snapshot-stream.ts).
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { ALARM_TYPES, type AlarmMember } from '../mvcc/alarms.js';
import { int, type Wire } from './convert.js';
import { EtcdArgumentError, etcdStatusOf, NO_LEADER } from './errors.js';
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
        errors: statusErrors(st.leader !== 0, ctx.node.etcd.appliedAlarms()),
        dbSizeInUse: dbSize,
        isLearner: st.learners.includes(st.id),
      };
    }),
    Alarm: ctx.unary(def.Alarm, async (req) => {
      const alarms = await alarmRequest(ctx, req);
      return { header: ctx.header(), alarms: alarms.map((a) => ({ memberID: a.memberId.toString(), alarm: a.alarm })) };
    }),
    Hash: ctx.unary(def.Hash, async () => {
      const h = ctx.node.etcd.hash();
      return { header: ctx.header(h.revision), hash: h.hash };
    }),
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

/**
 * StatusResponse.errors as etcd's maintenance server fills them: "no leader" when the member knows
 * none, then each alarm in its protobuf text form (`memberID:1 alarm:NOSPACE `, trailing space
 * included), as `etcdctl endpoint status` prints them.
 */
function statusErrors(leaderKnown: boolean, alarms: readonly AlarmMember[]): string[] {
  const errors = leaderKnown ? [] : [NO_LEADER.details];
  for (const a of alarms) errors.push(`memberID:${a.memberId} alarm:${a.alarm} `);
  return errors;
}

/**
 * etcd's Alarm handler (server/etcdserver/v3_server.go, apply.go, v3alarm/alarms.go): GET lists
 * every alarm of the requested type (NONE: of every type; memberID is no filter, as etcd's
 * AlarmStore.Get); ACTIVATE of NONE changes nothing; a DEACTIVATE of an alarm that is not active
 * answers none.
 */
async function alarmRequest(ctx: EtcdContext, req: Wire): Promise<AlarmMember[]> {
  const action = req.action ?? 'GET';
  if (action !== 'GET' && action !== 'ACTIVATE' && action !== 'DEACTIVATE') throw new EtcdArgumentError(`unknown alarm action ${String(action)}`);
  const alarm = req.alarm ?? 'NONE';
  if (typeof alarm !== 'string' || !(ALARM_TYPES as readonly string[]).includes(alarm)) throw new EtcdArgumentError(`unknown alarm type ${String(alarm)}`);
  if (action === 'GET') return (await ctx.node.etcd.alarms()).filter((a) => alarm === 'NONE' || a.alarm === alarm);
  if (alarm === 'NONE') return [];
  const memberId = BigInt.asUintN(64, BigInt(String(req.memberID ?? '0')));
  return ctx.node.etcd.alarm(action === 'ACTIVATE' ? 'activate' : 'deactivate', { memberId, alarm: alarm as AlarmMember['alarm'] });
}
