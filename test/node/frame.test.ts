/**
 * Frame encoding and the incremental FrameDecoder (docs/format/wire.md): arbitrary TCP chunking,
 * and every way a byte stream can be refused. Golden bytes are in codec.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { crc32c, maskCrc } from '../../src/format/crc32c.js';
import { BadFrameError } from '../../src/node/errors.js';
import {
  FRAME_BODY_BYTES_MIN,
  FRAME_MAGIC,
  FRAME_VERSION,
  FrameDecoder,
  FrameType,
  encodeFrame,
  frameBytesFor,
  parseFrameBody,
  toClusterId,
  type DecodedFrame,
} from '../../src/node/frame.js';
import { concatBytes, getFixed32, putFixed32, utf8 } from '../../src/util/bytes.js';
import { Rng, testSeeds } from '../helpers/rng.js';

const CLUSTER = 0x0123_4567_89ab_cdefn;

function frames(): Uint8Array[] {
  return [
    encodeFrame(FrameType.HELLO, CLUSTER, 1, utf8('\x0e127.0.0.1:1001')),
    encodeFrame(FrameType.RAFT, CLUSTER, 300, new Uint8Array(0)),
    encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, new Uint8Array(1000).fill(7)),
    encodeFrame(FrameType.SNAPSHOT_CHUNK, (1n << 64n) - 1n, 2 ** 40, new Uint8Array(70_000).map((_, i) => i & 0xff)),
    encodeFrame(FrameType.JOIN_RESPONSE, 5n, 9, utf8('x')),
  ];
}

/** Feeds chunks, collecting every frame; the decoder must end with nothing buffered. */
function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): DecodedFrame[] {
  const out: DecodedFrame[] = [];
  for (const c of chunks) {
    decoder.push(c);
    for (let i = 0; i < 10_000; i++) {
      const f = decoder.next();
      if (f === undefined) break;
      out.push(f);
    }
  }
  return out;
}

function expectSame(got: DecodedFrame[], wire: Uint8Array[]): void {
  expect(got.length).toBe(wire.length);
  got.forEach((f, i) => {
    const again = encodeFrame(f.type, f.clusterId, f.senderId, f.payload);
    expect(Buffer.from(again).equals(Buffer.from(wire[i]!))).toBe(true);
    expect(f.frameBytes).toBe(wire[i]!.length);
  });
}

function badFrame(fn: () => unknown): BadFrameError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BadFrameError);
    expect((e as BadFrameError).code).toBe('KV_ERR_BAD_FRAME');
    return e as BadFrameError;
  }
  throw new Error('expected a BadFrameError');
}

/** Re-seals a frame body after editing it, so only the edit (not the checksum) is wrong. */
function reseal(frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  putFixed32(out, out.length - 4, maskCrc(crc32c(out.subarray(4, out.length - 4))));
  return out;
}

describe('frame encoding', () => {
  it('lays out length, magic, version, type, cluster id, sender, payload, crc', () => {
    const f = encodeFrame(FrameType.RAFT, 0x1122334455667788n, 300, Uint8Array.of(0xaa, 0xbb));
    expect(f.length).toBe(frameBytesFor(300, 2));
    expect(getFixed32(f, 0)).toBe(f.length - 4);
    expect([...f.subarray(4, 7)]).toEqual([FRAME_MAGIC, FRAME_VERSION, FrameType.RAFT]);
    expect(FRAME_VERSION).toBe(2);
    expect(Buffer.from(f.subarray(7, 15)).toString('hex')).toBe('8877665544332211');
    expect([...f.subarray(15, 17)]).toEqual([0xac, 0x02]); // varint 300
    expect([...f.subarray(17, 19)]).toEqual([0xaa, 0xbb]);
    expect(getFixed32(f, 19)).toBe(maskCrc(crc32c(f.subarray(4, 19))));
    const d = parseFrameBody(f.subarray(4));
    expect(d).toMatchObject({ type: FrameType.RAFT, clusterId: 0x1122334455667788n, senderId: 300, frameBytes: f.length });
    expect([...d.payload]).toEqual([0xaa, 0xbb]);
  });

  it('normalizes cluster ids given as 8 bytes (fixed64 LE)', () => {
    expect(toClusterId(Uint8Array.of(0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01))).toBe(CLUSTER);
    expect(toClusterId(7n)).toBe(7n);
  });
});

