/**
 * The .proto files of src/etcd/proto/ against etcd v3.4's own (api/etcdserverpb/rpc.proto,
 * api/mvccpb/kv.proto): field numbers looked up there, checked here through the loaded
 * descriptors, so a renumbered field (which would silently corrupt every etcd client's messages)
 * fails.
 */
import { describe, expect, it } from 'vitest';
import { etcdPackageDefinition, etcdServiceDefinitions } from '../../src/etcd/protos.js';

interface FieldDescriptor {
  name: string;
  number: number;
}
interface MessageTypeDefinition {
  type: { field: FieldDescriptor[] };
}

function fieldNumber(message: string, field: string): number | undefined {
  const def = etcdPackageDefinition()[message] as unknown as MessageTypeDefinition | undefined;
  expect(def, message).toBeDefined();
  return def!.type.field.find((f) => f.name === field)?.number;
}

describe('etcd protos', () => {
  it.each([
    ['etcdserverpb.RangeRequest', 'key', 1],
    ['etcdserverpb.RangeRequest', 'range_end', 2],
    ['etcdserverpb.RangeRequest', 'sort_order', 5],
    ['etcdserverpb.RangeRequest', 'max_create_revision', 13],
    ['etcdserverpb.RangeResponse', 'count', 4],
    ['etcdserverpb.PutRequest', 'prev_kv', 4],
    ['etcdserverpb.PutRequest', 'ignore_lease', 6],
    ['etcdserverpb.DeleteRangeRequest', 'prev_kv', 3],
    ['etcdserverpb.TxnRequest', 'failure', 3],
    ['etcdserverpb.Compare', 'range_end', 64],
    ['etcdserverpb.Compare', 'lease', 8],
    ['etcdserverpb.RequestOp', 'request_txn', 4],
    ['etcdserverpb.WatchCreateRequest', 'start_revision', 3],
    ['etcdserverpb.WatchCreateRequest', 'fragment', 8],
    ['etcdserverpb.WatchResponse', 'events', 11],
    ['etcdserverpb.ResponseHeader', 'raft_term', 4],
    ['etcdserverpb.LeaseTimeToLiveResponse', 'grantedTTL', 4],
    ['etcdserverpb.StatusResponse', 'raftAppliedIndex', 7],
    ['etcdserverpb.StatusResponse', 'isLearner', 10],
    ['etcdserverpb.Member', 'clientURLs', 4],
    ['mvccpb.KeyValue', 'lease', 6],
    ['mvccpb.KeyValue', 'version', 4],
    ['mvccpb.Event', 'prev_kv', 3],
    ['authpb.Permission', 'range_end', 3],
  ])('%s.%s = %i', (message, field, number) => {
    expect(fieldNumber(message, field)).toBe(number);
  });

  it('declares every etcd v3.4 method of KV, Watch, Lease, Cluster and Maintenance', () => {
    const s = etcdServiceDefinitions();
    expect(Object.keys(s.KV).sort()).toEqual(['Compact', 'DeleteRange', 'Put', 'Range', 'Txn']);
    expect(Object.keys(s.Watch)).toEqual(['Watch']);
    expect(Object.keys(s.Lease).sort()).toEqual(['LeaseGrant', 'LeaseKeepAlive', 'LeaseLeases', 'LeaseRevoke', 'LeaseTimeToLive']);
    expect(Object.keys(s.Cluster).sort()).toEqual(['MemberAdd', 'MemberList', 'MemberPromote', 'MemberRemove', 'MemberUpdate']);
    expect(Object.keys(s.Maintenance).sort()).toEqual(['Alarm', 'Defragment', 'Hash', 'HashKV', 'MoveLeader', 'Snapshot', 'Status']);
    expect(s.KV.Range!.path).toBe('/etcdserverpb.KV/Range');
    expect(s.Watch.Watch!.requestStream && s.Watch.Watch!.responseStream).toBe(true);
  });

  it('round-trips a txn through the loaded codec with the documented options', () => {
    const txn = etcdServiceDefinitions().KV.Txn!;
    const bytes = txn.requestSerialize({
      compare: [{ result: 'EQUAL', target: 'VERSION', key: Buffer.from('k'), version: '0' }],
      success: [{ request_put: { key: Buffer.from('k'), value: Buffer.from('v') } }],
    });
    const back = txn.requestDeserialize(bytes) as { compare: Array<{ target_union: string; version: string }>; success: Array<{ request: string; request_put: { value: Buffer } }> };
    expect(back.compare[0]!.target_union).toBe('version');
    expect(back.success[0]!.request).toBe('request_put');
    expect(back.success[0]!.request_put.value.toString()).toBe('v');
  });
});
