/**
 * Payload codecs (docs/format/wire.md): raft messages, client requests and responses, join and
 * hello; validation of garbage; golden bytes of whole frames (test/golden/wire-*.bin).
 * LSMRAFT_REWRITE_GOLDEN=1 rewrites the golden files (then review the diff).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  decodeClientRequest,
  decodeClientResponse,
  decodeHello,
  decodeJoinRequest,
  decodeMessage,
  encodeClientRequest,
  encodeClientResponse,
  encodeHello,
  encodeJoinRequest,
  encodeMessage,
  messageBytes,
  type ClientRequest,
  type ClientResponse,
} from '../../src/node/codec.js';
import { BadFrameError } from '../../src/node/errors.js';
import { FrameType, encodeFrame, parseFrameBody } from '../../src/node/frame.js';
import { encodeConfChange, makeMessage, type Entry, type Message, type MessageType } from '../../src/raft/types.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { utf8 } from '../../src/util/bytes.js';
import { Rng, testSeeds } from '../helpers/rng.js';

const REWRITE = process.env.LSMRAFT_REWRITE_GOLDEN === '1';
const goldenPath = (name: string): string => fileURLToPath(new URL(`../golden/${name}`, import.meta.url));

const WIRE_TYPES: MessageType[] = [
  'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'heartbeat', 'heartbeatResp',
  'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp', 'prop',
];

function expectBadFrame(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BadFrameError)) throw new Error(`${what}: expected BadFrameError, got ${String(e)}`);
    expect(e.code).toBe('KV_ERR_BAD_FRAME');
    return;
  }
  throw new Error(`${what}: decoded without error`);
}

function randomMessage(rng: Rng): Message {
  const big = (): number => (rng.chance(0.2) ? rng.int(2 ** 31) * 2 ** 21 + rng.int(2 ** 21) : rng.int(1000));
  const entries: Entry[] = [];
  const n = rng.chance(0.5) ? rng.int(20) : 0;
  for (let i = 0; i < n; i++) {
    entries.push({ term: big(), index: big(), type: rng.chance(0.1) ? 'confChange' : 'normal', data: rng.bytes(rng.int(300)) });
  }
  const m = makeMessage({
    type: rng.pick(WIRE_TYPES),
    from: rng.int(10),
    to: rng.int(10),
    term: big(),
    logTerm: big(),
    index: big(),
    commit: big(),
    reject: rng.chance(0.3),
    rejectHint: big(),
    entries,
  });
  if (rng.chance(0.2)) {
    m.snapshot = {
      meta: { index: big(), term: big(), conf: { voters: [1, 2, 300].slice(0, rng.int(4)), learners: rng.chance(0.5) ? [7] : [] } },
      data: rng.bytes(rng.int(100)),
    };
  }
  if (rng.chance(0.3)) m.context = rng.bytes(rng.int(20));
  return m;
}

function appMessage(): Message {
  return makeMessage({
    type: 'app',
    from: 1,
    to: 2,
    term: 5,
    logTerm: 4,
    index: 99,
    commit: 98,
    entries: [
      { term: 5, index: 100, type: 'normal', data: utf8('put k1 v1') },
      { term: 5, index: 101, type: 'confChange', data: encodeConfChange({ type: 'addVoter', nodeId: 3 }) },
      { term: 5, index: 102, type: 'normal', data: new Uint8Array(0) },
    ],
  });
}

describe('raft message codec', () => {
  it('round-trips every field of every wire message type', () => {
    for (const type of WIRE_TYPES) {
      const m = { ...appMessage(), type, reject: true, rejectHint: 77, context: utf8('ctx') };
      m.snapshot = { meta: { index: 50, term: 3, conf: { voters: [1, 2, 3], learners: [4] } }, data: utf8('checkpoint-50') };
      const b = encodeMessage(m);
      expect(b.length).toBe(messageBytes(m));
      expect(decodeMessage(b)).toEqual(m);
    }
  });

  it('keeps absent and empty optional fields apart', () => {
    const m = makeMessage({ type: 'heartbeat', from: 1, to: 2, term: 1 });
    const d = decodeMessage(encodeMessage(m));
    expect(d).toEqual(m);
    expect('snapshot' in d).toBe(false);
    expect('context' in d).toBe(false);
    const withEmpty = { ...m, context: new Uint8Array(0) };
    expect(decodeMessage(encodeMessage(withEmpty)).context).toEqual(new Uint8Array(0));
  });

  it('round-trips random messages (seeded), values up to 2^53', () => {
    for (const seed of testSeeds(9300, 300)) {
      const m = randomMessage(new Rng(seed));
      const d = decodeMessage(encodeMessage(m));
      expect(d, `seed ${seed}`).toEqual(m);
    }
    const max = makeMessage({ type: 'app', term: Number.MAX_SAFE_INTEGER, index: Number.MAX_SAFE_INTEGER });
    expect(decodeMessage(encodeMessage(max))).toEqual(max);
  });

  it('decodes entry data as views of the payload, without copying', () => {
    const b = encodeMessage(appMessage());
    const d = decodeMessage(b);
    expect(d.entries[0]!.data.buffer).toBe(b.buffer);
  });

  it('refuses to encode a local message: a bug, not a user error', () => {
    expect(() => encodeMessage(makeMessage({ type: 'hup' }))).toThrow(AssertionFailure);
  });

  it('refuses every truncation and trailing bytes', () => {
    const b = encodeMessage({ ...appMessage(), context: utf8('c'), snapshot: { meta: { index: 1, term: 1, conf: { voters: [1], learners: [] } }, data: utf8('d') } });
    for (let n = 0; n < b.length; n++) expectBadFrame(() => decodeMessage(b.subarray(0, n)), `truncated to ${n}`);
    const longer = new Uint8Array(b.length + 1);
    longer.set(b);
    expectBadFrame(() => decodeMessage(longer), 'trailing byte');
  });

  it('refuses unknown codes, local types, flag bits and huge counts', () => {
    const b = encodeMessage(appMessage());
    const edit = (i: number, v: number): Uint8Array => {
      const c = b.slice();
      c[i] = v;
      return c;
    };
    expectBadFrame(() => decodeMessage(edit(0, 0)), 'type 0');
    expectBadFrame(() => decodeMessage(edit(0, 15)), 'type 15');
    expectBadFrame(() => decodeMessage(edit(1, 8)), 'flag bit 8');
    // entry count: 1 type + 1 flags + 7 one-byte varints, then the count.
    expect(b[9]).toBe(3);
    const huge = new Uint8Array([...b.subarray(0, 9), 0xff, 0xff, 0xff, 0xff, 0x0f, ...b.subarray(10)]);
    expectBadFrame(() => decodeMessage(huge), 'huge entry count');
    // The first entry's type byte: term, index (2-byte varint: 100 = 0x64 fits one byte).
    expect(b[12]).toBe(1);
    expectBadFrame(() => decodeMessage(edit(12, 3)), 'entry type 3');
    // A 9-byte varint (> 8 bytes) and a varint above 2^53.
    expectBadFrame(() => decodeMessage(Uint8Array.of(1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), 'long varint');
    expectBadFrame(() => decodeMessage(Uint8Array.of(1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), 'varint > 2^53');
  });

  it('either decodes or throws BadFrameError on random corruption (seeded)', () => {
    for (const seed of testSeeds(9400, 300)) {
      const rng = new Rng(seed);
      const b = encodeMessage(randomMessage(rng)).slice();
      for (let k = 0; k < 3; k++) b[rng.int(b.length)] = rng.int(256);
      try {
        decodeMessage(b);
      } catch (e) {
        if (!(e instanceof BadFrameError)) throw new Error(`seed ${seed}: ${String(e)}`);
      }
    }
  });
});

describe('client request and response codec', () => {
  const requests: ClientRequest[] = [
    { requestId: 1, op: 'put', key: utf8('k'), value: utf8('v'), sessionId: 2 ** 40, seq: 300, firstOutstandingSeq: 299 },
    { requestId: 2, op: 'get', key: utf8('k') },
    { requestId: 3, op: 'del', key: new Uint8Array(0), sessionId: 1, seq: 1, firstOutstandingSeq: 1 },
    { requestId: 13, op: 'registerSession' },
    { requestId: 14, op: 'keepAlive', sessionId: 12 },
    { requestId: 4, op: 'scan', from: utf8('a'), to: utf8('z'), limit: 100 },
    { requestId: 5, op: 'scan' },
    { requestId: 6, op: 'status' },
    { requestId: 7, op: 'members' },
    { requestId: 8, op: 'addMember', nodeId: 2, address: 'localhost:10002' },
    { requestId: 9, op: 'removeMember', nodeId: 2 },
    { requestId: 10, op: 'transfer', nodeId: 3 },
    { requestId: 11, op: 'localGet', key: utf8('1') },
    { requestId: 12, op: 'localScan', from: utf8('1'), to: utf8('3') },
    { requestId: Number.MAX_SAFE_INTEGER, op: 'lsmDescribe' },
    { requestId: 15, op: 'backupBegin' },
    { requestId: 16, op: 'backupChunk', snapshotId: '120-3-0a1b2c3d', fileIndex: 2, offset: 2 ** 40, limit: 1 << 20 },
    { requestId: 17, op: 'backupEnd', snapshotId: '120-3-0a1b2c3d' },
    { requestId: 18, op: 'memberAddVoter', address: '127.0.0.1:10004' },
    { requestId: 19, op: 'memberAddLearner', address: '127.0.0.1:10004' },
    { requestId: 20, op: 'memberPromote', nodeId: 4 },
    { requestId: 21, op: 'memberUpdate', nodeId: 4, address: '127.0.0.1:10005' },
  ];

  it('round-trips a request of every op', () => {
    for (const req of requests) expect(decodeClientRequest(encodeClientRequest(req))).toEqual(req);
  });

  it('rejects requests the protocol cannot carry with KV_ERR_INVALID_ARGUMENT', () => {
    const bad: unknown[] = [
      { requestId: 1, op: 'put', key: utf8('k') },
      { requestId: 1, op: 'put', key: utf8('k'), value: utf8('v') }, // no session
      { requestId: 1, op: 'put', key: utf8('k'), value: utf8('v'), sessionId: 1, seq: 1 }, // no firstOutstandingSeq
      { requestId: 1, op: 'del', key: utf8('k'), sessionId: 0, seq: 1, firstOutstandingSeq: 1 },
      { requestId: 1, op: 'keepAlive' },
      { requestId: 1, op: 'backupChunk', snapshotId: 'x', limit: 10 }, // no position
      { requestId: 1, op: 'backupChunk', snapshotId: 'x', fileIndex: 0, limit: 10 }, // fileIndex without offset
      { requestId: 1, op: 'backupEnd' },
      { requestId: 1, op: 'registerSession', sessionId: 3 },
      { requestId: 1, op: 'get', key: utf8('k'), value: utf8('v') },
      { requestId: 1, op: 'nope' },
      { requestId: -1, op: 'status' },
      { requestId: 1.5, op: 'status' },
      { requestId: 1, op: 'scan', limit: -3 },
      { requestId: 1, op: 'removeMember', nodeId: 0 },
      { requestId: 1, op: 'addMember', nodeId: 2 },
      { requestId: 1, op: 'memberAddLearner', nodeId: 2, address: 'h:1' }, // the leader picks the id
      { requestId: 1, op: 'memberUpdate', nodeId: 2 },
    ];
    for (const req of bad) {
      let err: unknown;
      try {
        encodeClientRequest(req as ClientRequest);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(req)).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe('KV_ERR_INVALID_ARGUMENT');
    }
  });

  it('refuses malformed requests on decode', () => {
    const put = encodeClientRequest(requests[0]!);
    for (let n = 0; n < put.length; n++) expectBadFrame(() => decodeClientRequest(put.subarray(0, n)), `truncated to ${n}`);
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 99, 0)), 'unknown op');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 2, 0)), 'get without key');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 6, 1, 0)), 'status with key');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 6, 0x80)), 'truncated fields varint');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 6, 0x80, 0x04)), 'unknown field bit');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 6, 0x80, 0x01, 5)), 'status with a session');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 14, 0x80, 0x01, 0)), 'session id 0');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 9, 32, 0)), 'node id 0');
    expectBadFrame(() => decodeClientRequest(Uint8Array.of(1, 7, 96, 2, 2, 0xc3, 0x28)), 'invalid UTF-8 address');
  });

  it('round-trips responses', () => {
    const responses: ClientResponse[] = [
      { requestId: 1, ok: true },
      { requestId: 2, ok: true, value: utf8('v') },
      { requestId: 3, ok: false, errorCode: 'KV_ERR_NOT_LEADER', message: 'not the leader: ask node 2', leaderHint: { id: 2, address: '127.0.0.1:10002' } },
      { requestId: 4, ok: true, entries: [[utf8('a'), utf8('1')], [utf8('b'), new Uint8Array(0)]] },
      { requestId: 5, ok: true, entries: [] },
      { requestId: 6, ok: true, json: '{"term":3,"role":"leader","note":"ünïcødé"}' },
      { requestId: 7, ok: true, sessionId: 2 ** 40 },
    ];
    for (const res of responses) expect(decodeClientResponse(encodeClientResponse(res))).toEqual(res);
  });

  it('refuses malformed responses on decode', () => {
    const res = encodeClientResponse({ requestId: 3, ok: false, errorCode: 'KV_ERR_NOT_LEADER', leaderHint: { id: 2, address: 'h:1' }, entries: [[utf8('a'), utf8('b')]] });
    for (let n = 0; n < res.length; n++) expectBadFrame(() => decodeClientResponse(res.subarray(0, n)), `truncated to ${n}`);
    expectBadFrame(() => decodeClientResponse(Uint8Array.of(1, 0x80)), 'session id missing');
    expectBadFrame(() => decodeClientResponse(Uint8Array.of(1, 0x81, 0)), 'session id 0');
    expectBadFrame(() => decodeClientResponse(Uint8Array.of(1, 32, 0xff, 0xff, 0xff, 0x7f)), 'huge entry count');
  });
});

describe('join and hello codec', () => {
  it('round-trips a join request and a hello', () => {
    const j = { requestId: 4, clusterId: 0xfedcba9876543210n, nodeId: 2, leaderId: 3, leaderAddress: 'localhost:10003' };
    expect(decodeJoinRequest(encodeJoinRequest(j))).toEqual(j);
    expect(decodeHello(encodeHello({ listenAddress: '[::1]:7000' }))).toEqual({ listenAddress: '[::1]:7000' });
  });

  it('refuses a join to cluster 0 and trailing bytes', () => {
    const j = encodeJoinRequest({ requestId: 4, clusterId: 1n, nodeId: 2, leaderId: 3, leaderAddress: 'h:1' });
    const zero = j.slice();
    zero[1] = 0;
    expectBadFrame(() => decodeJoinRequest(zero), 'cluster 0');
    expectBadFrame(() => decodeHello(Uint8Array.of(1, 0x61, 0)), 'hello trailing byte');
  });
});

describe('golden frames (docs/format/wire.md, version 2)', () => {
  const CLUSTER = 0x5eed_c0de_0000_0001n;
  const golden: [string, Uint8Array][] = [
    ['wire-hello-v2.bin', encodeFrame(FrameType.HELLO, CLUSTER, 3, encodeHello({ listenAddress: 'localhost:10003' }))],
    ['wire-raft-app-v2.bin', encodeFrame(FrameType.RAFT, CLUSTER, 1, encodeMessage(appMessage()))],
    [
      'wire-raft-snap-v2.bin',
      encodeFrame(FrameType.RAFT, CLUSTER, 1, encodeMessage(makeMessage({
        type: 'snap', from: 1, to: 2, term: 7,
        snapshot: { meta: { index: 1000, term: 6, conf: { voters: [1, 2, 3], learners: [] } }, data: utf8('ckpt-1000') },
        context: utf8('r1'),
      }))),
    ],
    ['wire-client-request-v2.bin', encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, encodeClientRequest({ requestId: 42, op: 'put', key: utf8('1'), value: utf8('1'), sessionId: 7, seq: 3, firstOutstandingSeq: 2 }))],
    [
      'wire-client-response-v2.bin',
      encodeFrame(FrameType.CLIENT_RESPONSE, CLUSTER, 2, encodeClientResponse({
        requestId: 42, ok: false, errorCode: 'KV_ERR_NOT_LEADER', message: 'not leader', leaderHint: { id: 3, address: 'localhost:10003' },
      })),
    ],
    [
      'wire-client-request-backup-chunk-v2.bin',
      encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, encodeClientRequest({ requestId: 43, op: 'backupChunk', snapshotId: '120-3-0a1b2c3d', fileIndex: 1, offset: 65536, limit: 1048576 })),
    ],
    ['wire-join-request-v2.bin', encodeFrame(FrameType.JOIN_REQUEST, 0n, 3, encodeJoinRequest({ requestId: 1, clusterId: CLUSTER, nodeId: 2, leaderId: 3, leaderAddress: 'localhost:10003' }))],
  ];

  for (const [name, bytes] of golden) {
    it(`${name} is unchanged and decodes`, () => {
      const path = goldenPath(name);
      if (REWRITE) writeFileSync(path, bytes);
      const expected = readFileSync(path);
      expect(Buffer.from(bytes).toString('hex')).toBe(expected.toString('hex'));
      const f = parseFrameBody(new Uint8Array(expected).subarray(4));
      expect(f.frameBytes).toBe(expected.length);
    });
  }

  it('the app frame decodes back to its message', () => {
    const f = parseFrameBody(new Uint8Array(readFileSync(goldenPath('wire-raft-app-v2.bin'))).subarray(4));
    expect(f.type).toBe(FrameType.RAFT);
    expect(f.clusterId).toBe(CLUSTER);
    expect(decodeMessage(f.payload)).toEqual(appMessage());
  });
});

