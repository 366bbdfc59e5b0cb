// The context of a conf change (src/node/membership.ts): the member's address, which must decode to
// "host:port"; a malformed one is a typed error (KV_ERR_MEMBERSHIP), never a silent undefined.
import { describe, expect, it } from 'vitest';
import { MembershipError } from '../../src/node/errors.js';
import { decodeMemberContext, encodeMemberContext } from '../../src/node/membership.js';
import { utf8 } from '../../src/util/bytes.js';

describe('conf change member context', () => {
  it('round-trips an address; an empty context (a removal) names none', () => {
    expect(decodeMemberContext(encodeMemberContext('127.0.0.1:10002'))).toBe('127.0.0.1:10002');
    expect(decodeMemberContext(encodeMemberContext('[::1]:7'))).toBe('[::1]:7');
    expect(decodeMemberContext(undefined)).toBeUndefined();
    expect(decodeMemberContext(new Uint8Array(0))).toBeUndefined();
  });

  it('throws MembershipError for a context that is not an address', () => {
    for (const bad of ['no-port', 'host:99999', ':1', 'a:b:c']) {
      expect(() => decodeMemberContext(utf8(bad)), bad).toThrow(MembershipError);
      expect(() => decodeMemberContext(utf8(bad)), bad).toThrow(expect.objectContaining({ code: 'KV_ERR_MEMBERSHIP' }));
    }
  });
});
