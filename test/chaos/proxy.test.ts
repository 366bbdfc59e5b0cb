/**
 * The fault proxy's two decisions without processes: who a connection comes from (the sender of
 * its first frame, if a HELLO; docs/format/wire.md) and whether a link is cut.
 */
import { describe, expect, it } from 'vitest';
import { encodeHello } from '../../src/node/codec.js';
import { encodeFrame, FrameType } from '../../src/node/frame.js';
import { helloSender, LinkFaults } from './proxy.js';

describe('peer proxy', () => {
  it('reads the sender of a HELLO, 0 for a client frame, nothing before the header is in', () => {
    const hello = Buffer.from(encodeFrame(FrameType.HELLO, 0x1234n, 300, encodeHello({ listenAddress: '127.0.0.1:9' })));
    expect(helloSender(hello)).toBe(300);
    expect(helloSender(hello.subarray(0, 15))).toBeUndefined();
    const client = Buffer.from(encodeFrame(FrameType.CLIENT_REQUEST, 0n, 0, new Uint8Array([1, 5, 0])));
    expect(helloSender(client)).toBe(0);
  });

  it('cuts directed links, splits both ways, and cuts client connections only to an isolated node', () => {
    const f = new LinkFaults();
    const all = [1, 2, 3];
    f.cut(1, 2, 'close');
    expect([f.cutOf(1, 2, all), f.cutOf(2, 1, all), f.cutOf(0, 2, all)]).toEqual(['close', undefined, undefined]);
    f.healAll();
    f.split([3], [1, 2], 'blackhole');
    expect([f.cutOf(1, 3, all), f.cutOf(3, 2, all), f.cutOf(1, 2, all), f.cutOf(0, 3, all), f.cutOf(0, 1, all)]).toEqual(['blackhole', 'blackhole', undefined, 'blackhole', undefined]);
    let changes = 0;
    f.onChange(() => changes++);
    f.healAll();
    expect([changes, f.cutOf(1, 3, all)]).toEqual([1, undefined]);
  });
});
