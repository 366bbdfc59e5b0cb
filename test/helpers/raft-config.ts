/**
 * A RaftConfig for core tests: deterministic (random() = 0, so every election timeout is
 * electionTicks), heartbeat every tick, no pre-vote or check-quorum, no message or byte limits.
 * Tests override what they exercise.
 */
import type { RaftConfig } from '../../src/raft/config.js';
import type { NodeId } from '../../src/raft/types.js';

export function testRaftConfig(id: NodeId, over: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsgBytes: Number.MAX_SAFE_INTEGER,
    maxInflightMsgs: 256,
    maxInflightBytes: 0,
    readOnlyOption: 'safe',
    ...over,
  };
}