describe('FrameDecoder chunking', () => {
  const wire = frames();
  const stream = concatBytes(wire);

  it('decodes many frames from one chunk', () => {
    expectSame(decodeAll(new FrameDecoder(), [stream]), wire);
  });

  it('decodes a stream split at every byte boundary', () => {
    // Every split point of the small frames' stream, two chunks each; the big frame separately.
    const small = concatBytes([wire[0]!, wire[1]!, wire[2]!, wire[4]!]);
    for (let cut = 0; cut <= small.length; cut++) {
      const d = new FrameDecoder();
      const got = decodeAll(d, [small.subarray(0, cut), small.subarray(cut)]);
      expectSame(got, [wire[0]!, wire[1]!, wire[2]!, wire[4]!]);
      expect(d.bufferedBytes).toBe(0);
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
    expectSame(decodeAll(new FrameDecoder(), chunks), wire);
  });

  it('decodes randomly chunked streams (seeded)', () => {
    for (const seed of testSeeds(9100, 20)) {
      const rng = new Rng(seed);
      const chunks: Uint8Array[] = [];
      for (let pos = 0, i = 0; pos < stream.length && i < 100_000; i++) {
        const n = rng.chance(0.2) ? rng.int(40_000) : rng.int(50);
        chunks.push(stream.subarray(pos, pos + n));
        pos += n;
      }
      try {
        expectSame(decodeAll(new FrameDecoder(), chunks), wire);
      } catch (e) {
        throw new Error(`seed ${seed}: ${(e as Error).message}`);
      }
    }
  });

  it('payload views stay valid after later chunks are decoded', () => {
    const d = new FrameDecoder();
    const chunks = [stream.subarray(0, 30), stream.subarray(30, 1500), stream.slice(1500)];
    const got = decodeAll(d, chunks);
    const copies = got.map((f) => f.payload.slice());
    decodeAll(d, [concatBytes(wire)]);
    got.forEach((f, i) => expect(Buffer.from(f.payload).equals(Buffer.from(copies[i]!))).toBe(true));
  });
});

describe('FrameDecoder refuses bad streams', () => {
  const good = encodeFrame(FrameType.RAFT, CLUSTER, 2, new Uint8Array(100).fill(1));

  it('refuses an oversized length before buffering any of the body', () => {
    const d = new FrameDecoder(1024);
    const len = new Uint8Array(4);
    putFixed32(len, 0, 1021); // 1021 + 4 > 1024
    d.push(len);
    expect(badFrame(() => d.next()).message).toMatch(/exceeds the maximum/);
    expect(d.bufferedBytes).toBeLessThanOrEqual(4);
    // The error sticks: the stream cannot resynchronize.
    badFrame(() => d.push(good));
    badFrame(() => d.next());
  });

  it('allocates for a partial frame in proportion to the bytes that arrived', () => {
    const big = encodeFrame(FrameType.SNAPSHOT_CHUNK, CLUSTER, 2, new Uint8Array(1 << 20).map((_, i) => i * 7));
    const d = new FrameDecoder();
    d.push(big.subarray(0, 100));
    expect(d.next()).toBeUndefined();
    expect(d.bufferedBytes).toBe(96); // the length prefix is parsed; 96 body bytes are held
    expect(d.reservedBytes).toBeLessThanOrEqual(4 + 16 * 1024);
    d.push(big.subarray(100, 200_000));
    expect(d.next()).toBeUndefined();
    expect(d.reservedBytes).toBeLessThanOrEqual(4 + 2 * 200_000);
    d.push(big.subarray(200_000));
    expectSame([d.next()!], [big]);
    expect(d.next()).toBeUndefined();
    expect(d.bufferedBytes).toBe(0);
  });

  it('accepts a frame of exactly frameBytesMax', () => {
    const d = new FrameDecoder(good.length);
    expect(decodeAll(d, [good]).length).toBe(1);
    badFrame(() => decodeAll(new FrameDecoder(good.length - 1), [good]));
  });

  it('refuses a length below the minimum', () => {
    const b = new Uint8Array(4 + FRAME_BODY_BYTES_MIN);
    putFixed32(b, 0, FRAME_BODY_BYTES_MIN - 1);
    expect(badFrame(() => decodeAll(new FrameDecoder(), [b])).message).toMatch(/below the minimum/);
  });

  it('refuses bad magic as soon as its byte arrives', () => {
    const b = good.slice();
    b[4] = 0x00;
    const d = new FrameDecoder();
    d.push(b.subarray(0, 5)); // length + magic only
    expect(badFrame(() => d.next()).message).toMatch(/magic/);
    expect(badFrame(() => decodeAll(new FrameDecoder(), [reseal(b)])).message).toMatch(/magic/);
  });

  it('refuses an unknown version (version 1, before client sessions, too)', () => {
    for (const v of [1, 3]) {
      const b = good.slice();
      b[5] = v;
      expect(badFrame(() => decodeAll(new FrameDecoder(), [reseal(b)])).message).toMatch(new RegExp(`version ${v}`));
    }
  });

  it('refuses a checksum mismatch, wherever the flipped bit is', () => {
    for (let i = 6; i < good.length; i++) {
      const b = good.slice();
      b[i]! ^= 0x10;
      expect(badFrame(() => decodeAll(new FrameDecoder(), [b])).message, `byte ${i}`).toMatch(/checksum/);
    }
  });

  it('refuses an unknown frame type and a truncated sender varint, even with a valid checksum', () => {
    const b = good.slice();
    b[6] = 99;
    expect(badFrame(() => decodeAll(new FrameDecoder(), [reseal(b)])).message).toMatch(/unknown frame type 99/);
    // Body of exactly the minimum size whose sender varint never ends.
    const body = new Uint8Array(FRAME_BODY_BYTES_MIN);
    body.set([FRAME_MAGIC, FRAME_VERSION, FrameType.RAFT]);
    body[11] = 0x80;
    const c = new Uint8Array(4 + body.length);
    putFixed32(c, 0, body.length);
    c.set(body, 4);
    expect(badFrame(() => decodeAll(new FrameDecoder(), [reseal(c)])).message).toMatch(/sender/);
  });

  it('refuses random garbage (seeded) without reading out of bounds', () => {
    for (const seed of testSeeds(9200, 200)) {
      const rng = new Rng(seed);
      const garbage = rng.bytes(1 + rng.int(300));
      const d = new FrameDecoder(4096);
      try {
        decodeAll(d, [garbage]);
        // Not enough bytes to finish a frame: all that may be held is bounded by the frame limit.
        expect(d.bufferedBytes).toBeLessThanOrEqual(4096);
      } catch (e) {
        if (!(e instanceof BadFrameError)) throw new Error(`seed ${seed}: ${String(e)}`);
      }
    }
  });
});
