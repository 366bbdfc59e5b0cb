/**
 * etcd's alarms (server/etcdserver/api/v3alarm/alarms.go; the applier's Alarm in apply.go): an
 * alarm is raised and cleared by a Raft command (AlarmRequest ACTIVATE / DEACTIVATE), so every
 * member holds the same set, one record per (member, alarm type) under 'w' in the state tree
 * (keys.ts). While any member has a NOSPACE alarm the cluster is "capped", as etcd's
 * applierV3Capped: a put, a txn that puts, and a lease grant are refused with MVCC_ERR_NO_SPACE
 * (etcd's "mvcc: database space exceeded"); reads, deletes, compactions and lease revokes, which
 * free space, still run.
 *
 * What must hold: whether a write is refused depends only on the applied alarm set (the same log
 * gives the same set on every replica), never on this member's disk.
 */
import { MvccError } from './errors.js';
import { ALARM_END, ALARM_START, alarmKey, decodeAlarmKey, prefixEnd } from './keys.js';
import type { StateReader } from './state-view.js';

/** etcd's AlarmType (rpc.proto), by its wire number. */
export const ALARM_TYPES = ['NONE', 'NOSPACE', 'CORRUPT'] as const;
export type AlarmType = (typeof ALARM_TYPES)[number];

export interface AlarmMember {
  memberId: bigint;
  alarm: AlarmType;
}

export function alarmTypeNumber(alarm: AlarmType): number {
  return ALARM_TYPES.indexOf(alarm);
}

/** The tree key of `m`'s record. */
export function alarmRecordKey(m: AlarmMember): Uint8Array {
  return alarmKey(alarmTypeNumber(m.alarm), m.memberId);
}

/** Every active alarm, by type then member id. */
export function readAlarms(reader: StateReader): AlarmMember[] {
  const out: AlarmMember[] = [];
  reader.scan(ALARM_START, ALARM_END, (k) => {
    const { alarm, memberId } = decodeAlarmKey(k);
    const type = ALARM_TYPES[alarm];
    if (type !== undefined) out.push({ memberId, alarm: type });
    return true;
  });
  return out;
}

/** Whether any member has a NOSPACE alarm (one short scan of the NOSPACE records). */
export function hasNoSpaceAlarm(reader: StateReader): boolean {
  const start = alarmKey(alarmTypeNumber('NOSPACE'), 0n).subarray(0, 2);
  let found = false;
  reader.scan(start, prefixEnd(start), () => {
    found = true;
    return false;
  });
  return found;
}

export function noSpaceError(): MvccError {
  return new MvccError('MVCC_ERR_NO_SPACE', 'database space exceeded (a NOSPACE alarm is active)');
}
