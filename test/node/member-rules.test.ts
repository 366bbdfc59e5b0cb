// The checks of etcd's add-first membership order (src/node/member-rules.ts): the id a new member
// gets, etcd's strict reconfiguration check for a voter that has not started, and when a learner
// may be promoted; and the replicated high-water mark of member ids the id comes from
// (KvStateMachine.memberIdMax): kept across a crash and carried by the state tree.
import { describe, expect, it } from 'vitest';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { addVoterRefusal, newMemberId, promoteRefusal, PROMOTE_READY_FRACTION } from '../../src/node/member-rules.js';
import { KvStateMachine } from '../../src/node/state-machine.js';
import { encodeConfChange, type Entry } from '../../src/raft/types.js';

const conf = (voters: number[], learners: number[] = []) => ({ voters, learners });
const match = (pairs: Array<[number, number]>) => new Map(pairs);

describe('newMemberId', () => {
  it('goes above the high-water mark and every member, so a removed id is never given again', () => {
    expect(newMemberId(0, conf([1]))).toBe(2);
    expect(newMemberId(0, conf([1, 2], [7]))).toBe(8);
    // Member 9 was added and removed: its id stays taken.
    expect(newMemberId(9, conf([1, 2, 3]))).toBe(10);
    expect(() => newMemberId(Number.MAX_SAFE_INTEGER, conf([1]))).toThrow(expect.objectContaining({ code: 'KV_ERR_MEMBERSHIP' }));
  });
});

describe('addVoterRefusal (strict reconfiguration check)', () => {
  it('allows a voter while the started voters stay a quorum of the voters with it', () => {
    // 3 started voters + 1 new: quorum 3 of 4.
    expect(addVoterRefusal(conf([1, 2, 3]), 1, match([[1, 9], [2, 9], [3, 9]]))).toBeUndefined();
    // 3 voters of which one never acknowledged anything, + 1 new: 2 started of 4, quorum 3.
    expect(addVoterRefusal(conf([1, 2, 3]), 1, match([[1, 9], [2, 9], [3, 0]]))).toMatch(/2 of 4 voters/);
  });

  it('refuses a second voter on a one-member cluster (stricter than etcd: see member-rules.ts)', () => {
    expect(addVoterRefusal(conf([1]), 1, match([[1, 5]]))).toMatch(/1 of 2 voters would be started, a quorum needs 2/);
    // A learner that caught up does not count as a started voter.
    expect(addVoterRefusal(conf([1], [2]), 1, match([[1, 5], [2, 5]]))).toBeDefined();
  });
});

describe('promoteRefusal', () => {
  const m = match([[1, 100], [2, 100], [3, 100], [4, 95]]);
  it('promotes a learner that holds at least 90% of the leader log', () => {
    expect(PROMOTE_READY_FRACTION).toBe(0.9);
    expect(promoteRefusal(conf([1, 2, 3], [4]), 4, 1, m)).toBeUndefined();
    expect(promoteRefusal(conf([1, 2, 3], [4]), 4, 1, match([[1, 100], [2, 100], [3, 100], [4, 90]]))).toBeUndefined();
  });

  it('refuses a learner behind the leader, one never heard from, a voter and a stranger, with the code of each', () => {
    expect(promoteRefusal(conf([1, 2, 3], [4]), 4, 1, match([[1, 100], [2, 100], [3, 100], [4, 89]]))?.code).toBe('KV_ERR_LEARNER_NOT_READY');
    expect(promoteRefusal(conf([1], [4]), 4, 1, match([[1, 0], [4, 0]]))?.code).toBe('KV_ERR_LEARNER_NOT_READY');
    expect(promoteRefusal(conf([1, 2, 3], [4]), 2, 1, m)?.code).toBe('KV_ERR_MEMBER_NOT_LEARNER');
    expect(promoteRefusal(conf([1, 2, 3], [4]), 5, 1, m)?.code).toBe('KV_ERR_MEMBER_NOT_FOUND');
  });

  it('refuses a promotion that leaves the started voters short of the new quorum', () => {
    // Voters 2 and 3 never started: promoting 4 gives 2 started of 4 voters, quorum 3.
    expect(promoteRefusal(conf([1, 2, 3], [4]), 4, 1, match([[1, 100], [2, 0], [3, 0], [4, 100]]))?.code).toBe('KV_ERR_NOT_ENOUGH_STARTED');
  });
});

describe('KvStateMachine.memberIdMax', () => {
  const cc = (index: number, type: 'addVoter' | 'addLearner' | 'removeVoter', nodeId: number): Entry =>
    ({ index, term: 1, type: 'confChange', data: encodeConfChange({ type, nodeId }) });

  it('is the highest id any applied conf change named, a removal included, and survives a crash once flushed', async () => {
    const fs = new CrashableMemFileSystem();
    const open = () => KvStateMachine.open('/data/state', { fs, engine: 'js', workerPool: false });
    const sm = await open();
    expect(sm.memberIdMax).toBe(0);
    await sm.apply([cc(1, 'addLearner', 4)]);
    await sm.apply([cc(2, 'addVoter', 4)]);
    await sm.apply([cc(3, 'addLearner', 9)]);
    await sm.apply([cc(4, 'removeVoter', 9)]);
    await sm.apply([cc(5, 'addLearner', 5)]);
    expect(sm.memberIdMax).toBe(9);
    await sm.flush();
    fs.crash();
    const again = await open();
    expect(again.appliedIndex).toBe(5);
    expect(again.memberIdMax).toBe(9);
    await again.close();
  });
});
